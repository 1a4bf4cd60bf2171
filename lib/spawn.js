'use strict'
// spawn(): a ChildProcess-compatible object whose process is spawned, fed and
// drained on spindle's reactor thread (src/reactor/), never on this thread.
//
// Every event of a child (spawned, a chunk of output, EOF, a flushed stdin
// write, exit) arrives through the batched completion path on one operation
// id, opened with `native.open` and closed when the child emits 'close'.
// The reactor's key for the child is a separate number used to send it
// commands (write, end stdin, pause/resume a stream, kill, release).
//
// Semantics follow lib/internal/child_process.js where they can be
// observed: 'spawn' first; 'error' + 'close' (code = -errno) when the spawn
// fails; 'exit' when the process ends; 'close' after 'exit' and after stdout
// and stderr have closed; stdin destroyed at exit; untouched output streams
// resumed at exit so that unread output never holds 'close' back. What the
// reactor cannot do is handed to node:child_process (delegateSpawn).
// The child is cloned on this thread (src/reactor/launch.rs), so `pid` is
// set when spawn() returns; its exec is awaited on a spawner thread, which
// then reports 'spawn' (or the exec's error).

const { EventEmitter } = require('node:events')
const { Readable, Writable } = require('node:stream')
const { constants: osConstants } = require('node:os')
const { fileURLToPath } = require('node:url')
const { isMainThread } = require('node:worker_threads')
const native = require('./native')
const {
  AbortError,
  errnoException,
  invalidArgType,
  invalidArgValue,
  outOfRange,
  unknownSignal,
} = require('./errors')
const { getOwn, snapshot } = require('./options')
const {
  validateAbortSignal,
  validateBoolean,
  validateObject,
  validateString,
} = require('./validate')

const { binding } = native

// Event kinds; see src/reactor/event.rs.
const SPAWNED = 0
const SPAWN_FAILED = 1
const DATA = 2
const END = 3
const WRITTEN = 4
const WRITE_FAILED = 5
const EXIT = 6
const READ_FAILED = 7

/**
 * Stdin writes are acknowledged at once while at most this many bytes are
 * queued on the reactor, so the pipe never waits for a round trip through
 * the event loop; beyond it, a write's callback waits until it is flushed.
 */
const STDIN_WINDOW = 1 << 20
/** A stdin chunk this large is lent to the reactor rather than copied. */
const LEND_MIN = 64 * 1024

/**
 * Output flow control: the reactor stops reading a stream once this many
 * bytes are on their way here unacknowledged, so a busy event loop cannot
 * make output pile up in memory without bound; this side acknowledges every
 * ACK_EVERY bytes it has taken in.
 */
const OUTPUT_CREDIT = 8 << 20
const ACK_EVERY = 1 << 20

// Null prototype: 'constructor' or '__proto__' is not a stdio mode.
const STDIO_CODES = { __proto__: null, pipe: 0, inherit: 1, ignore: 2 }
// A null-prototype copy: a name is looked up among the real signals only,
// never among properties inherited from Object.prototype.
const signals = Object.assign(Object.create(null), osConstants.signals)
const signalNames = Object.create(null)
for (const [name, num] of Object.entries(signals)) {
  if (signalNames[num] === undefined) signalNames[num] = name
}
const { ESRCH, EINVAL, ENOSYS, EMFILE, ENFILE, ENOENT, EACCES, EAGAIN } = osConstants.errno

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
    return { native: STDIO_CODES[stdio] === undefined ? null : [stdio, stdio, stdio], value: stdio }
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
    else if (typeof s === 'string' && STDIO_CODES[s] !== undefined) native.push(s)
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
function delegateSpawn(opts, internal) {
  const { file, args, options: o, stdio } = opts.delegate
  const env = { __proto__: null }
  for (const pair of opts.envPairs) {
    const eq = pair.indexOf('=', 1)
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  const options = { __proto__: null, env }
  for (const key of ['argv0', 'cwd', 'detached', 'gid', 'serialization', 'shell', 'signal', 'uid',
    'windowsHide', 'windowsVerbatimArguments']) {
    if (o[key] !== undefined) options[key] = o[key]
  }
  // -0 passes child_process's int32 check but fails its native one, which
  // aborts the process (Node 20): give it +0.
  for (const id of ['uid', 'gid']) if (options[id] != null) options[id] |= 0
  if (opts.cwd === undefined) delete options.cwd // '' means this process's cwd
  options.killSignal = opts.killSignal
  if (stdio !== undefined) options.stdio = stdio
  // exec's killTree: a group of its own (child_process offers one through detached).
  if (internal?.newGroup) options.detached = true
  let child
  try {
    child = require('node:child_process').spawn(file, args, options)
  } catch (cause) {
    if (!isEngineTypeError(cause)) throw cause
    const err = invalidArgValue('options', o, 'could not be used')
    err.cause = cause
    throw err
  }
  // child_process makes its sockets from option objects that inherit from
  // Object.prototype: a polluted `encoding` turns their chunks into strings.
  // A fresh child socket never has an encoding of its own, so undo it.
  for (const stream of [child.stdout, child.stderr]) {
    const state = stream?._readableState
    if (state != null && state.encoding != null && state.decoder != null) {
      state.decoder = null
      state.encoding = null
    }
  }
  // spindle's coded errors for hostile signals and stdin chunks hold here
  // too: checked first, then child_process's own methods run.
  const nodeKill = child.kill
  Object.defineProperty(child, 'kill', {
    configurable: true,
    writable: true,
    value(sig) {
      if (sig !== undefined && sig !== 0) convertToValidSignal(sig)
      return Reflect.apply(nodeKill, child, [sig])
    },
  })
  const stdin = child.stdin
  if (stdin != null) {
    const nodeWrite = stdin.write
    const nodeEnd = stdin.end
    stdin.write = function write(chunk, encoding, cb) {
      return Reflect.apply(nodeWrite, this, [stdinChunk(chunk), encoding, cb])
    }
    stdin.end = function end(chunk, encoding, cb) {
      if (chunk != null && typeof chunk !== 'function') chunk = stdinChunk(chunk)
      return Reflect.apply(nodeEnd, this, [chunk, encoding, cb])
    }
  }
  const grouped = !!options.detached
  Object.defineProperty(child, 'killGroup', {
    configurable: true,
    writable: true,
    value(sig) {
      if (!grouped || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
        return child.kill(sig)
      }
      const signal = sig === 0 ? 0 : convertToValidSignal(sig === undefined ? 'SIGTERM' : sig)
      try {
        process.kill(-child.pid, signal)
        child.killed = true
        return true
      } catch {
        return child.kill(sig)
      }
    },
  })
  if (opts.timeout > 0) {
    const timer = setLongTimeout(() => {
      try {
        child.kill(opts.killSignal)
      } catch (err) {
        child.emit('error', err)
      }
    }, opts.timeout)
    child.once('exit', () => timer.clear())
    child.once('error', () => timer.clear())
  }
  return child
}

const ArrayBufferIsView = ArrayBuffer.isView
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype)
const intrinsicGetter = (proto, key) => Object.getOwnPropertyDescriptor(proto, key).get
const typedArrayTag = intrinsicGetter(TypedArrayPrototype, Symbol.toStringTag)
const typedArrayByteLength = intrinsicGetter(TypedArrayPrototype, 'byteLength')
const typedArrayBuffer = intrinsicGetter(TypedArrayPrototype, 'buffer')
const dataViewByteLength = intrinsicGetter(DataView.prototype, 'byteLength')

/**
 * Whether a TypedArray or DataView is backed by a detached buffer, asked of
 * the intrinsic getters (never of the view's own, overridable properties).
 * Costs one getter call for a view with bytes in it: only an empty one can
 * be detached.
 */
function isDetachedView(view) {
  const R = Reflect.apply
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

const typedArrayByteOffset = intrinsicGetter(TypedArrayPrototype, 'byteOffset')
const dataViewBuffer = intrinsicGetter(DataView.prototype, 'buffer')
const dataViewByteOffset = intrinsicGetter(DataView.prototype, 'byteOffset')
const BufferFrom = Buffer.from
const ObjectHasOwn = Object.prototype.hasOwnProperty
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
    const R = Reflect.apply
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

const kSpawn = Symbol('spindle.spawn')
const kLiveness = Symbol('spindle.liveness')
// Node 20.4+ defines Symbol.dispose; earlier ones get child_process's own polyfill symbol.
const SymbolDispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')

/**
 * child_process gives a child's piped streams as `net.Socket`s; these give
 * the same shape where it can be observed without a libuv handle: the
 * direction flags (`stdin.readable === false`; `stdout.writable` is true
 * while open, as on Node's socket),
 * `ref`/`unref` (whether the open stream keeps the event loop alive),
 * `setNoDelay`/`setKeepAlive` (no-ops on a Unix socket, as in Node) and
 * `destroySoon`.
 */
class ChildStdin extends Writable {
  #owner
  #ref = true
  constructor(owner, options) {
    super(options)
    this.#owner = owner
  }
  write(chunk, encoding, cb) {
    return super.write(stdinChunk(chunk), encoding, cb)
  }
  end(chunk, encoding, cb) {
    if (chunk != null && typeof chunk !== 'function') chunk = stdinChunk(chunk)
    return super.end(chunk, encoding, cb)
  }
  get readable() {
    return false
  }
  get [kLiveness]() {
    return this.#ref
  }
  ref() {
    this.#ref = true
    this.#owner.updateRef()
    return this
  }
  unref() {
    this.#ref = false
    this.#owner.updateRef()
    return this
  }
  setNoDelay() {
    return this
  }
  setKeepAlive() {
    return this
  }
  /** Ends the stream, then destroys it once everything is written. */
  destroySoon() {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once('finish', () => this.destroy())
  }
}

class ChildOutput extends Readable {
  #owner
  #ref = true
  constructor(owner, options) {
    super(options)
    this.#owner = owner
  }
  /** As on the socket child_process gives (a Duplex whose writable side stays open). */
  get writable() {
    return !this.destroyed
  }
  get [kLiveness]() {
    return this.#ref
  }
  ref() {
    this.#ref = true
    this.#owner.updateRef()
    return this
  }
  unref() {
    this.#ref = false
    this.#owner.updateRef()
    return this
  }
  setNoDelay() {
    return this
  }
  setKeepAlive() {
    return this
  }
  /** Nothing is written to an output stream: destroys it. */
  destroySoon() {
    this.destroy()
  }
}

class ChildProcess extends EventEmitter {
  #id = 0
  #key = null
  #exited = false
  #failed = false
  #released = false
  #closesNeeded = 1
  #closesGot = 0
  #paused = [false, false, false]
  /** Output bytes received and not yet acknowledged to the reactor. */
  #unacked = [0, 0, 0]
  /** END received from the reactor, per stream. */
  #ended = [false, false, false]
  /** FIFO of stdin writes not yet flushed: { left, bytes, cb | null } */
  #writes = []
  /** Bytes handed to the reactor and not yet flushed to the pipe. */
  #inflight = 0
  #stdinError = null
  #timer = null
  #abort = null
  #abortOnSpawn = null
  /** ref()/unref() of the child itself; its streams have their own. */
  #childRef = true
  #watching = false
  #ownerHandle = null

  constructor() {
    super()
    this.pid = undefined
    this.exitCode = null
    this.signalCode = null
    this.killed = false
    this.connected = false
    this.spawnfile = null
    this.spawnargs = []
    this.stdin = null
    this.stdout = null
    this.stderr = null
    this.stdio = [null, null, null]
  }

  [kSpawn](opts, { newGroup = false } = {}) {
    this.spawnfile = opts.file
    this.spawnargs = opts.argv
    if (opts.stdio[0] === 'pipe') this.stdin = this.#makeStdin()
    if (opts.stdio[1] === 'pipe') this.stdout = this.#makeOutput(1)
    if (opts.stdio[2] === 'pipe') this.stderr = this.#makeOutput(2)
    this.stdio = [this.stdin, this.stdout, this.stderr]
    for (const stream of [this.stdout, this.stderr]) {
      if (stream !== null) {
        this.#closesNeeded++
        stream.on('close', () => this.#maybeClose())
      }
    }

    this.#id = native.open((status, value) => this.#onEvent(status, value))
    let started
    try {
      // The child is cloned here, on this thread (no page tables copied and
      // no waiting for its exec: tens of microseconds at any heap size), so
      // the pid is known when spawn() returns, as with child_process.
      started = binding.reactorSpawn(native.getPort(), this.#id, {
        file: opts.file,
        argv: opts.argv,
        env: opts.envPairs,
        cwd: opts.cwd,
        stdio: opts.stdio.map((s) => STDIO_CODES[s]),
        detached: opts.detached,
        newGroup,
        outputCredit: OUTPUT_CREDIT,
      })
    } catch (err) {
      native.close(this.#id)
      throw err
    }
    if (started.errno === 0) {
      this.#key = started.key
      this.pid = started.pid
    } else {
      // Reported as child_process reports each errno: ENOENT, EACCES and
      // EAGAIN as 'error' then 'close'; EMFILE and ENFILE the same but with
      // no streams at all (stdin, stdout, stderr, stdio undefined); anything
      // else (a cwd that is a file: ENOTDIR) thrown from spawn() itself.
      const { errno } = started
      if (errno !== ENOENT && errno !== EACCES && errno !== EAGAIN && errno !== EMFILE && errno !== ENFILE) {
        this.#released = true
        native.close(this.#id)
        throw errnoException(errno, 'spawn')
      }
      if (errno === EMFILE || errno === ENFILE) {
        this.stdin = this.stdout = this.stderr = this.stdio = undefined
        this.#closesNeeded = 1
      }
      process.nextTick(() => this.#spawnFailed(errno))
    }

    const { signal, killSignal, timeout } = opts
    if (signal) {
      const onAbort = () => this.#abortWith(killSignal, signal.reason)
      if (signal.aborted) {
        // As in Node, the abort is acted on after 'spawn' (or the spawn error).
        this.#abortOnSpawn = onAbort
      } else {
        signal.addEventListener('abort', onAbort, { once: true })
        this.#abort = () => signal.removeEventListener('abort', onAbort)
      }
    }
    if (timeout > 0) {
      this.#timer = setLongTimeout(() => {
        this.#timer = null
        try {
          this.kill(killSignal)
        } catch (err) {
          this.emit('error', err)
        }
      }, timeout)
    }
  }

  #abortWith(killSignal, reason) {
    try {
      if (this.kill(killSignal)) this.emit('error', new AbortError(undefined, { cause: reason }))
    } catch (err) {
      this.emit('error', err)
    }
  }

  #makeOutput(index) {
    // Null-prototype options: the stream must not pick up an inherited
    // `encoding` or `objectMode` (prototype pollution).
    const stream = new ChildOutput(this.#liveness(), {
      __proto__: null,
      read: () => {
        if (this.#paused[index]) {
          this.#paused[index] = false
          if (!this.#released) binding.reactorPause(this.#key, index, false)
        }
      },
    })
    // Destroyed before EOF: close our end of the socket, as Node does, so the
    // child's next write fails (ECONNRESET/EPIPE/SIGPIPE) instead of blocking forever.
    stream.on('close', () => {
      if (!stream.readableEnded && !this.#ended[index] && !this.#released && this.#key !== null) {
        binding.reactorCloseOutput(this.#key, index)
      }
    })
    return stream
  }

  #makeStdin() {
    return new ChildStdin(this.#liveness(), {
      __proto__: null,
      write: (chunk, _encoding, cb) => this.#write([chunk], cb),
      writev: (chunks, cb) => this.#write(chunks.map((c) => c.chunk), cb),
      final: (cb) => {
        if (!this.#released && this.#key !== null && this.#stdinError === null) {
          binding.reactorEnd(this.#key)
        }
        cb()
      },
      destroy: (err, cb) => {
        if (!this.#released && this.#key !== null) binding.reactorEnd(this.#key)
        cb(err)
      },
    })
  }

  #write(chunks, cb) {
    if (this.#stdinError !== null) {
      cb(this.#stdinError)
      return
    }
    if (this.#released || this.#failed || this.#key === null) {
      cb(errnoException(osConstants.errno.EPIPE, 'write'))
      return
    }
    // Like libuv: each chunk goes into the pipe at once, from this very
    // Buffer, as far as the pipe takes it while nothing is queued before it.
    // The rest is queued on the reactor, which reports WRITTEN for it: a
    // small rest as a copy, a large one lent (the reactor writes from this
    // Buffer, which `keep` holds until WRITTEN; the callback waits too).
    let bytes = 0
    let queued = 0
    let keep = null
    for (const chunk of chunks) {
      const lend = chunk.length >= LEND_MIN
      const direct = binding.reactorWrite(this.#key, chunk, lend)
      if (direct < 0) {
        const err = errnoException(-direct, 'write')
        if (this.#stdinError === null) this.#stdinError = err
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
    if (!this.#childRef && this.#writes.length === 1) this.#updateRef()
  }

  #onEvent(_status, ev) {
    switch (ev[0]) {
      case SPAWNED: {
        this.emit('spawn')
        const abort = this.#abortOnSpawn
        this.#abortOnSpawn = null
        if (abort !== null) abort()
        break
      }
      case SPAWN_FAILED:
        this.#spawnFailed(ev[1])
        break
      case DATA: {
        // Flow control: return credit to the reactor as chunks are taken in.
        this.#unacked[ev[1]] += ev[2].length
        if (this.#unacked[ev[1]] >= ACK_EVERY && !this.#released) {
          binding.reactorAck(this.#key, ev[1], this.#unacked[ev[1]])
          this.#unacked[ev[1]] = 0
        }
        const stream = ev[1] === 1 ? this.stdout : this.stderr
        if (stream === null || stream.destroyed) break
        if (!stream.push(ev[2]) && !this.#paused[ev[1]] && !this.#released) {
          this.#paused[ev[1]] = true
          binding.reactorPause(this.#key, ev[1], true)
        }
        break
      }
      case END: {
        this.#ended[ev[1]] = true
        if (!this.#childRef) this.#updateRef()
        const stream = ev[1] === 1 ? this.stdout : this.stderr
        if (stream !== null && !stream.destroyed) stream.push(null)
        break
      }
      case READ_FAILED: {
        const stream = ev[1] === 1 ? this.stdout : this.stderr
        if (stream !== null) stream.destroy(errnoException(ev[2], 'read'))
        break
      }
      case WRITTEN: {
        const head = this.#writes[0]
        if (head !== undefined && --head.left === 0) {
          this.#writes.shift()
          this.#inflight -= head.bytes
          if (!this.#childRef && this.#writes.length === 0) this.#updateRef()
          if (head.cb !== null) head.cb()
        }
        break
      }
      case WRITE_FAILED: {
        const err = errnoException(ev[1], 'write')
        if (this.#stdinError === null) this.#stdinError = err
        const pending = this.#writes
        this.#writes = []
        this.#inflight = 0
        if (!this.#childRef) this.#updateRef()
        let reported = false
        for (const w of pending) {
          if (w.cb !== null) {
            w.cb(err)
            reported = true
          }
        }
        // Every failed write was acknowledged early: fail the stream itself.
        if (!reported && this.stdin !== null && !this.stdin.destroyed) this.stdin.destroy(err)
        break
      }
      case EXIT:
        this.#exit(ev[1], ev[2])
        break
    }
  }

  #spawnFailed(errno) {
    // As with child_process, a child that never ran has no pid (an exec
    // failure the checks before the clone could not foresee comes here
    // after spawn() returned one).
    this.pid = undefined
    this.#failed = true
    this.exitCode = -errno
    this.#cleanupTimers()
    if (this.stdin != null) this.stdin.destroy()
    for (const s of [this.stdout, this.stderr]) if (s != null && !s.destroyed) s.push(null)
    const syscall = `spawn ${this.spawnfile}`
    const err = errnoException(errno, syscall, { path: this.spawnfile, spawnargs: this.spawnargs.slice(1) })
    const abort = this.#abortOnSpawn
    this.#abortOnSpawn = null
    this.#exited = true
    process.nextTick(flushStdio, this)
    try {
      this.emit('error', err)
      if (abort !== null) abort() // kill() is false now: nothing more happens
    } finally {
      this.#maybeClose()
    }
  }

  #exit(code, signal) {
    this.#exited = true
    if (signal) this.signalCode = signalNames[signal] ?? signal
    else this.exitCode = code
    this.#cleanupTimers()
    if (this.stdin !== null) this.stdin.destroy()
    process.nextTick(flushStdio, this)
    try {
      this.emit('exit', this.exitCode, this.signalCode)
    } finally {
      this.#maybeClose()
    }
  }

  #cleanupTimers() {
    if (this.#timer !== null) {
      this.#timer.clear()
      this.#timer = null
    }
    if (this.#abort !== null) {
      this.#abort()
      this.#abort = null
    }
  }

  #maybeClose() {
    this.#closesGot++
    if (this.#closesGot !== this.#closesNeeded) return
    this.#released = true
    native.close(this.#id)
    if (this.#key !== null) binding.reactorRelease(this.#key)
    this.emit('close', this.exitCode, this.signalCode)
  }

  /**
   * Sends a signal (default SIGTERM) through the child's pidfd. Returns true
   * if it was sent; false once the child has exited.
   */
  kill(sig) {
    const signal = sig === 0 ? 0 : convertToValidSignal(sig === undefined ? 'SIGTERM' : sig)
    return this.#signal(signal, false)
  }

  /**
   * Signals the child's whole process group when it leads one (spawned with
   * `detached`, or by exec with `killTree`); otherwise the child alone.
   */
  killGroup(sig) {
    const signal = sig === 0 ? 0 : convertToValidSignal(sig === undefined ? 'SIGTERM' : sig)
    return this.#signal(signal, true)
  }

  #signal(signal, group) {
    if (this.#key === null || this.#exited || this.#failed) return false
    const err = binding.reactorKill(this.#key, signal, group)
    if (err === 0) {
      this.killed = true
      return true
    }
    if (err === ESRCH) return false
    const ex = errnoException(err, 'kill')
    if (err === EINVAL || err === ENOSYS) throw ex
    this.emit('error', ex)
    return false
  }

  /** The child keeps the event loop alive (the default). */
  ref() {
    this.#childRef = true
    this.#updateRef()
  }

  /**
   * The event loop may exit while the child runs. As under child_process,
   * a piped output stream keeps it alive until it ends or is destroyed
   * (read or not), and so do stdin writes not yet flushed, unless that
   * stream is unref()'d itself: output is not lost.
   */
  unref() {
    this.#childRef = false
    if (!this.#watching) {
      this.#watching = true
      const update = () => this.#updateRef()
      for (const stream of [this.stdout, this.stderr]) if (stream != null) stream.on('close', update)
    }
    this.#updateRef()
  }

  /** As child_process: kills the child (SIGTERM) unless already killed. */
  [SymbolDispose]() {
    if (!this.killed) this.kill()
  }

  #liveness() {
    return this.#ownerHandle ??= { updateRef: () => this.#updateRef() }
  }

  /** Whether anything of this child keeps the event loop alive now. */
  #keepsAlive() {
    if (this.#childRef) return true
    for (const [i, stream] of [[1, this.stdout], [2, this.stderr]]) {
      if (stream != null && stream[kLiveness] && !stream.destroyed && !this.#ended[i]) return true
    }
    return this.stdin != null && this.stdin[kLiveness] && this.#writes.length > 0
  }

  #updateRef() {
    if (!this.#released) native.setRef(this.#id, this.#keepsAlive())
  }
}

/** Resumes output streams nobody touched, so unread output cannot hold 'close'. */
function flushStdio(child) {
  for (const stream of [child.stdout, child.stderr]) {
    if (stream == null || !stream.readable || stream.destroyed) continue
    if (stream.readableFlowing !== null || stream.listenerCount('readable') > 0) continue
    stream.resume()
  }
}

function spawnWith(file, args, options, internal) {
  const opts = normalizeSpawnArguments(file, args, options)
  if (opts.delegate !== null) return delegateSpawn(opts, internal)
  const child = new ChildProcess()
  child[kSpawn](opts, internal)
  return child
}

/**
 * Spawns `command` on spindle's reactor thread; see index.d.ts.
 */
function spawn(command, args, options) {
  return spawnWith(command, args, options, undefined)
}

module.exports = {
  ChildProcess,
  convertToValidSignal,
  isArray,
  isDetachedView,
  isEngineTypeError,
  normalizeArgs,
  normalizeSpawnArguments,
  setLongTimeout,
  spawn,
  spawnWith,
  stdinChunk,
  toStringArg,
  validateObjectArg,
  validateSignalArg,
}
