'use strict'
// The engine's own functions, captured once, when spindle loads.
//
// Every property of a value handed to us can be overridden: a view's
// `buffer`, `byteOffset` or `byteLength`, its `Symbol.toStringTag`, and user
// code may later replace `Object.prototype.hasOwnProperty` or `Reflect.apply`
// itself. So inputs are examined only through these functions, called with
// `ReflectApply`: the getters read the internal slots (and throw for anything
// that lacks them), never a property of the object. (Named as Node's own
// primordials are: `TypedArrayPrototypeGetBuffer` is the `buffer` getter of
// %TypedArray%.prototype.)

const types = require('node:util').types

const ReflectApply = Reflect.apply
const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor
const ObjectGetPrototypeOf = Object.getPrototypeOf

/** The getter of `proto[key]`; undefined where this Node has none (`detached` before Node 22). */
function getterOf(proto, key) {
  const d = ObjectGetOwnPropertyDescriptor(proto, key)
  return d === undefined ? undefined : d.get
}

const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype)

module.exports = {
  ReflectApply,
  ArrayIsArray: Array.isArray,
  ArrayBufferIsView: ArrayBuffer.isView,
  BufferFrom: Buffer.from,
  FunctionPrototypeToString: Function.prototype.toString,
  NumberIsInteger: Number.isInteger,
  ObjectKeys: Object.keys,
  ObjectPrototypeHasOwnProperty: Object.prototype.hasOwnProperty,
  ObjectPrototypeToString: Object.prototype.toString,
  StringCtor: String,
  Uint8ArrayCtor: Uint8Array,

  // %TypedArray%.prototype[Symbol.toStringTag] gives the internal type name
  // of any TypedArray (from any realm) and undefined for everything else.
  TypedArrayPrototypeGetSymbolToStringTag: getterOf(TypedArrayPrototype, Symbol.toStringTag),
  TypedArrayPrototypeGetBuffer: getterOf(TypedArrayPrototype, 'buffer'),
  TypedArrayPrototypeGetByteOffset: getterOf(TypedArrayPrototype, 'byteOffset'),
  TypedArrayPrototypeGetByteLength: getterOf(TypedArrayPrototype, 'byteLength'),
  TypedArrayPrototypeSet: TypedArrayPrototype.set,
  DataViewPrototypeGetBuffer: getterOf(DataView.prototype, 'buffer'),
  DataViewPrototypeGetByteOffset: getterOf(DataView.prototype, 'byteOffset'),
  DataViewPrototypeGetByteLength: getterOf(DataView.prototype, 'byteLength'),
  ArrayBufferPrototypeGetByteLength: getterOf(ArrayBuffer.prototype, 'byteLength'),
  ArrayBufferPrototypeGetResizable: getterOf(ArrayBuffer.prototype, 'resizable'), // Node 20+
  ArrayBufferPrototypeGetDetached: getterOf(ArrayBuffer.prototype, 'detached'), // Node 22+
  SharedArrayBufferPrototypeGetByteLength: getterOf(SharedArrayBuffer.prototype, 'byteLength'),

  // Node's brand checks (internal slots, any realm; a Proxy is none of these).
  isArrayBuffer: types.isArrayBuffer,
  isDataView: types.isDataView,
  isNativeError: types.isNativeError,
  isSharedArrayBuffer: types.isSharedArrayBuffer,
  isTypedArray: types.isTypedArray,
}
