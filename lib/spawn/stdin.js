'use strict'
// Writing a child's stdin (native path): what a chunk may be, and the
// writer that puts chunks into the pipe the way libuv does.
//
// Each chunk goes into the pipe at once, from the caller's own Buffer, as
// far as the pipe takes it while nothing is queued before it
// (reactorWrite on this thread). The rest is queued on the reactor, which
// reports WRITTEN for it: a small rest as a copy, a large one lent (the
// reactor writes from the caller's Buffer, which the writer holds until
// WRITTEN; the write callback waits too).

const { constants: osConstants } = require('node:os')
const { binding } = require('../native')
const { errnoException, invalidArgType, invalidArgValue } = require('../errors')

/**
 * Stdin writes are acknowledged at once while at most this many bytes are
 * queued on the reactor, so the pipe never waits for a round trip through
 * the event loop; beyond it, a write's callback waits until it is flushed.
 */
const STDIN_WINDOW = 1 << 20
/** A stdin chunk this large is lent to the reactor rather than copied. */
const LEND_MIN = 64 * 1024

const {
  ArrayBufferIsView,
  BufferFrom,
  ObjectPrototypeHasOwnProperty: ObjectHasOwn,
  ReflectApply,
  TypedArrayPrototypeGetSymbolToStringTag: typedArrayTag,
  TypedArrayPrototypeGetByteLength: typedArrayByteLength,
  TypedArrayPrototypeGetBuffer: typedArrayBuffer,
  TypedArrayPrototypeGetByteOffset: typedArrayByteOffset,
  DataViewPrototypeGetByteLength: dataViewByteLength,
  DataViewPrototypeGetBuffer: dataViewBuffer,
  DataViewPrototypeGetByteOffset: dataViewByteOffset,
} = require('../intrinsics')

/**
 * Whether a TypedArray or DataView is backed by a detached buffer, asked of
 * the intrinsic getters (never of the view's own, overridable properties).
 * Costs one getter call for a view with bytes in it: only an empty one can
 * be detached.
 */
function isDetachedView(view) {
  const R = ReflectApply
  if (R(typedArrayTag, view, []) === undefined) {
    try {
      R(dataViewByteLength, view, []) // throws once its buffer is detached
      return false
    } catch {
      return true
    }
  }
  if (R(typedArrayByteLength, view, []) !== 0) return false
  try {
    new Uint8Array(R(typedArrayBuffer, view, []), 0, 0) // eslint-disable-line no-new
    return false
  } catch {
    return true
  }
}

const BufferIsBuffer = Buffer.isBuffer

/**
 * A stdin chunk as Writable takes it, checked the way native code must see
 * it: a TypedArray or DataView becomes a Buffer over the same memory, made
 * from the intrinsic buffer/byteOffset/byteLength (an overridden
 * `byteLength` cannot lie about the bytes to write); a view of a detached
 * buffer, and any other object (a Proxy, revoked or not), is a coded
 * TypeError. Strings, Buffers and primitives go to Writable as they are.
 */
function stdinChunk(chunk) {
  if (chunk === null || (typeof chunk !== 'object' && typeof chunk !== 'function')) return chunk
  if (ArrayBufferIsView(chunk)) {
    if (isDetachedView(chunk)) {
      throw invalidArgValue('chunk', chunk, 'must not be backed by a detached ArrayBuffer')
    }
    const R = ReflectApply
    if (R(typedArrayTag, chunk, []) !== undefined) {
      if (BufferIsBuffer(chunk) && !R(ObjectHasOwn, chunk, ['byteLength']) &&
          !R(ObjectHasOwn, chunk, ['byteOffset']) && !R(ObjectHasOwn, chunk, ['length'])) {
        return chunk // the common case: a Buffer nobody tampered with
      }
      return BufferFrom(R(typedArrayBuffer, chunk, []), R(typedArrayByteOffset, chunk, []),
        R(typedArrayByteLength, chunk, []))
    }
    return BufferFrom(R(dataViewBuffer, chunk, []), R(dataViewByteOffset, chunk, []),
      R(dataViewByteLength, chunk, []))
  }
  throw invalidArgType('chunk', 'of type string or an instance of Buffer, TypedArray or DataView', chunk)
}


/** The FIFO of one child's stdin writes that the reactor has not flushed yet. */
class StdinWriter {
  /** { left, bytes, cb | null, keep } per write call, oldest first. */
  #writes = []
  /** Bytes handed to the reactor and not yet flushed to the pipe. */
  #inflight = 0
  #error = null
  #onPendingChange

  /** `onPendingChange()` runs when writes start or stop being pending. */
  constructor(onPendingChange) {
    this.#onPendingChange = onPendingChange
  }

  /** Whether any write waits for the reactor. */
  get pending() {
    return this.#writes.length > 0
  }

  /** The first write error (then every later write fails with it), or null. */
  get error() {
    return this.#error
  }

  /** Writes `chunks` to child `key` (null: the child cannot take input). */
  write(key, chunks, cb) {
    if (this.#error !== null) {
      cb(this.#error)
      return
    }
    if (key === null) {
      cb(errnoException(osConstants.errno.EPIPE, 'write'))
      return
    }
    let bytes = 0
    let queued = 0
    let keep = null
    for (const chunk of chunks) {
      const lend = chunk.length >= LEND_MIN
      const direct = binding.reactorWrite(key, chunk, lend)
      if (direct < 0) {
        const err = errnoException(-direct, 'write')
        if (this.#error === null) this.#error = err
        cb(err)
        return
      }
      if (direct < chunk.length) {
        queued++
        bytes += chunk.length - direct
        if (lend) (keep ??= []).push(chunk)
      }
    }
    if (queued === 0) {
      cb()
      return
    }
    this.#inflight += bytes
    if (keep === null && this.#inflight <= STDIN_WINDOW) {
      // Copies within the window: acknowledge now so the next write is
      // already queued on the reactor when the pipe drains. A later failure
      // is reported by destroying stdin with the error.
      this.#writes.push({ left: queued, bytes, cb: null, keep })
      cb()
    } else {
      this.#writes.push({ left: queued, bytes, cb, keep })
    }
    if (this.#writes.length === 1) this.#onPendingChange()
  }

  /** The reactor flushed one queued chunk (WRITTEN). */
  written() {
    const head = this.#writes[0]
    if (head !== undefined && --head.left === 0) {
      this.#writes.shift()
      this.#inflight -= head.bytes
      if (this.#writes.length === 0) this.#onPendingChange()
      if (head.cb !== null) head.cb()
    }
  }

  /** The pipe refused a queued chunk (WRITE_FAILED): every pending write fails. */
  failed(errno, stdin) {
    const err = errnoException(errno, 'write')
    if (this.#error === null) this.#error = err
    const pending = this.#writes
    this.#writes = []
    this.#inflight = 0
    this.#onPendingChange()
    let reported = false
    for (const w of pending) {
      if (w.cb !== null) {
        w.cb(err)
        reported = true
      }
    }
    // Every failed write was acknowledged early: fail the stream itself.
    if (!reported && stdin !== null && !stdin.destroyed) stdin.destroy(err)
  }
}

module.exports = { StdinWriter, isDetachedView, stdinChunk }
