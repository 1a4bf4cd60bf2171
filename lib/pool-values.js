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
// SharedArrayBuffers inside task values are not supported: Node's v8
// serializer cannot carry them (its Deserializer has no way to receive one),
// so such a run() rejects with ERR_SPINDLE_UNCLONEABLE. Share them through
// the Pool's `workerData` instead, which travels by postMessage.

const v8 = require('node:v8')
const { errorWithCode, invalidArgType, invalidArgValue } = require('./errors')
const { deserializeError } = require('./task-errors')

/** The tag of [SIDE, serialized, ...views] (a type index never used for a binary value). */
const SIDE = -1
const SIDE_MIN = 64 * 1024
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
    this.writeUint32(t)
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
    if (view.byteLength >= SIDE_MIN) {
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
    if (/SharedArrayBuffer/.test(String(err?.message))) {
      throw errorWithCode(
        'A SharedArrayBuffer cannot be passed to or returned from a pool task; ' +
          "share it through the Pool's workerData option instead",
        'ERR_SPINDLE_UNCLONEABLE',
        { cause: err },
      )
    }
    throw err
  }
}

const TYPES = [
  ArrayBuffer, Uint8Array, Int8Array, Uint8ClampedArray, Int16Array, Uint16Array,
  Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  DataView, Buffer,
]
const TAG = Object.prototype.toString

function typeIndexOf(value) {
  if (Buffer.isBuffer(value)) return 13
  if (value instanceof ArrayBuffer || TAG.call(value) === '[object ArrayBuffer]') return 0
  if (!ArrayBuffer.isView(value)) return -1
  const name = TAG.call(value).slice(8, -1)
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
function encode(value) {
  try {
    return encodeUnchecked(value)
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
  if (t === 0) return [0, new Uint8Array(value)]
  if (t > 0) return [t, new Uint8Array(value.buffer, value.byteOffset, value.byteLength)]
  return serialize(value)
}

/** Decodes what `encode` produced on the other side. */
function decode(raw) {
  if (raw === null || typeof raw !== 'object') return raw
  if (Array.isArray(raw)) {
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
  if (!Array.isArray(value)) throw invalidArgType('options.transferList', 'an instance of Array', value)
  const list = Array.from(value)
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

module.exports = { checkTransferList, decode, decodeCompletion, detach, encode, isBinary, isPrimitive }
