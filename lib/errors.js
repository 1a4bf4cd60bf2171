'use strict'
// Every error spindle throws or rejects with is made here, in Node's style:
// a standard Error subclass with a `code` property.

const { format, getSystemErrorName, inspect } = require('node:util')
const { ObjectPrototypeHasOwnProperty, ReflectApply, isNativeError } = require('./intrinsics')

function describeReceived(value) {
  // A revoked Proxy (or a throwing getter) must not turn a coded error into an uncoded one.
  try {
    return describeReceivedUnchecked(value)
  } catch {
    return ` Received ${inspect(value, { depth: -1, showProxy: false })}`
  }
}

function describeReceivedUnchecked(value) {
  if (value == null) return ` Received ${value}`
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    let name
    try {
      name = value.constructor && value.constructor.name
    } catch {
      name = undefined // a revoked Proxy, or a getter or trap that throws
    }
    if (name && typeof name === 'string') return ` Received an instance of ${name}`
    return ` Received ${inspect(value, { depth: -1 })}`
  }
  let shown = inspect(value, { colors: false })
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  return ` Received type ${typeof value} (${shown})`
}

// Node's own errors print their code: `String(err)` and the first line of
// `err.stack` read `RangeError [ERR_OUT_OF_RANGE]: ...`, while `err.name`
// stays 'RangeError'. The stack was captured when the error was made, so its
// first line is rewritten once here; `toString` is an own, non-enumerable
// method, as Node's is on its error classes' prototypes.
function errorToString() {
  return `${this.name} [${this.code}]: ${this.message}`
}

function withCode(err, code) {
  Object.defineProperty(err, 'code', {
    value: code,
    enumerable: true,
    writable: true,
    configurable: true,
  })
  const plain = `${err.name}: `
  const stack = err.stack
  if (typeof stack === 'string' && stack.startsWith(plain)) {
    Object.defineProperty(err, 'stack', {
      value: `${err.name} [${code}]: ${stack.slice(plain.length)}`,
      enumerable: false,
      writable: true,
      configurable: true,
    })
  }
  Object.defineProperty(err, 'toString', {
    value: errorToString,
    enumerable: false,
    writable: true,
    configurable: true,
  })
  return err
}

/** `The "name" argument must be <expected>. Received ...` */
function invalidArgType(name, expected, actual) {
  const what = name.includes('.') || name.includes('[') ? 'property' : 'argument'
  return withCode(
    new TypeError(`The "${name}" ${what} must be ${expected}.${describeReceived(actual)}`),
    'ERR_INVALID_ARG_TYPE',
  )
}

/** `The argument 'name' <reason>. Received ...` */
function invalidArgValue(name, value, reason = 'is invalid') {
  let shown
  try {
    shown = inspect(value, { depth: 0, breakLength: Infinity })
  } catch {
    // inspect() itself throws for some values (a DataView over a detached buffer).
    shown = `an instance of ${value?.constructor?.name ?? typeof value}`
  }
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`
  const what = name.includes('.') || name.includes('[') ? 'property' : 'argument'
  return withCode(
    new TypeError(`The ${what} '${name}' ${reason}. Received ${shown}`),
    'ERR_INVALID_ARG_VALUE',
  )
}

function outOfRange(name, range, value) {
  return withCode(
    new RangeError(
      `The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`,
    ),
    'ERR_OUT_OF_RANGE',
  )
}

/** Node's AbortError: name 'AbortError', code 'ABORT_ERR', the signal's reason as cause. */
class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    // As Node's: `options` must be an object. Its `cause` is read once, own
    // property only (the rules of lib/options.js: a revoked Proxy gets a code).
    if (options !== undefined && options !== null && typeof options !== 'object') {
      throw invalidArgType('options', 'of type object', options)
    }
    const text = messageText(message)
    const init = options === undefined || options === null ? undefined : causeOf(options)
    super(text, init)
    this.name = 'AbortError'
    this.code = 'ABORT_ERR'
  }
}

// The message as a string, converted once. A Symbol, or a value whose
// conversion fails inside the engine (an array holding a view over a
// detached buffer, a revoked Proxy), gets a code; what a user's own
// toString/valueOf throws on purpose passes through unchanged.
function messageText(message) {
  if (typeof message === 'string') return message
  if (typeof message === 'symbol') throw invalidArgType('message', 'of type string', message)
  try {
    return `${message}`
  } catch (cause) {
    // RangeError: too long for a string (a huge sparse array), or nested too deep.
    if (isEngineError(cause, 'TypeError', 'RangeError')) {
      const err = invalidArgValue('message', message, 'could not be converted to a string')
      err.cause = cause
      throw err
    }
    throw cause
  }
}

/**
 * `{ cause }` when `options` has an own `cause` (read once), else undefined.
 * lib/options.js reads every other options object; it makes its errors here,
 * so this one own property is read here, by the same rules.
 */
function causeOf(options) {
  let has
  try {
    has = ReflectApply(ObjectPrototypeHasOwnProperty, options, ['cause'])
  } catch (cause) {
    throw unreadable('options', options, cause)
  }
  if (!has) return undefined
  try {
    return { cause: options.cause }
  } catch (cause) {
    throw unreadable('options.cause', options, cause)
  }
}

function abortError(signal) {
  return new AbortError(undefined, { cause: signal?.reason })
}

/**
 * Whether `err` is an error the engine threw (a TypeError for a revoked Proxy
 * or a detached buffer, a RangeError for a stack overflow) rather than one a
 * user made with a code: a native error of one of `names`, without a code.
 * By name, not instanceof: the engine makes it in the realm of the builtin
 * that failed, which may be another context's (vm, jest).
 */
function isEngineError(err, ...names) {
  try {
    return isNativeError(err) && names.includes(err.name) && err.code === undefined
  } catch {
    return false
  }
}

/**
 * What to throw when reading `name` of `obj` failed with `cause`. Engine
 * errors (a revoked Proxy, a trap that broke an invariant) are TypeErrors
 * that carry no code: they become ERR_INVALID_ARG_VALUE with the engine's
 * error as `cause`. Anything else was thrown by user code on purpose and is
 * passed through as it is, as Node's own APIs do.
 */
function unreadable(name, obj, cause) {
  if (isEngineError(cause, 'TypeError')) {
    const err = invalidArgValue(name, obj, 'could not be read')
    err.cause = cause
    return err
  }
  return cause
}

/** A generic error with a code, for failures that happen asynchronously. */
function errorWithCode(message, code, extra) {
  const err = withCode(new Error(message), code)
  if (extra) Object.assign(err, extra)
  return err
}

// ─── Reactor (spawn/exec) ────────────────────────────────────────────────
// Errors in child_process's shapes.

/** Node's ErrnoException: `${syscall} ${code}`, errno negative, code the name. */
function errnoException(errno, syscall, extra) {
  const code = errno > 0 ? getSystemErrorName(-errno) : `Unknown system error ${errno}`
  const err = new Error(`${syscall} ${code}`)
  err.errno = -Math.abs(errno)
  err.code = code
  err.syscall = syscall
  if (extra) Object.assign(err, extra)
  return err
}

/** ERR_UNKNOWN_SIGNAL, as thrown by `child.kill('SIGNOPE')`. */
function unknownSignal(signal) {
  // format, not a template: a Symbol or a null-prototype object must not
  // throw an uncoded TypeError while the error is being made.
  return withCode(new TypeError(`Unknown signal: ${showSignal(signal)}`), 'ERR_UNKNOWN_SIGNAL')
}

// How a bad signal is shown; never throws. format() (as Node's message) calls
// the value's toString or inspect, which throw for a view over a detached
// buffer or a Proxy over a TypedArray: then the value's type is shown.
function showSignal(signal) {
  try {
    return format('%s', signal)
  } catch {}
  try {
    return inspect(signal, { depth: 0, showProxy: true })
  } catch {}
  try {
    return `[${Object.prototype.toString.call(signal).slice(8, -1)}]`
  } catch {
    return `[${typeof signal}]`
  }
}

/** The reactor is not available on this platform. */
function unsupportedPlatform(what) {
  return withCode(
    new Error(`spindle: ${what} is only implemented on Linux for now (process.platform is '${process.platform}')`),
    'ERR_SPINDLE_UNSUPPORTED',
  )
}

module.exports = {
  AbortError,
  abortError,
  errnoException,
  errorWithCode,
  invalidArgType,
  invalidArgValue,
  isEngineError,
  outOfRange,
  unknownSignal,
  unreadable,
  unsupportedPlatform,
  withCode,
}
