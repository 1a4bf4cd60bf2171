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
// receiver fetches the value by its key (lib/pool/index.js, lib/pool/worker.js).
// Where no port is offered (ctx.run, ctx.postMessage) such a value rejects
// with ERR_SPINDLE_UNCLONEABLE.

const v8 = require('node:v8')
const { errorWithCode, invalidArgType, invalidArgValue, outOfRange } = require('../errors')

// A view's type, buffer, offset and length are read through the intrinsic
// getters (lib/intrinsics.js), never through the value's own properties,
// which may lie (`Object.defineProperty(view, 'byteOffset', ...)`).
const {
  ReflectApply,
  ObjectPrototypeToString: TAG,
  isArrayBuffer,
  isDataView,
  isSharedArrayBuffer,
  TypedArrayPrototypeGetSymbolToStringTag: TA_TAG,
  TypedArrayPrototypeGetBuffer: TA_BUFFER,
  TypedArrayPrototypeGetByteOffset: TA_OFFSET,
  TypedArrayPrototypeGetByteLength: TA_LENGTH,
  DataViewPrototypeGetBuffer: DV_BUFFER,
  DataViewPrototypeGetByteOffset: DV_OFFSET,
  DataViewPrototypeGetByteLength: DV_LENGTH,
  ArrayBufferPrototypeGetResizable: AB_RESIZABLE,
} = require('../intrinsics')

// The tags in front of an array-encoded value (src/protocol.rs, ValueTag):
// a type index for [tag, bytes]; SIDE for [SIDE, serialized, ...views];
// SHARED for [SHARED, key], a value that travels by postMessage (it holds a
// SharedArrayBuffer).
const { ValueTag } = require('../../binding.js')
const { Side: SIDE, Shared: SHARED } = ValueTag
const SIDE_MIN = 64 * 1024

/** Thrown by the encoders when the value holds a SharedArrayBuffer. */
class SharedFound extends Error {}
const INLINE = 0
const BESIDE = 1

/** Writes every ArrayBufferView itself: inline when small, else beside the bytes. */
class SideSerializer extends v8.DefaultSerializer {
  constructor(sideMin = SIDE_MIN) {
    super()
    this.side = []
    this.sideMin = sideMin
  }

  _writeHostObject(view) {
    const t = typeIndexOf(view)
    if (t <= 0) throw new this._getDataCloneError(`Unserializable host object: ${TAG.call(view)}`)
    const [buffer, offset, length] = viewParts(view)
    if (isSharedArrayBuffer(buffer)) throw new SharedFound()
    // Self-contained (thrown values): a Buffer arrives as the Uint8Array postMessage gives.
    this.writeUint32(t === ValueTag.Buffer && this.sideMin === Infinity ? ValueTag.Uint8Array : t)
    const bytes = new Uint8Array(buffer, offset, length)
    if (length >= this.sideMin) {
      this.writeUint32(BESIDE)
      this.writeUint32(this.side.length)
      this.side.push(bytes)
    } else {
      this.writeUint32(INLINE)
      this.writeUint32(length)
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

/** The constructor of each binary ValueTag, indexed by tag. */
const TYPES = []
for (const [name, tag] of Object.entries(ValueTag)) {
  if (tag >= 0) TYPES[tag] = name === 'Buffer' ? Buffer : globalThis[name]
}
/** [buffer, byteOffset, byteLength] of a real TypedArray or DataView (throws on a detached one). */
function viewParts(view) {
  if (isDataView(view)) {
    return [ReflectApply(DV_BUFFER, view, []), ReflectApply(DV_OFFSET, view, []), ReflectApply(DV_LENGTH, view, [])]
  }
  return [ReflectApply(TA_BUFFER, view, []), ReflectApply(TA_OFFSET, view, []), ReflectApply(TA_LENGTH, view, [])]
}

/** The bytes a view covers, as a Uint8Array over the same memory. */
function bytesOf(view) {
  const [buffer, offset, length] = viewParts(view)
  return new Uint8Array(buffer, offset, length)
}

function typeIndexOf(value) {
  if (value === null || typeof value !== 'object') return -1
  if (isArrayBuffer(value)) return ValueTag.ArrayBuffer
  if (isDataView(value)) return ValueTag.DataView
  const name = ReflectApply(TA_TAG, value, []) // undefined unless a real TypedArray
  if (name === undefined) return -1
  if (name === 'Uint8Array' && Buffer.isBuffer(value)) return ValueTag.Buffer
  return ValueTag[name] ?? -1
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
  if (t === ValueTag.ArrayBuffer) {
    // A resizable ArrayBuffer keeps its maxByteLength only through the serializer.
    if (AB_RESIZABLE !== undefined && ReflectApply(AB_RESIZABLE, value, [])) return serialize(value)
    return [ValueTag.ArrayBuffer, new Uint8Array(value)]
  }
  if (t > 0) {
    const bytes = bytesOf(value)
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
  if (t === ValueTag.ArrayBuffer) {
    return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes.buffer
      : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  }
  if (t === ValueTag.Buffer) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const Ctor = TYPES[t]
  if (Ctor === undefined) throw new TypeError(`spindle: unknown binary type ${t}`)
  const size = Ctor.BYTES_PER_ELEMENT || 1
  let b = bytes
  if (b.byteOffset % size !== 0) b = new Uint8Array(b) // misaligned: copy
  return new Ctor(b.buffer, b.byteOffset, b.byteLength / size)
}

/**
 * Checks a run() transferList before the task is queued (a copy, read once):
 * an Array whose entries are transferable, none twice, no ArrayBuffer detached.
 */
function checkTransferList(value) {
  if (!Array.isArray(value)) throw invalidArgType('options.transferList', 'an instance of Array', value)
  const length = value.length // read once; a lying or huge length is refused, not iterated
  if (!(length <= 65536)) throw outOfRange('options.transferList.length', '<= 65536', length)
  const list = new Array(length)
  for (let i = 0; i < length; i++) list[i] = value[i]
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

/** `value` as self-contained bytes (every view inline): for thrown values (lib/pool/task-errors.js). */
function serializeInline(value) {
  const ser = new SideSerializer(Infinity)
  ser.writeHeader()
  ser.writeValue(value)
  return ser.releaseBuffer()
}

/** Reads what serializeInline wrote. */
function deserializeInline(bytes) {
  const der = new SideDeserializer(bytes, [])
  der.readHeader()
  return der.readValue()
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

module.exports = { deserializeInline, serializeInline, sharedKey, sharedMarker, checkTransferList, decode, detach, encode, isBinary, isPrimitive }
