'use strict'
// How task arguments and results cross threads.
//
// * Primitives (undefined, null, booleans, numbers, strings) cross as
//   themselves: no serializer on either side.
// * A top-level binary value (ArrayBuffer, TypedArray, DataView, Buffer)
//   crosses as [typeIndex, bytes]: Rust copies the bytes once into memory that
//   the receiving thread then wraps without another copy.
// * Everything else crosses as v8 structured-clone bytes (a Buffer).
//
// So a binary payload is copied exactly once per direction.
//
// SharedArrayBuffers inside task values are not supported: Node's v8
// serializer cannot carry them (its Deserializer has no way to receive one),
// so such a run() rejects with ERR_SPINDLE_UNCLONEABLE. Share them through
// the Pool's `workerData` instead, which travels by postMessage.

const v8 = require('node:v8')
const { errorWithCode } = require('./errors')
const { deserializeError } = require('./task-errors')

function serialize(value) {
  try {
    return v8.serialize(value)
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

/** Whether an encoded value is a top-level binary payload ([typeIndex, bytes]). */
function isBinary(encoded) {
  return Array.isArray(encoded)
}

/** Encodes a value for the trip; throws what v8.serialize throws. */
function encode(value) {
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
    const [t, bytes] = raw
    if (t === 0) {
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer
        : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
    }
    if (t === 13) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const Ctor = TYPES[t]
    const size = Ctor.BYTES_PER_ELEMENT || 1
    let b = bytes
    if (b.byteOffset % size !== 0) b = new Uint8Array(b) // misaligned: copy
    return new Ctor(b.buffer, b.byteOffset, b.byteLength / size)
  }
  return v8.deserialize(raw)
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
    return ['error', err]
  }
}

/** Detaches transferred ArrayBuffers so the sender loses them, as postMessage does. */
function detach(list) {
  const buffers = list.filter((x) => x instanceof ArrayBuffer || TAG.call(x) === '[object ArrayBuffer]')
  if (buffers.length > 0) structuredClone(buffers, { transfer: buffers })
}

module.exports = { decode, decodeCompletion, detach, encode, isBinary, isPrimitive }
