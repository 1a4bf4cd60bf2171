'use strict'
// Reading and validating spawn()'s arguments as child_process does: own
// properties only, each read once (lib/options.js), the running Node's own
// errors where they differ between versions (nodeArgumentError), and the
// decision which path runs the child (the reactor, or node:child_process
// for what it cannot do: see delegate.js).

const { constants: osConstants } = require('node:os')
const { fileURLToPath } = require('node:url')
const { isMainThread } = require('node:worker_threads')
const { binding } = require('../native')
const { invalidArgType, invalidArgValue, outOfRange, unknownSignal } = require('../errors')
const { getOwn, snapshot } = require('../options')
const { validateAbortSignal, validateBoolean, validateObject, validateString } = require('../validate')

// The stdio modes the reactor takes (null prototype: 'constructor' or
// '__proto__' is not one).
const NATIVE_STDIO = { __proto__: null, pipe: true, inherit: true, ignore: true }
// A null-prototype copy: a name is looked up among the real signals only,
// never among properties inherited from Object.prototype.
const signals = Object.assign(Object.create(null), osConstants.signals)
const signalNames = Object.create(null)
for (const [name, num] of Object.entries(signals)) {
  if (signalNames[num] === undefined) signalNames[num] = name
}

/** A signal name or number → its number; throws ERR_UNKNOWN_SIGNAL. */
function convertToValidSignal(signal) {
  if (typeof signal === 'number' && signalNames[signal] !== undefined) return signal
  if (typeof signal === 'string') {
    const num = signals[signal.toUpperCase()]
    if (num !== undefined) return num
  }
  throw unknownSignal(signal)
}

/** `options.killSignal` as Node checks it: a string or a number, then a known signal. */
function sanitizeKillSignal(killSignal) {
  if (typeof killSignal === 'string' || typeof killSignal === 'number') {
    return convertToValidSignal(killSignal)
  }
  if (killSignal != null) {
    throw invalidArgType('options.killSignal', 'one of type string or number', killSignal)
  }
  return signals.SIGTERM
}

function checkNullBytes(value, name) {
  if (typeof value === 'string' && value.includes('\u0000')) {
    throw invalidArgValue(name, value, 'must be a string without null bytes')
  }
}

const ArrayIsArray = Array.isArray
const ObjectKeys = Object.keys
const ObjectGetPrototypeOf = Object.getPrototypeOf
const ObjectPrototype = Object.prototype
const ReflectGet = Reflect.get

/**
 * An uncoded TypeError: what the engine throws for a revoked Proxy or a
 * value that cannot become a string. Checked by name, not instanceof: the
 * error may come from another realm (a vm context, jest's sandbox).
 */
function isEngineTypeError(err) {
  return err !== null && typeof err === 'object' && err.name === 'TypeError' && err.code === undefined
}

/**
 * `Array.isArray(value)`, with a revoked Proxy (whose IsArray throws an
 * engine TypeError) reported as ERR_INVALID_ARG_VALUE of `name`.
 */
function isArray(value, name) {
  try {
    return ArrayIsArray(value)
  } catch (cause) {
    const err = invalidArgValue(name, value, 'could not be read')
    err.cause = cause
    throw err
  }
}

/**
 * `${value}` as child_process makes its strings, except that a value the
 * engine cannot convert (a Symbol, a null-prototype object, a revoked Proxy)
 * gives a coded TypeError where Node gives an uncoded one. An error thrown
 * by the value's own toString passes through unchanged.
 */
function toStringArg(value, name) {
  if (typeof value === 'string') return value
  if (typeof value === 'symbol') throw invalidArgType(name, 'of type string', value)
  if (isArray(value, name)) boundedLength(value, name) // `${array}` joins every entry
  try {
    return `${value}`
  } catch (cause) {
    // An engine TypeError, or the stack overflow of joining an array nested
    // thousands deep (an uncoded RangeError).
    if (isEngineTypeError(cause) || (cause instanceof RangeError && cause.code === undefined)) {
      const err = invalidArgValue(name, value, 'cannot be converted to a string')
      err.cause = cause
      throw err
    }
    throw cause
  }
}

/** validateObject, with a revoked Proxy a coded error too (Array.isArray throws for one). */
function validateObjectArg(value, name) {
  if (isArray(value, name)) throw invalidArgType(name, 'of type object', value)
  return validateObject(value, name)
}

/**
 * validateAbortSignal, with an engine TypeError (a revoked Proxy) turned
 * into ERR_INVALID_ARG_TYPE: child_process throws the uncoded one.
 */
function validateSignalArg(signal, name) {
  try {
    return validateAbortSignal(signal, name)
  } catch (cause) {
    if (!isEngineTypeError(cause)) throw cause
    const err = invalidArgType(name, 'an instance of AbortSignal', signal)
    err.cause = cause
    throw err
  }
}

/** Element `i` of an array, own properties only (a hole reads as undefined). */
function ownElement(array, i, name) {
  return getOwn(array, i, name)
}

/**
 * An array's length, read once; more entries than any spawn can take (the
 * kernel refuses an argv beyond ARG_MAX long before) is ERR_OUT_OF_RANGE,
 * so that a lying length (a Proxy) cannot make a loop run for ever.
 */
const MAX_ENTRIES = 2 ** 24
function boundedLength(array, name) {
  const length = getOwn(array, 'length', name)
  if (!(length <= MAX_ENTRIES)) throw outOfRange(`${name}.length`, `<= ${MAX_ENTRIES}`, length)
  return length
}

/** The arguments as child_process takes them: each stringified, NUL refused. */
function normalizeArgs(args) {
  const length = boundedLength(args, 'args')
  const out = []
  for (let i = 0; i < length; i++) {
    const s = toStringArg(ownElement(args, i, 'args'), `args[${i}]`)
    checkNullBytes(s, `args[${i}]`)
    out.push(s)
  }
  return out
}

/**
 * `options.stdio` → `{ native, value }`: `native` is the per-stream modes the
 * reactor takes ('pipe', 'inherit', 'ignore', an entry's own index, null
 * or undefined), or null when some entry needs child_process (a descriptor
 * number, a stream, 'ipc', more than three entries, anything else: it
 * validates and runs those). `value` is what to hand it: the array read
 * once, own elements only.
 */
function normalizeStdio(stdio) {
  // As child_process (`options.stdio || 'pipe'`): any falsy value is 'pipe'.
  if (!stdio) return { native: ['pipe', 'pipe', 'pipe'], value: undefined }
  if (typeof stdio === 'string') {
    return { native: NATIVE_STDIO[stdio] === undefined ? null : [stdio, stdio, stdio], value: stdio }
  }
  if (!isArray(stdio, 'options.stdio')) {
    // child_process's own message and code for a bad stdio.
    throw invalidArgValue('stdio', stdio)
  }
  const length = boundedLength(stdio, 'options.stdio')
  const value = []
  for (let i = 0; i < length; i++) value.push(ownElement(stdio, i, 'options.stdio'))
  let native = length <= 3 ? [] : null
  for (let i = 0; i < 3 && native !== null; i++) {
    const s = value[i]
    if (s === undefined || s === null) native.push('pipe')
    else if (s === i) native.push('inherit') // the parent's own fd i
    else if (typeof s === 'string' && NATIVE_STDIO[s] !== undefined) native.push(s)
    else native = null
  }
  return { native, value }
}

/**
 * `KEY=VALUE` strings of an env object, as child_process builds them, with
 * one exception. child_process enumerates with for..in, so inherited keys
 * count: `env: Object.create(process.env)` passes process.env on. Keys that
 * come from `Object.prototype` itself (or anything above it) are left out:
 * there they can only be prototype pollution, and a polluted
 * `NODE_OPTIONS` or `LD_PRELOAD` would run code in the child. Each
 * property is read once; an unreadable env (a revoked Proxy) or a value
 * that cannot become a string is a coded TypeError.
 */
function envPairsOf(env) {
  const pairs = []
  const seen = new Set()
  let holder = env
  try {
    while (holder !== null && holder !== ObjectPrototype) {
      for (const key of ObjectKeys(holder)) {
        if (seen.has(key)) continue
        seen.add(key)
        const value = ReflectGet(holder, key, env)
        if (value === undefined) continue
        const name = `options.env['${key}']`
        const text = toStringArg(value, name)
        checkNullBytes(key, name)
        checkNullBytes(text, name)
        pairs.push(`${key}=${text}`)
      }
      holder = ObjectGetPrototypeOf(holder)
    }
  } catch (cause) {
    if (isEngineTypeError(cause)) {
      const err = invalidArgValue('options.env', env, 'could not be read')
      err.cause = cause
      throw err
    }
    throw cause
  }
  return pairs
}

/** Every option child_process.spawn reads; each is read once, own properties only. */
const SPAWN_OPTION_KEYS = [
  'argv0',
  'cwd',
  'detached',
  'env',
  'gid',
  'killSignal',
  'serialization',
  'shell',
  'signal',
  'stdio',
  'timeout',
  'uid',
  'windowsHide',
  'windowsVerbatimArguments',
]

/**
 * The error the running Node's own child_process gives for `options[key] =
 * value`, or `fallback()` when it accepts the value. The checks changed
 * between Node versions (Node 26: a non-number `timeout` is
 * ERR_INVALID_ARG_TYPE, a fractional `gid` ERR_OUT_OF_RANGE; earlier versions
 * the other way round), so a value spindle refuses is handed to
 * child_process's own validation, which throws before it creates anything: an
 * invalid `stdio`, checked after these options and before the native spawn,
 * guarantees nothing is spawned when Node accepts the value.
 */
function nodeArgumentError(key, value, fallback) {
  try {
    require('node:child_process').spawn(process.execPath, [], { [key]: value, stdio: '\u0000spindle-invalid' })
  } catch (err) {
    // isNativeError, not instanceof: Node's error comes from its own realm,
    // which is not this module's under jest or vm.
    if (require('node:util').types.isNativeError(err) && typeof err.code === 'string' && err.code !== 'ERR_INVALID_ARG_VALUE') {
      return err
    }
  }
  return fallback()
}

/** `options.timeout` as the running Node checks it (see nodeArgumentError). */
function validateSpawnTimeout(timeout) {
  if (timeout == null || (Number.isInteger(timeout) && timeout >= 0)) return
  throw nodeArgumentError('timeout', timeout, () => outOfRange('timeout', 'an unsigned integer', timeout))
}

/** Node's timers take at most this many milliseconds (longer ones fire after 1 ms). */
const TIMEOUT_MAX = 2 ** 31 - 1

/**
 * setTimeout for any duration up to Number.MAX_SAFE_INTEGER ms: a longer
 * wait than TIMEOUT_MAX is a chain of timers, so a duration of 2^31 ms or
 * more means what it says instead of 1 ms. Returns `{ clear() }`.
 */
function setLongTimeout(fn, ms) {
  const handle = { timer: null, clear: () => clearTimeout(handle.timer) }
  const deadline = Date.now() + ms
  const arm = (left) => {
    if (left > TIMEOUT_MAX) {
      handle.timer = setTimeout(() => arm(deadline - Date.now()), TIMEOUT_MAX)
    } else {
      handle.timer = setTimeout(fn, Math.max(left, 1))
    }
  }
  arm(ms)
  return handle
}

/** A URL, or what Node's own duck typing takes for one (a file: URL from another realm). */
function isURL(value, name) {
  try {
    if (value instanceof URL) return true
    return value !== null && typeof value === 'object' && !Buffer.isBuffer(value) &&
      Boolean(value.href) && Boolean(value.protocol) && value.auth === undefined && value.path === undefined
  } catch (cause) {
    // A revoked Proxy (or a trap that fails the engine's checks).
    if (!isEngineTypeError(cause)) throw cause
    const err = invalidArgType(name, 'of type string or an instance of Buffer or URL', value)
    err.cause = cause
    throw err
  }
}

/** child_process's argument rules, producing what the reactor needs. */
function normalizeSpawnArguments(file, args, options) {
  validateString(file, 'file')
  if (file.length === 0) throw invalidArgValue('file', file, 'cannot be empty')
  checkNullBytes(file, 'file')
  if (isArray(args, 'args')) {
    args = normalizeArgs(args)
  } else if (args === undefined || args === null) {
    args = []
  } else if (typeof args !== 'object') {
    throw invalidArgType('args', 'of type object', args)
  } else {
    options = args
    args = []
  }
  if (options !== undefined) validateObjectArg(options, 'options')
  // Read once, own properties only: an inherited `shell` or `cwd` (prototype
  // pollution) is never honoured.
  const o = snapshot(options, SPAWN_OPTION_KEYS)
  for (const id of ['uid', 'gid']) {
    if (o[id] != null && !(Number.isInteger(o[id]) && o[id] >= -(2 ** 31) && o[id] < 2 ** 31)) {
      throw nodeArgumentError(id, o[id], () => invalidArgType(`options.${id}`, 'int32', o[id]))
    }
  }
  const givenFile = file
  const givenArgs = args

  let cwd = o.cwd
  if (cwd !== undefined && cwd !== null) {
    if (isURL(cwd, 'options.cwd')) cwd = fileURLToPath(cwd)
    else if (Buffer.isBuffer(cwd)) cwd = cwd.toString()
    if (typeof cwd !== 'string') {
      throw invalidArgType('options.cwd', 'of type string or an instance of Buffer or URL', cwd)
    }
    checkNullBytes(cwd, 'options.cwd')
    // As under child_process, an empty cwd means this process's own.
    if (cwd === '') cwd = undefined
  } else {
    cwd = undefined
  }
  if (o.detached != null) validateBoolean(o.detached, 'options.detached')
  if (o.shell != null && typeof o.shell !== 'boolean' && typeof o.shell !== 'string') {
    throw invalidArgType('options.shell', 'of type boolean or string', o.shell)
  }
  if (o.argv0 != null) {
    validateString(o.argv0, 'options.argv0')
    checkNullBytes(o.argv0, 'options.argv0')
  }
  if (o.windowsHide != null) validateBoolean(o.windowsHide, 'options.windowsHide')
  if (o.windowsVerbatimArguments != null) {
    validateBoolean(o.windowsVerbatimArguments, 'options.windowsVerbatimArguments')
  }
  validateSpawnTimeout(o.timeout)
  const signal = validateSignalArg(o.signal, 'options.signal')
  const killSignal = sanitizeKillSignal(o.killSignal)
  const stdio = normalizeStdio(o.stdio)

  if (o.shell) {
    checkNullBytes(o.shell, 'options.shell')
    const command = [file, ...args].join(' ')
    file = typeof o.shell === 'string' ? o.shell : '/bin/sh'
    args = ['-c', command]
  }
  const argv = [typeof o.argv0 === 'string' ? o.argv0 : file, ...args]

  if (o.env != null) validateObjectArg(o.env, 'options.env')
  // No env option on the main thread: the addon snapshots the real
  // environment (which is what process.env reads and writes there) without
  // turning every variable into a JavaScript string and back. A worker
  // thread's process.env is its own copy, so it is passed as pairs.
  // What the reactor cannot do goes to child_process (see delegateSpawn).
  const delegate = DELEGATE_ALL || typeof binding.reactorSpawn !== 'function' ||
    stdio.native === null || o.uid != null || o.gid != null
  const envPairs = o.env == null && isMainThread && !delegate ? undefined : envPairsOf(o.env ?? process.env)
  return {
    file,
    argv,
    envPairs,
    cwd,
    stdio: stdio.native,
    detached: !!o.detached,
    timeout: o.timeout,
    killSignal,
    signal,
    delegate: delegate ? { file: givenFile, args: givenArgs, options: o, stdio: stdio.value } : null,
  }
}

/**
 * `SPINDLE_REACTOR=node` (read when spindle loads) sends every spawn to
 * node:child_process, for comparison and as an escape hatch.
 */
const DELEGATE_ALL = process.env.SPINDLE_REACTOR === 'node'

/**
 * Spawns through node:child_process what the reactor cannot do: 'ipc' and
 * the other stdio forms beyond 'pipe'/'inherit'/'ignore' (descriptor
 * numbers, streams, extra descriptors), `uid`/`gid`, and every platform
 * without the reactor (all but Linux); also everything under
 * SPINDLE_REACTOR=node. The child is child_process's own ChildProcess. What
 * spindle does differently on purpose still holds on this path: the options
 * handed over are the own properties already read (never inherited ones),
 * the environment is the pairs spindle built (without keys inherited from
 * Object.prototype), and `timeout` is spindle's (2^31 ms and more is not
 * 1 ms). `killGroup` is added, as on spindle's children.
 */

module.exports = {
  convertToValidSignal,
  isArray,
  isEngineTypeError,
  normalizeArgs,
  normalizeSpawnArguments,
  setLongTimeout,
  signalNames,
  signals,
  toStringArg,
  validateObjectArg,
  validateSignalArg,
}
