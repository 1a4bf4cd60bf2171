'use strict'
// sort, stats, hash, hashMany and configure: native kernels on the rayon pool.

const native = require('./native')
const { abortError, invalidArgType, invalidArgValue } = require('./errors')
const {
  validateAbortSignal,
  validateInteger,
  validateKnownOptions,
  validateObject,
  validateOneOf,
  validateString,
} = require('./validate')

const { binding } = native
const ALGORITHMS = ['sha256', 'sha512', 'blake3']
const ENCODINGS = ['hex', 'base64', 'base64url', 'buffer']

// %TypedArray%.prototype[Symbol.toStringTag] reads the internal type name of
// any TypedArray (from any realm) and returns undefined for everything else.
const typedArrayTag = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get
// The element types the native kernels handle (not Float16Array, say).
const KERNEL_TYPES = new Set([
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
  'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
])

function isNumericTypedArray(value) {
  return KERNEL_TYPES.has(typedArrayTag.call(value))
}

/**
 * Whether an ArrayBuffer is detached. Checked before building a view over it:
 * constructing a Uint8Array over a detached buffer, or reading a detached
 * DataView's byteOffset, throws a TypeError without a code.
 */
function isDetachedBuffer(buffer) {
  if (typeof buffer.detached === 'boolean') return buffer.detached // Node 22+
  try {
    new Uint8Array(buffer, 0, 0) // eslint-disable-line no-new
    return false
  } catch {
    return true
  }
}

/**
 * Checks the memory behind an input that a kernel will use in place: not
 * detached, and not a resizable (non-shared) ArrayBuffer, whose pages V8
 * releases when it shrinks: a resize while the kernel runs would crash the
 * process, not merely race. (A growable SharedArrayBuffer never shrinks.)
 */
function checkBuffer(buffer, name, value) {
  if (isDetachedBuffer(buffer)) {
    throw invalidArgValue(name, value, 'must not be backed by a detached ArrayBuffer')
  }
  if (buffer.resizable === true) {
    throw invalidArgValue(name, value, 'must not be backed by a resizable ArrayBuffer')
  }
}

function typedArrayArg(value, name) {
  if (!isNumericTypedArray(value)) {
    throw invalidArgType(name, 'an instance of TypedArray', value)
  }
  checkBuffer(value.buffer, name, value)
  return value
}

/** Turns any accepted hash input into a Uint8Array over the same memory. */
function bytesArg(value, name) {
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (ArrayBuffer.isView(value)) {
    checkBuffer(value.buffer, name, value)
    return value instanceof Uint8Array
      ? value
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  }
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer ||
      Object.prototype.toString.call(value).endsWith('ArrayBuffer]')) {
    checkBuffer(value, name, value)
    return new Uint8Array(value)
  }
  throw invalidArgType(
    name,
    'of type string or an instance of Buffer, TypedArray, DataView or ArrayBuffer',
    value,
  )
}

function algorithmArg(value) {
  validateString(value, 'algorithm')
  return validateOneOf(value.toLowerCase(), 'algorithm', ALGORITHMS)
}

function commonOptions(options, known) {
  const opts = validateObject(options, 'options')
  validateKnownOptions(opts, known)
  return { signal: validateAbortSignal(opts.signal, 'options.signal'), opts }
}

/**
 * Starts kernel `start(port, id)` and returns its promise. `hold` is kept
 * referenced until the kernel is done with it; `map` turns the native value
 * into the resolved value.
 */
function runKernel(start, hold, signal, map) {
  if (signal?.aborted) return Promise.reject(abortError(signal))
  return new Promise((resolve, reject) => {
    let onAbort = null
    const id = native.open((status, value) => {
      native.close(id)
      hold = null
      // Settle before touching the signal, so that nothing can leave the
      // promise pending.
      if (status === 0) resolve(map(value))
      else if (status === 2) reject(abortError(signal))
      else reject(value)
      if (onAbort !== null) signal.removeEventListener('abort', onAbort)
    })
    try {
      start(native.getPort(), id)
    } catch (err) {
      native.close(id)
      reject(err)
      return
    }
    if (signal) {
      onAbort = () => {
        if (native.cancel(id) === native.CANCEL_BEFORE_START) {
          // It never ran and never will: settle now and let go of the input.
          native.close(id)
          hold = null
          reject(abortError(signal))
        }
        // Running: it stops within a bounded time and completes as aborted.
      }
      signal.addEventListener('abort', onAbort, { once: true })
    }
  })
}

const identity = (v) => v

function sort(array, options) {
  typedArrayArg(array, 'array')
  const { signal } = commonOptions(options, ['signal'])
  return runKernel((port, id) => binding.kernelSort(port, id, array), array, signal, () => array)
}

function stats(array, options) {
  typedArrayArg(array, 'array')
  const { signal } = commonOptions(options, ['signal'])
  return runKernel((port, id) => binding.kernelStats(port, id, array), array, signal, identity)
}

function encoder(encoding) {
  if (encoding === 'buffer') return identity
  return (digest) => digest.toString(encoding)
}

function hash(data, algorithm, options) {
  const bytes = bytesArg(data, 'data')
  const algo = algorithmArg(algorithm)
  const { signal, opts } = commonOptions(options, ['signal', 'encoding'])
  const encoding = opts.encoding === undefined
    ? 'hex'
    : validateOneOf(opts.encoding, 'options.encoding', ENCODINGS)
  return runKernel(
    (port, id) => binding.kernelHash(port, id, algo, bytes),
    bytes,
    signal,
    encoder(encoding),
  )
}

function hashMany(list, algorithm, options) {
  if (!Array.isArray(list)) throw invalidArgType('list', 'an instance of Array', list)
  // An index loop, not list.map(): map skips holes, which would reach the
  // native side as undefined and reject asynchronously without a code.
  const views = new Array(list.length)
  for (let i = 0; i < list.length; i++) views[i] = bytesArg(list[i], `list[${i}]`)
  const algo = algorithmArg(algorithm)
  const { signal, opts } = commonOptions(options, ['signal', 'encoding'])
  const encoding = opts.encoding === undefined
    ? 'hex'
    : validateOneOf(opts.encoding, 'options.encoding', ENCODINGS)
  const asHex = encoding === 'hex'
  const encode = encoder(encoding)
  return runKernel(
    (port, id) => binding.kernelHashMany(port, id, algo, views, asHex),
    views,
    signal,
    asHex ? (digests) => digests : (digests) => digests.map(encode),
  )
}

function configure(options) {
  const opts = validateObject(options, 'options', { optional: false })
  validateKnownOptions(opts, ['threads'])
  if (opts.threads !== undefined) {
    binding.configureThreads(validateInteger(opts.threads, 'options.threads', 1, 1024))
  }
  return { threads: binding.kernelThreads() }
}

/** Counters of the completion path and the kernel pool, for tests and benchmarks. */
function internals() {
  return { ...native.counters(), threads: binding.kernelThreads() }
}

/** A kernel that panics in Rust; resolves never, rejects with ERR_SPINDLE_PANIC. */
function triggerPanic() {
  return runKernel((port, id) => binding.kernelPanic(port, id), null, undefined, identity)
}

module.exports = { configure, hash, hashMany, internals, sort, stats, triggerPanic }
