'use strict'
// How task arguments and results cross threads.
//
// * Primitives (undefined, null, booleans, numbers, strings) cross as
//   themselves: no serializer on either side.
// * A top-level binary value (ArrayBuffer, TypedArray, DataView, Buffer)
//   crosses as [typeIndex, bytes]: Rust copies the bytes once into memory that
//   the receiving thread then wraps without another copy.
// * Everything else crosses as v8 structured-clone bytes (a Buffer). A
//   TypedArray, Buffer or DataView of SIDE_MIN bytes or more inside such a
//   value travels *beside* those bytes: the serializer writes only its type
//   and an index, and the value crosses as [SIDE, serialized, view, view...];
//   Rust copies each view once and the receiver wraps that memory in place.
//   (Node's own serializer would copy it into the serialized bytes, which
//   Rust then copies again.) Smaller views stay inline.
//
// So a binary payload is copied exactly once per direction, at the top level
// or nested; `stats().bytesCopied` counts it.
//
// SharedArrayBuffers (bare, or under a view, at the top level or nested)
// cannot travel through Rust: a value that contains one takes a slower path.
// `encode(value, viaPort)` then calls `viaPort(value)`, which sends the whole
// value by postMessage (which shares SharedArrayBuffers, as Worker does) and
// returns a small marker [SHARED, key] that travels through Rust instead; the
// receiver fetches the value by its key (lib/pool.js, lib/pool-worker.js).
// Where no port is offered (ctx.run, ctx.postMessage) such a value rejects
// with ERR_SPINDLE_UNCLONEABLE.

const v8 = require('node:v8')
const { errorWithCode, invalidArgType, invalidArgValue } = require('./errors')
const { deserializeError } = require('./task-errors')
const { readArray, viewBytes } = require('./options')

/** The tag of [SIDE, serialized, ...views] (a type index never used for a binary value). */
const SIDE = -1
const SIDE_MIN = 64 * 1024
/** The tag of [SHARED, key]: a value that travels by postMessage (it holds a SharedArrayBuffer). */
const SHARED = -2
const { isSharedArrayBuffer } = require('node:util').types

/** Thrown by the encoders when the value holds a SharedArrayBuffer. */
class SharedFound extends Error {}
const INLINE = 0
const BESIDE = 1

/** Writes every ArrayBufferView itself: inline when small, else beside the bytes. */
class SideSerializer extends v8.DefaultSerializer {
  constructor() {
    super()
    this.side = []
  }

  _writeHostObject(view) {
    const t = typeIndexOf(view)
    if (t <= 0) throw new this._getDataCloneError(`Unserializable host object: ${TAG.call(view)}`)
    const bytes = viewBytes(view, 'value') // the view's own memory, whatever its properties say
    if (isSharedArrayBuffer(bytes.buffer)) throw new SharedFound()
    this.writeUint32(t)
    if (bytes.byteLength >= SIDE_MIN) {
      this.writeUint32(BESIDE)
      this.writeUint32(this.side.length)
      this.side.push(bytes)
    } else {
      this.writeUint32(INLINE)
      this.writeUint32(view.byteLength)
      this.writeRawBytes(bytes)
    }
  }
}

SideSerializer.prototype._getSharedArrayBufferId = function () {
  throw new SharedFound()
}

/** Reads what SideSerializer wrote; `side` holds the views that travelled beside. */
class SideDeserializer extends v8.DefaultDeserializer {
  constructor(buffer, side) {
    super(buffer)
    this.side = side
  }

  _readHostObject() {
    const t = this.readUint32()
    if (this.readUint32() === BESIDE) return viewOf(t, this.side[this.readUint32()])
    return viewOf(t, this.readRawBytes(this.readUint32()))
  }
}

function serialize(value) {
  try {
    const ser = new SideSerializer()
    ser.writeHeader()
    ser.writeValue(value)
    const bytes = ser.releaseBuffer()
    return ser.side.length === 0 ? bytes : [SIDE, bytes, ...ser.side]
  } catch (err) {
    if (err instanceof SharedFound || /SharedArrayBuffer/.test(String(err?.message))) throw new SharedFound()
    throw err
  }
}

const TYPES = [
  ArrayBuffer, Uint8Array, Int8Array, Uint8ClampedArray, Int16Array, Uint16Array,
  Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  DataView, Buffer,
]
const TAG = Object.prototype.toString

// The type from the value's internal slots: an own Symbol.toStringTag may lie.
const TA_TAG = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get
const { isArrayBuffer: isArrayBufferSlot, isDataView } = require('node:util').types

const AB_RESIZABLE = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get ?? (() => false)

function typeIndexOf(value) {
  if (isArrayBufferSlot(value)) return 0
  if (!ArrayBuffer.isView(value)) return -1
  if (Buffer.isBuffer(value)) return 13
  if (isDataView(value)) return 12
  const name = Reflect.apply(TA_TAG, value, [])
  const i = TYPES.findIndex((t) => t.name === name)
  return i
}

function isPrimitive(v) {
  const t = typeof v
  if (t === 'string') return v.isWellFormed() // lone surrogates need the serializer
  return v === null || (t !== 'object' && t !== 'function' && t !== 'symbol' && t !== 'bigint')
}

/** Whether an encoded value carries the sender's binary memory ([typeIndex, bytes] or [SIDE, …]). */
function isBinary(encoded) {
  return Array.isArray(encoded)
}

/**
 * Encodes a value for the trip. Anything that cannot make it (a function, a
 * Symbol, a Proxy, a WeakMap, a detached buffer, nesting too deep for the
 * serializer) throws ERR_SPINDLE_UNCLONEABLE with the engine's error as `cause`.
 */
function encode(value, viaPort) {
  try {
    try {
      return encodeUnchecked(value)
    } catch (err) {
      if (!(err instanceof SharedFound)) throw err
      if (viaPort === undefined) {
        throw errorWithCode(
          'A SharedArrayBuffer can be passed to and returned from pool.run() tasks, ' +
            'not through ctx.run() or ctx.postMessage()',
          'ERR_SPINDLE_UNCLONEABLE',
        )
      }
      return viaPort(value)
    }
  } catch (err) {
    if (err?.code === 'ERR_SPINDLE_UNCLONEABLE') throw err
    let detail
    try {
      detail = String(err?.message)
    } catch {
      detail = 'unknown'
    }
    throw errorWithCode(`The value could not be cloned: ${detail}`, 'ERR_SPINDLE_UNCLONEABLE', { cause: err })
  }
}

function encodeUnchecked(value) {
  if (isPrimitive(value)) return value
  const t = typeIndexOf(value)
  // A resizable ArrayBuffer stays resizable, as structuredClone keeps it: the serializer writes it.
  if (t === 0) return Reflect.apply(AB_RESIZABLE, value, []) ? serialize(value) : [0, new Uint8Array(value)]
  if (t > 0) {
    const bytes = viewBytes(value, 'value') // the view's own memory, whatever its properties say
    if (isSharedArrayBuffer(bytes.buffer)) throw new SharedFound()
    return [t, bytes]
  }
  return serialize(value)
}

/** Decodes what `encode` produced on the other side. */
function decode(raw) {
  if (raw === null || typeof raw !== 'object') return raw
  if (Array.isArray(raw)) {
    if (raw[0] === SHARED) throw new TypeError('spindle: a shared value must be fetched by its key')
    if (raw[0] === SIDE) {
      const der = new SideDeserializer(raw[1], raw.slice(2))
      der.readHeader()
      return der.readValue()
    }
    return viewOf(raw[0], raw[1])
  }
  // Written by SideSerializer, whose small views are inline (not v8's layout).
  const der = new SideDeserializer(raw, [])
  der.readHeader()
  return der.readValue()
}

/** A value of type TYPES[t] over `bytes` (a Uint8Array or Buffer), without a copy when aligned. */
function viewOf(t, bytes) {
  if (t === 0) {
    return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes.buffer
      : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  }
  if (t === 13) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const Ctor = TYPES[t]
  if (Ctor === undefined) throw new TypeError(`spindle: unknown binary type ${t}`)
  const size = Ctor.BYTES_PER_ELEMENT || 1
  let b = bytes
  if (b.byteOffset % size !== 0) b = new Uint8Array(b) // misaligned: copy
  return new Ctor(b.buffer, b.byteOffset, b.byteLength / size)
}

/**
 * Interprets one completion of a task: 'ok' with the decoded result, 'error'
 * with the Error (rebuilt when the task threw), or 'message' with a progress
 * message. (status: 0 ok, 1 error, 2 aborted, 3 the task threw, 4 message)
 */
function decodeCompletion(status, value) {
  try {
    if (status === 0) return ['ok', decode(value)]
    if (status === 4) return ['message', decode(value)]
    if (status === 3) return ['error', deserializeError(value)]
    return ['error', value]
  } catch (err) {
    if (err?.code !== undefined) return ['error', err]
    return ['error', errorWithCode('A task value could not be deserialized', 'ERR_SPINDLE_UNCLONEABLE', { cause: err })]
  }
}

function isArrayBuffer(x) {
  return require('node:util').types.isArrayBuffer(x)
}

/**
 * Checks a run() transferList before the task is queued (a copy, read once):
 * an Array whose entries are transferable, none twice, no ArrayBuffer detached.
 */
function checkTransferList(value) {
  // Read defensively (lib/options.js): a revoked Proxy, a length that lies or is huge.
  const list = readArray(value, 'options.transferList')
  if (list === null) throw invalidArgType('options.transferList', 'an instance of Array', value)
  const seen = new Set()
  for (let i = 0; i < list.length; i++) {
    const x = list[i]
    if (x === null || (typeof x !== 'object' && typeof x !== 'function')) {
      throw invalidArgType(`options.transferList[${i}]`, 'a transferable object', x)
    }
    if (seen.has(x)) throw invalidArgValue(`options.transferList[${i}]`, x, 'appears twice in the transfer list')
    seen.add(x)
    if (isArrayBuffer(x)) {
      try {
        new Uint8Array(x) // eslint-disable-line no-new
      } catch {
        throw invalidArgValue(`options.transferList[${i}]`, x, 'is a detached ArrayBuffer')
      }
    }
  }
  return list
}

/** Detaches transferred ArrayBuffers so the sender loses them, as postMessage does. */
function detach(list) {
  const buffers = list.filter(isArrayBuffer)
  if (buffers.length > 0) structuredClone(buffers, { transfer: buffers })
}

/** The marker that travels through Rust in place of a value sent by postMessage. */
function sharedMarker(key) {
  return [SHARED, Buffer.from(key)]
}

/** The key of a marker, or null if `raw` is not one. */
function sharedKey(raw) {
  if (!Array.isArray(raw) || raw[0] !== SHARED) return null
  const b = raw[1]
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString()
}

module.exports = { sharedKey, sharedMarker, checkTransferList, decode, decodeCompletion, detach, encode, isBinary, isPrimitive }
