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

function isNumericTypedArray(value) {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) &&
    Object.prototype.toString.call(value) !== '[object DataView]'
}

function checkNotDetached(view, name) {
  if (binding.isDetached(view)) {
    throw invalidArgValue(name, view, 'must not be backed by a detached ArrayBuffer')
  }
}

function typedArrayArg(value, name) {
  if (!isNumericTypedArray(value)) {
    throw invalidArgType(name, 'an instance of TypedArray', value)
  }
  checkNotDetached(value, name)
  return value
}

/** Turns any accepted hash input into a Uint8Array over the same memory. */
function bytesArg(value, name) {
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (ArrayBuffer.isView(value)) {
    const bytes = value instanceof Uint8Array
      ? value
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    checkNotDetached(bytes, name)
    return bytes
  }
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer ||
      Object.prototype.toString.call(value).endsWith('ArrayBuffer]')) {
    const bytes = new Uint8Array(value)
    checkNotDetached(bytes, name)
    return bytes
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
      if (onAbort !== null) signal.removeEventListener('abort', onAbort)
      hold = null
      if (status === 0) resolve(map(value))
      else if (status === 2) reject(abortError(signal))
      else reject(value)
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
  const views = list.map((item, i) => bytesArg(item, `list[${i}]`))
  const algo = algorithmArg(algorithm)
  const { signal, opts } = commonOptions(options, ['signal', 'encoding'])
  const encoding = opts.encoding === undefined
    ? 'hex'
    : validateOneOf(opts.encoding, 'options.encoding', ENCODINGS)
  const encode = encoder(encoding)
  return runKernel(
    (port, id) => binding.kernelHashMany(port, id, algo, views),
    views,
    signal,
    (digests) => digests.map(encode),
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
