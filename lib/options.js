'use strict'
// Reading what JavaScript hands us. Options objects are user-controlled: a
// property may be inherited (prototype pollution: `Object.prototype.shell =
// true` set by some other code), a getter may answer differently on each
// read, and the object may be a (revoked) Proxy. So every options object is
// read exactly once, own properties only, into a null-prototype snapshot, and
// the rest of the code reads the snapshot. The intrinsics used here are
// captured when spindle loads (lib/intrinsics.js), so later changes to
// `Object.prototype.hasOwnProperty` or `Reflect` do not reach us.

const { invalidArgValue, isEngineError, outOfRange, unreadable } = require('./errors')

const {
  ReflectApply,
  ArrayIsArray,
  NumberIsInteger,
  ObjectPrototypeHasOwnProperty,
  StringCtor,
  Uint8ArrayCtor,
  isDataView,
  isTypedArray,
  TypedArrayPrototypeGetBuffer: TA_BUFFER,
  TypedArrayPrototypeGetByteOffset: TA_OFFSET,
  TypedArrayPrototypeGetByteLength: TA_LENGTH,
  DataViewPrototypeGetBuffer: DV_BUFFER,
  DataViewPrototypeGetByteOffset: DV_OFFSET,
  DataViewPrototypeGetByteLength: DV_LENGTH,
} = require('./intrinsics')

/** The most elements an array option may claim (a Proxy's `length` may lie: 2^32 - 1). */
const MAX_ARRAY_LENGTH = 1 << 20

/**
 * Whether `obj` has `key` as an own property. A revoked Proxy (or a Proxy
 * whose trap throws a TypeError of the engine's) becomes ERR_INVALID_ARG_VALUE
 * with the engine's error as `cause`; an error a user trap throws on purpose
 * propagates unchanged, as it does from Node's own APIs.
 */
function hasOwn(obj, key, name = 'options') {
  try {
    return ReflectApply(ObjectPrototypeHasOwnProperty, obj, [key])
  } catch (cause) {
    throw unreadable(name, obj, cause)
  }
}

/** `obj[key]` if `key` is an own property of `obj`, else `undefined`. */
function getOwn(obj, key, name = 'options') {
  if (obj === undefined || obj === null) return undefined
  if (!hasOwn(obj, key, name)) return undefined
  try {
    return obj[key]
  } catch (cause) {
    throw unreadable(`${name}.${String(key)}`, obj, cause)
  }
}

/**
 * A null-prototype snapshot of the own properties `keys` of `obj` (each read
 * once; absent ones are left out). `obj` must already be known to be an
 * object (or undefined/null, which give an empty snapshot).
 */
function snapshot(obj, keys, name = 'options') {
  const out = { __proto__: null }
  if (obj === undefined || obj === null) return out
  for (const key of keys) {
    if (hasOwn(obj, key, name)) {
      try {
        out[key] = obj[key]
      } catch (cause) {
        throw unreadable(`${name}.${String(key)}`, obj, cause)
      }
    }
  }
  return out
}

/** `Array.isArray(value)`; a revoked Proxy (whose IsArray throws) is ERR_INVALID_ARG_VALUE. */
function isArray(value, name) {
  try {
    return ArrayIsArray(value)
  } catch (cause) {
    throw unreadable(name, value, cause)
  }
}

/**
 * The `length` of an array, read once, own property: a non-negative integer
 * up to `max`, else ERR_OUT_OF_RANGE (a Proxy over an array may answer any
 * length, and a loop up to it would spin).
 */
function arrayLength(array, name, max = MAX_ARRAY_LENGTH) {
  const length = getOwn(array, 'length', name)
  if (typeof length !== 'number' || !NumberIsInteger(length) || length < 0 || length > max) {
    throw outOfRange(`${name}.length`, `an integer >= 0 && <= ${max}`, length)
  }
  return length
}

/**
 * A plain copy of an array, read defensively: `Array.isArray` on the value
 * itself, its length read once and bounded, each element read once, own
 * properties only (a hole or an inherited index reads as undefined).
 * Returns null when `value` is not an array.
 */
function readArray(value, name, max = MAX_ARRAY_LENGTH) {
  if (!isArray(value, name)) return null
  const length = arrayLength(value, name, max)
  const out = []
  for (let i = 0; i < length; i++) out.push(getOwn(value, i, name))
  return out
}

/**
 * `String(value)`, as Node turns argv entries into strings, once. A value
 * the engine cannot convert (a revoked Proxy, a null-prototype object, an
 * array nested too deep: Maximum call stack size exceeded, an array holding
 * a view over a detached buffer) is ERR_INVALID_ARG_VALUE with the engine's
 * error as `cause`; what a user's own toString throws passes through.
 */
function stringOf(value, name) {
  if (typeof value === 'string') return value
  try {
    return StringCtor(value)
  } catch (cause) {
    if (isEngineError(cause, 'TypeError', 'RangeError')) {
      const err = invalidArgValue(name, value, 'cannot be converted to a string')
      err.cause = cause
      throw err
    }
    throw cause
  }
}

/**
 * A fresh Uint8Array over the memory of a TypedArray, Buffer or DataView, made
 * from the view's internal slots through the engine's own getters: its own
 * `buffer`, `byteOffset` or `byteLength` properties (which may lie) are never
 * read, and a Proxy is not a view. A view over a detached buffer is
 * ERR_INVALID_ARG_VALUE. Returns null when `value` is not a view.
 */
function viewBytes(value, name) {
  const typed = isTypedArray(value)
  if (!typed && !isDataView(value)) return null
  try {
    return typed
      ? new Uint8ArrayCtor(ReflectApply(TA_BUFFER, value, []), ReflectApply(TA_OFFSET, value, []), ReflectApply(TA_LENGTH, value, []))
      : new Uint8ArrayCtor(ReflectApply(DV_BUFFER, value, []), ReflectApply(DV_OFFSET, value, []), ReflectApply(DV_LENGTH, value, []))
  } catch (cause) {
    const err = invalidArgValue(name, value, 'is a view of a detached ArrayBuffer')
    err.cause = cause
    throw err
  }
}

module.exports = { MAX_ARRAY_LENGTH, arrayLength, getOwn, hasOwn, isArray, readArray, snapshot, stringOf, viewBytes }
