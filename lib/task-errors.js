'use strict'
// How a task's exception crosses threads: v8's structured clone keeps an
// Error's message and stack but drops `code` and other own properties, so the
// worker sends a plain record and the caller rebuilds an Error from it.

const v8 = require('node:v8')
const { isNativeError, isDataView } = require('node:util').types

// Views are written from their internal slots, through intrinsics captured
// here: Node's own serializer reads a view's `buffer`, `byteOffset` and
// `byteLength` properties, which a thrown view may redefine (own properties
// that lie) and so send other memory, or none.
const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype)
const getter = (proto, key) => Object.getOwnPropertyDescriptor(proto, key).get
const TA_TAG = getter(TypedArrayProto, Symbol.toStringTag)
const TA_BUFFER = getter(TypedArrayProto, 'buffer')
const TA_OFFSET = getter(TypedArrayProto, 'byteOffset')
const TA_LENGTH = getter(TypedArrayProto, 'byteLength')
const DV_BUFFER = getter(DataView.prototype, 'buffer')
const DV_OFFSET = getter(DataView.prototype, 'byteOffset')
const DV_LENGTH = getter(DataView.prototype, 'byteLength')
const ReflectApply = Reflect.apply
const VIEWS = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView,
]
// A Buffer is a Uint8Array here, as structuredClone and postMessage give it.
const VIEW_INDEX = new Map(VIEWS.slice(0, 11).map((C, i) => [C.name, i]))

class ThrownSerializer extends v8.DefaultSerializer {
  _writeHostObject(view) {
    let index, buffer, offset, length
    if (isDataView(view)) {
      index = 11
      buffer = ReflectApply(DV_BUFFER, view, [])
      offset = ReflectApply(DV_OFFSET, view, []) // throws for a detached buffer
      length = ReflectApply(DV_LENGTH, view, [])
    } else {
      const tag = ReflectApply(TA_TAG, view, [])
      index = VIEW_INDEX.get(tag)
      if (index === undefined) throw new Error(`Unserializable host object: ${String(tag)}`)
      buffer = ReflectApply(TA_BUFFER, view, [])
      offset = ReflectApply(TA_OFFSET, view, [])
      length = ReflectApply(TA_LENGTH, view, [])
    }
    // A detached buffer cannot be sent (as structuredClone refuses it): this throws.
    const bytes = new Uint8Array(buffer, offset, length)
    this.writeUint32(index)
    this.writeUint32(length)
    this.writeRawBytes(bytes)
    return true
  }
}

class ThrownDeserializer extends v8.DefaultDeserializer {
  _readHostObject() {
    const Ctor = VIEWS[this.readUint32()]
    if (Ctor === undefined) throw new Error('spindle: unknown view type in a thrown value')
    const length = this.readUint32()
    const raw = this.readRawBytes(length)
    const bytes = Buffer.from(raw) // a copy: aligned, and not the message's memory
    const size = Ctor.BYTES_PER_ELEMENT || 1
    return new Ctor(bytes.buffer, bytes.byteOffset, length / size)
  }
}

function serialize(value) {
  const ser = new ThrownSerializer()
  ser.writeHeader()
  ser.writeValue(value)
  return ser.releaseBuffer()
}

function deserialize(bytes) {
  const der = new ThrownDeserializer(bytes)
  der.readHeader()
  return der.readValue()
}

const BUILTIN = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError }

function toRecord(err, depth = 0) {
  if (!(err instanceof Error) && !isNativeError(err)) {
    return { thrown: err }
  }
  const record = {
    name: err.name,
    message: err.message,
    stack: err.stack,
    props: {},
  }
  for (const key of Object.keys(err)) {
    if (key === 'cause') continue
    try {
      serialize(err[key])
      record.props[key] = err[key]
    } catch {
      record.props[key] = String(err[key])
    }
  }
  if ('cause' in err && depth < 8) {
    // A cause that cannot travel does not cost the error its own code.
    const cause = err.cause
    try {
      record.cause = toRecord(cause, depth + 1)
      serialize(record.cause)
    } catch {
      record.cause = uncloneableRecord(cause)
    }
  }
  return record
}

/** The type of a thrown value, for a message; never throws. */
function describeType(value) {
  if (value === null) return 'null'
  const type = typeof value
  if (type === 'function') {
    let source = ''
    try {
      source = Function.prototype.toString.call(value)
    } catch {}
    return /^class\b/.test(source) ? 'class' : 'function'
  }
  if (type !== 'object') return type
  let tag
  try {
    tag = Object.prototype.toString.call(value).slice(8, -1)
  } catch {
    return 'revoked Proxy'
  }
  let thenable = false
  try {
    thenable = typeof value.then === 'function'
  } catch {}
  return thenable ? `${tag}, thenable` : tag
}

/** The string form of a thrown value, when it has a cheap one; never throws. */
function stringForm(value) {
  try {
    const text = typeof value === 'symbol' ? value.toString() : String(value)
    return typeof text === 'string' ? (text.length > 200 ? `${text.slice(0, 200)}...` : text) : undefined
  } catch {
    return undefined
  }
}

/** An ERR_SPINDLE_UNCLONEABLE record that says what the task threw. */
function uncloneableRecord(value) {
  const type = describeType(value)
  const text = stringForm(value)
  return {
    name: 'Error',
    message: `The task threw a value that could not be cloned (${type})` + (text === undefined ? '' : `: ${text}`),
    stack: undefined,
    props: { code: 'ERR_SPINDLE_UNCLONEABLE' },
  }
}

/**
 * Serializes a thrown value for the trip back to the caller. Never throws:
 * a value that cannot be sent faithfully (a function, a class, a Symbol, a
 * Proxy, a detached buffer, an object holding one of them) becomes an
 * ERR_SPINDLE_UNCLONEABLE error whose message names the value's type and,
 * when it has one, its string form; only its own task fails.
 */
function serializeError(err) {
  try {
    return serialize(toRecord(err))
  } catch {}
  try {
    return serialize(uncloneableRecord(err))
  } catch {}
  return serialize({
    name: 'Error',
    message: 'The task threw a value that could neither be cloned nor converted to a string',
    stack: undefined,
    props: { code: 'ERR_SPINDLE_UNCLONEABLE' },
  })
}

function fromRecord(record) {
  if ('thrown' in record) return record.thrown
  const Ctor = BUILTIN[record.name] || Error
  const err = new Ctor(record.message)
  if (!BUILTIN[record.name]) {
    Object.defineProperty(err, 'name', { value: record.name, writable: true, configurable: true })
  }
  if (record.stack !== undefined) err.stack = record.stack
  if (record.cause !== undefined) {
    Object.defineProperty(err, 'cause', {
      value: fromRecord(record.cause), writable: true, configurable: true,
    })
  }
  Object.assign(err, record.props)
  return err
}

/** Rebuilds the Error a task threw. */
function deserializeError(bytes) {
  return fromRecord(deserialize(bytes))
}

module.exports = { deserializeError, serializeError }
