'use strict'
// sort, stats, hash, hashMany and configure: native kernels on the rayon pool.

const native = require('./native')
const { abortError, errorWithCode, invalidArgType, invalidArgValue } = require('./errors')
const {
  validateAbortSignal,
  validateInteger,
  validateOneOf,
  validateString,
} = require('./validate')
const { snapshot } = require('./options')

const { binding } = native
const { CompletionStatus } = binding
const ALGORITHMS = ['sha256', 'sha512', 'blake3']
const ENCODINGS = ['hex', 'base64', 'base64url', 'buffer']

// ─── What the input really is ────────────────────────────────────────────
// Every property of an input can be overridden: `Object.defineProperty(view,
// 'buffer', ...)`, a lying `byteLength`, a `Symbol.toStringTag` getter. So
// inputs are examined only through the engine's own getters, captured when
// spindle loads (lib/intrinsics.js) and called with Reflect.apply: they read
// the internal slots (and throw for anything that lacks them), never a
// property of the object. The native side then takes the pointer and length
// from Node-API (napi_get_typedarray_info), not from JavaScript.

const {
  ReflectApply,
  ObjectKeys,
  ArrayIsArray,
  ArrayBufferIsView,
  Uint8ArrayCtor,
  BufferFrom,
  TypedArrayPrototypeGetSymbolToStringTag: typedArrayTag,
  TypedArrayPrototypeGetBuffer: typedArrayBuffer,
  TypedArrayPrototypeGetByteOffset: typedArrayByteOffset,
  TypedArrayPrototypeGetByteLength: typedArrayByteLength,
  DataViewPrototypeGetBuffer: dataViewBuffer,
  DataViewPrototypeGetByteOffset: dataViewByteOffset,
  DataViewPrototypeGetByteLength: dataViewByteLength,
  ArrayBufferPrototypeGetByteLength: arrayBufferByteLength,
  ArrayBufferPrototypeGetResizable: arrayBufferResizable,
  ArrayBufferPrototypeGetDetached: arrayBufferDetached,
  SharedArrayBufferPrototypeGetByteLength: sharedByteLength,
  TypedArrayPrototypeSet: typedArraySet,
} = require('./intrinsics')

const call = (fn, self) => ReflectApply(fn, self, [])
// Inputs of at most this many bytes are copied when the kernel is called.
const COPY_MAX = binding.kernelCopyMax()

/** Whether `fn` (a brand-checking getter) accepts `value`. */
function brand(fn, value) {
  try {
    call(fn, value)
    return true
  } catch {
    return false
  }
}

// The element types the native kernels handle (not Float16Array, say).
const KERNEL_TYPES = new Set([
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
  'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
])

function isNumericTypedArray(value) {
  return KERNEL_TYPES.has(call(typedArrayTag, value))
}

/** Whether an ArrayBuffer (known to be one, not shared) is detached. */
function isDetached(buffer) {
  if (arrayBufferDetached !== undefined) return call(arrayBufferDetached, buffer)
  try {
    new Uint8ArrayCtor(buffer, 0, 0) // eslint-disable-line no-new
    return false
  } catch {
    return true
  }
}

/**
 * Checks the real memory behind an input that a kernel will use: not
 * detached, and not a resizable (non-shared) ArrayBuffer, whose pages V8
 * releases when it shrinks (a resize while the kernel runs would crash the
 * process). A growable SharedArrayBuffer is accepted: it never shrinks and
 * its memory never moves.
 */
function checkBuffer(buffer, name, value) {
  if (brand(sharedByteLength, buffer)) return
  if (isDetached(buffer)) {
    throw invalidArgValue(name, value, 'must not be backed by a detached ArrayBuffer')
  }
  if (arrayBufferResizable !== undefined && call(arrayBufferResizable, buffer) === true) {
    throw invalidArgValue(name, value, 'must not be backed by a resizable ArrayBuffer')
  }
}

function typedArrayArg(value, name) {
  if (!isNumericTypedArray(value)) {
    throw invalidArgType(name, 'an instance of TypedArray', value)
  }
  checkBuffer(call(typedArrayBuffer, value), name, value)
  return value
}

/** Turns any accepted hash input into a Uint8Array over the same memory. */
function bytesArg(value, name) {
  if (typeof value === 'string') return BufferFrom(value, 'utf8')
  if (call(typedArrayTag, value) !== undefined) {
    const buffer = call(typedArrayBuffer, value)
    checkBuffer(buffer, name, value)
    return call(typedArrayTag, value) === 'Uint8Array'
      ? value
      : new Uint8ArrayCtor(buffer, call(typedArrayByteOffset, value), call(typedArrayByteLength, value))
  }
  if (ArrayBufferIsView(value)) { // a DataView
    const buffer = call(dataViewBuffer, value)
    checkBuffer(buffer, name, value)
    return new Uint8ArrayCtor(buffer, call(dataViewByteOffset, value), call(dataViewByteLength, value))
  }
  if (brand(arrayBufferByteLength, value) || brand(sharedByteLength, value)) {
    checkBuffer(value, name, value)
    return new Uint8ArrayCtor(value)
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

// ─── Options ─────────────────────────────────────────────────────────────
// Options are read first, each own property once (lib/options.js), and the
// signal is examined and subscribed to before the input is: a getter, a
// Proxy trap or an `addEventListener` of the caller's can run arbitrary code
// (detach or resize the input), so all of it runs before the input is
// validated and handed to the kernel, with nothing in between.

/** An engine TypeError (a revoked Proxy) while reading `name`, with a code. */
function unreadable(name, value, cause) {
  if (cause instanceof TypeError && cause.code === undefined) {
    const err = invalidArgValue(name, value, 'could not be read')
    err.cause = cause
    return err
  }
  return cause
}

function isArray(value, name) {
  try {
    return ArrayIsArray(value)
  } catch (cause) {
    throw unreadable(name, value, cause)
  }
}

/** A snapshot of the options object's own properties `known`. */
function readOptions(options, known) {
  if (options === undefined) return { __proto__: null }
  if (options === null || typeof options !== 'object' || isArray(options, 'options')) {
    throw invalidArgType('options', 'of type object', options)
  }
  let keys
  try {
    keys = ObjectKeys(options)
  } catch (cause) {
    throw unreadable('options', options, cause)
  }
  const opts = snapshot(options, known)
  for (const key of keys) {
    if (!known.includes(key)) {
      let value
      try {
        value = options[key] // only to show it in the message
      } catch {
        value = undefined
      }
      throw invalidArgValue(`options.${key}`, value, 'is not a known option')
    }
  }
  return opts
}

function signalArg(signal) {
  try {
    return validateAbortSignal(signal, 'options.signal')
  } catch (err) {
    throw unreadable('options.signal', signal, err)
  }
}

function encodingArg(opts) {
  return opts.encoding === undefined
    ? 'hex'
    : validateOneOf(opts.encoding, 'options.encoding', ENCODINGS)
}

// ─── Running a kernel ────────────────────────────────────────────────────

function detachedError(what) {
  return errorWithCode(
    `The ${what} was detached while the kernel was using it`,
    'ERR_INVALID_STATE',
  )
}

/**
 * Runs a kernel. `signal` has been validated; `prepare()` validates the
 * input (through intrinsics only: no code of the caller's runs from here to
 * the native call) and returns `{ start(port, id), hold, map(value) }`:
 * `hold` is kept referenced until the kernel is done with it, `map` turns
 * the native value into the resolved value (it may throw: the promise then
 * rejects). Bad input throws synchronously.
 */
function runKernel(signal, prepare) {
  let aborted = false
  let onAbort = null
  let cancel = null
  if (signal !== undefined) {
    aborted = Boolean(signal.aborted)
    if (!aborted) {
      onAbort = () => {
        if (cancel !== null) cancel()
      }
      signal.addEventListener('abort', onAbort, { once: true })
    }
  }
  const unsubscribe = () => {
    if (onAbort !== null) {
      const f = onAbort
      onAbort = null
      signal.removeEventListener('abort', f)
    }
  }
  let job
  try {
    job = prepare()
  } catch (err) {
    unsubscribe()
    throw err
  }
  if (aborted) return Promise.reject(abortError(signal))
  let { hold } = job
  return new Promise((resolve, reject) => {
    const id = native.open((status, value) => {
      native.close(id)
      cancel = null
      // Settle before touching the signal, so that nothing can leave the
      // promise pending.
      if (status === CompletionStatus.Ok) {
        try {
          resolve(job.map(value, hold))
        } catch (err) {
          reject(err)
        }
      } else if (status === CompletionStatus.Aborted) {
        reject(abortError(signal))
      } else {
        reject(value)
      }
      hold = null
      unsubscribe()
    })
    try {
      job.start(native.getPort(), id)
    } catch (err) {
      native.close(id)
      hold = null
      unsubscribe()
      reject(err)
      return
    }
    cancel = () => {
      if (native.cancel(id) === native.CANCEL_BEFORE_START) {
        // It never ran and never will: settle now and let go of the input.
        native.close(id)
        cancel = null
        hold = null
        reject(abortError(signal))
        unsubscribe()
      }
      // Running: it stops within a bounded time and completes as aborted.
    }
  })
}

const identity = (v) => v

/** For a kernel that read `view` in place: fails if it was detached meanwhile. */
function checkStillAttached(view, what) {
  if (view !== null && call(typedArrayByteLength, view) === 0 &&
      !brand(sharedByteLength, call(typedArrayBuffer, view)) &&
      isDetached(call(typedArrayBuffer, view))) {
    throw detachedError(what)
  }
}

function sort(array, options) {
  const { signal } = readOptions(options, ['signal'])
  return runKernel(signalArg(signal), () => {
    typedArrayArg(array, 'array')
    return {
      start: (port, id) => binding.kernelSort(port, id, array),
      hold: array,
      map(sorted) {
        if (sorted === undefined) {
          checkStillAttached(array, 'array')
          return array
        }
        // The kernel sorted a copy (small arrays): write it back, if the
        // array is still what it was.
        if (call(typedArrayByteLength, array) !== sorted.length) throw detachedError('array')
        const bytes = new Uint8ArrayCtor(
          call(typedArrayBuffer, array), call(typedArrayByteOffset, array), sorted.length)
        ReflectApply(typedArraySet, bytes, [sorted])
        return array
      },
    }
  })
}

function stats(array, options) {
  const { signal } = readOptions(options, ['signal'])
  return runKernel(signalArg(signal), () => {
    typedArrayArg(array, 'array')
    const copied = call(typedArrayByteLength, array) <= COPY_MAX
    return {
      start: (port, id) => binding.kernelStats(port, id, array),
      hold: array,
      map(summary) {
        if (!copied) checkStillAttached(array, 'array')
        return summary
      },
    }
  })
}

function encoder(encoding) {
  if (encoding === 'buffer') return identity
  return (digest) => digest.toString(encoding)
}

function hash(data, algorithm, options) {
  const opts = readOptions(options, ['signal', 'encoding'])
  const algo = algorithmArg(algorithm)
  const encoding = encodingArg(opts)
  const encode = encoder(encoding)
  return runKernel(signalArg(opts.signal), () => {
    const bytes = bytesArg(data, 'data')
    const copied = call(typedArrayByteLength, bytes) <= COPY_MAX
    return {
      start: (port, id) => binding.kernelHash(port, id, algo, bytes),
      hold: bytes,
      map(digest) {
        if (!copied) checkStillAttached(bytes, 'data')
        return encode(digest)
      },
    }
  })
}

function hashMany(list, algorithm, options) {
  if (!isArray(list, 'list')) throw invalidArgType('list', 'an instance of Array', list)
  // Every item is read first (an index getter may run code), and checked
  // only after the options: see "Options" above. An index loop, not
  // list.map(): map skips holes.
  const length = list.length // a Proxy of an array can answer anything
  if (typeof length !== 'number' || !(length >= 0 && length <= 2 ** 32 - 1) || length % 1 !== 0) {
    throw invalidArgValue('list', list, 'must have a valid length')
  }
  const items = []
  for (let i = 0; i < length; i++) items.push(list[i])
  const opts = readOptions(options, ['signal', 'encoding'])
  const algo = algorithmArg(algorithm)
  const encoding = encodingArg(opts)
  const asHex = encoding === 'hex'
  const encode = encoder(encoding)
  return runKernel(signalArg(opts.signal), () => {
    const views = []
    let total = 0
    for (let i = 0; i < length; i++) {
      views.push(bytesArg(items[i], `list[${i}]`))
      total += call(typedArrayByteLength, views[i])
    }
    const copied = total <= COPY_MAX
    return {
      start: (port, id) => binding.kernelHashMany(port, id, algo, views, asHex),
      hold: views,
      map(digests) {
        if (!copied) {
          for (let i = 0; i < length; i++) checkStillAttached(views[i], `list[${i}]`)
        }
        return asHex ? digests : digests.map(encode)
      },
    }
  })
}

const MAX_THREADS = binding.kernelMaxThreads()

// SPINDLE_THREADS follows the rule of configure({ threads }): an integer from
// 1 to MAX_THREADS; a larger one is clamped (as libuv clamps
// UV_THREADPOOL_SIZE), anything else ignored; either way with a warning,
// once per process (the rule lives in src/kernels/threads.rs).
{
  const warning = binding.kernelThreadsWarning()
  if (typeof warning === 'string') process.emitWarning(warning, { code: 'SPINDLE_THREADS' })
}

function configure(options) {
  if (options === undefined) throw invalidArgType('options', 'of type object', options)
  const opts = readOptions(options, ['threads'])
  if (opts.threads !== undefined) {
    binding.configureThreads(validateInteger(opts.threads, 'options.threads', 1, MAX_THREADS))
  }
  return { threads: binding.kernelThreads() }
}

/** Counters of the completion path and the kernel pool, for tests and benchmarks. */
function internals() {
  return {
    ...native.counters(),
    threads: binding.kernelThreads(),
    maxThreads: MAX_THREADS,
    copyMax: COPY_MAX,
  }
}

/** A kernel that panics in Rust; resolves never, rejects with ERR_SPINDLE_PANIC. */
function triggerPanic() {
  return runKernel(undefined, () => ({
    start: (port, id) => binding.kernelPanic(port, id),
    hold: null,
    map: identity,
  }))
}

module.exports = { configure, hash, hashMany, internals, sort, stats, triggerPanic }
