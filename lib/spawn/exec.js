'use strict'
// exec(): run a program to completion on the reactor and resolve with its
// output. Built on spawnWith (lib/spawn/index.js); see index.d.ts for the API.

const { StringDecoder } = require('node:string_decoder')
const { getOwn, snapshot } = require('../options')
const {
  convertToValidSignal,
  isArray,
  isDetachedView,
  isEngineTypeError,
  normalizeArgs,
  setLongTimeout,
  spawnWith,
  stdinChunk,
  validateObjectArg,
  validateSignalArg,
} = require('./index')
const { AbortError, errorWithCode, invalidArgType, invalidArgValue, withCode } = require('../errors')
const {
  validateBoolean,
  validateInteger,
  validateString,
} = require('../validate')

const KNOWN = [
  'argv0',
  'cwd',
  'detached',
  'encoding',
  'env',
  'extendEnv',
  'forceKillAfter',
  'gid',
  'input',
  'killSignal',
  'killTree',
  'maxBuffer',
  'reject',
  'shell',
  'signal',
  'timeout',
  'uid',
]

const DEFAULT_MAX_BUFFER = 100 * 1024 * 1024
const DEFAULT_FORCE_KILL_AFTER = 5000

function maxBufferError(name) {
  return withCode(
    new RangeError(`${name} maxBuffer length exceeded`),
    'ERR_CHILD_PROCESS_STDIO_MAXBUFFER',
  )
}

function normalizeExecOptions(options) {
  if (options !== undefined) validateObjectArg(options, 'options')
  // Own properties only, each read once: an inherited `shell: true`
  // (prototype pollution) must never turn arguments into shell code. An own
  // key that is not an option is refused, to catch typos.
  const opts = snapshot(options, KNOWN)
  if (options !== undefined) {
    for (const key of Object.keys(options)) {
      if (!KNOWN.includes(key)) {
        throw invalidArgValue(`options.${key}`, getOwn(options, key), 'is not a known option')
      }
    }
  }
  const encoding = opts.encoding === undefined ? 'utf8' : opts.encoding
  if (typeof encoding !== 'string') throw invalidArgType('options.encoding', 'of type string', encoding)
  if (encoding !== 'buffer' && !Buffer.isEncoding(encoding)) {
    throw invalidArgValue('options.encoding', encoding, "must be 'buffer' or a Buffer encoding")
  }
  let maxBuffer = DEFAULT_MAX_BUFFER
  if (opts.maxBuffer !== undefined) {
    if (typeof opts.maxBuffer !== 'number') throw invalidArgType('options.maxBuffer', 'of type number', opts.maxBuffer)
    if (!(opts.maxBuffer >= 0)) throw invalidArgValue('options.maxBuffer', opts.maxBuffer, 'must be a non-negative number')
    maxBuffer = opts.maxBuffer
  }
  let input = opts.input
  if (input !== undefined && typeof input !== 'string' && !ArrayBuffer.isView(input)) {
    throw invalidArgType('options.input', 'of type string or an instance of Buffer, TypedArray or DataView', input)
  }
  if (ArrayBuffer.isView(input)) {
    // Checked before anything starts (a child fed nothing would wait for ever).
    if (isDetachedView(input)) {
      throw invalidArgValue('options.input', input, 'must not be backed by a detached ArrayBuffer')
    }
    input = stdinChunk(input) // the real bytes, whatever its own properties say
  }
  const timeout = opts.timeout === undefined ? 0 : validateInteger(opts.timeout, 'options.timeout', 0)
  let forceKillAfter = DEFAULT_FORCE_KILL_AFTER
  if (opts.forceKillAfter === false) forceKillAfter = 0
  else if (opts.forceKillAfter !== undefined) {
    forceKillAfter = validateInteger(opts.forceKillAfter, 'options.forceKillAfter', 0)
  }
  const killSignal = opts.killSignal === undefined ? 'SIGTERM' : opts.killSignal
  if (typeof killSignal !== 'string' && typeof killSignal !== 'number') {
    throw invalidArgType('options.killSignal', 'one of type string or number', killSignal)
  }
  convertToValidSignal(killSignal)
  const flag = (name, dflt) => (opts[name] === undefined ? dflt : validateBoolean(opts[name], `options.${name}`))
  const extendEnv = flag('extendEnv', true)
  if (opts.env !== undefined && opts.env !== null) validateObjectArg(opts.env, 'options.env')
  // No env given: leave it out, and spawn passes this process's environment
  // on (the fast path: no copy of process.env through JavaScript).
  // (The spread copies own enumerable properties only; spawn reads the
  // result without Object.prototype's keys.)
  let env = opts.env == null || !extendEnv ? opts.env ?? undefined : undefined
  if (opts.env != null && extendEnv) {
    try {
      env = { ...process.env, ...opts.env }
    } catch (cause) {
      if (!isEngineTypeError(cause)) throw cause
      const err = invalidArgValue('options.env', opts.env, 'could not be read')
      err.cause = cause
      throw err
    }
  }
  return {
    encoding,
    maxBuffer,
    input,
    timeout,
    forceKillAfter,
    killSignal,
    killTree: flag('killTree', false),
    reject: flag('reject', true),
    signal: validateSignalArg(opts.signal, 'options.signal'),
    spawnOptions: {
      cwd: opts.cwd,
      env,
      argv0: opts.argv0,
      shell: opts.shell,
      detached: opts.detached,
      uid: opts.uid,
      gid: opts.gid,
      killSignal,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    },
  }
}

/** Collects one output stream up to `maxBuffer` bytes. */
function collect(stream, name, o, onOverflow) {
  const decoder = o.encoding === 'buffer' ? null : new StringDecoder(o.encoding)
  const chunks = []
  let text = ''
  let bytes = 0
  let full = false
  stream.on('data', (chunk) => {
    if (full) return
    if (bytes + chunk.length > o.maxBuffer) {
      chunk = chunk.subarray(0, o.maxBuffer - bytes)
      full = true
    }
    bytes += chunk.length
    if (decoder === null) chunks.push(chunk)
    else text += decoder.write(chunk)
    if (full) onOverflow(maxBufferError(name))
  })
  return () => (decoder === null ? Buffer.concat(chunks) : text + decoder.end())
}

/**
 * Runs `file` with `args` to completion; see index.d.ts.
 */
function exec(file, args, options) {
  validateString(file, 'file')
  if (args !== undefined && args !== null && !isArray(args, 'args')) {
    if (typeof args !== 'object') throw invalidArgType('args', 'an instance of Array', args)
    options = args
    args = []
  }
  args = args == null ? [] : normalizeArgs(args)
  const o = normalizeExecOptions(options)
  const command = [file, ...args].join(' ')
  if (o.signal?.aborted) {
    // Validate the rest first, as spawn would, then settle without starting.
    return Promise.reject(new AbortError(undefined, { cause: o.signal.reason }))
  }
  const started = performance.now()
  let child
  try {
    child = spawnWith(file, args, o.spawnOptions, { newGroup: o.killTree })
  } catch (err) {
    // A spawn that fails at once with an errno (a cwd that is a file:
    // ENOTDIR) rejects like one that fails on the spawner (ENOENT); argument
    // errors still throw.
    if (err === null || typeof err !== 'object' || typeof err.errno !== 'number') throw err
    Object.assign(err, {
      command,
      exitCode: null,
      signal: null,
      stdout: o.encoding === 'buffer' ? Buffer.alloc(0) : '',
      stderr: o.encoding === 'buffer' ? Buffer.alloc(0) : '',
      durationMs: performance.now() - started,
      timedOut: false,
      failed: true,
    })
    if (!o.reject) {
      const { command: c, exitCode, signal, stdout, stderr, durationMs, timedOut, failed } = err
      return Promise.resolve({ command: c, exitCode, signal, stdout, stderr, durationMs, timedOut, failed })
    }
    return Promise.reject(err)
  }

  return new Promise((resolve, reject) => {
    let spawnError = null
    let failure = null // the first of: timeout, maxBuffer, abort
    let timedOut = false
    let timer = null
    let forceTimer = null
    let onAbort = null

    const kill = (sig) => (o.killTree ? child.killGroup(sig) : child.kill(sig))
    const terminate = () => {
      kill(o.killSignal)
      if (o.forceKillAfter > 0 && forceTimer === null) {
        forceTimer = setLongTimeout(() => kill('SIGKILL'), o.forceKillAfter)
      }
    }
    const fail = (err) => {
      if (failure === null) failure = err
      terminate()
    }

    child.on('error', (err) => {
      if (spawnError === null) spawnError = err
    })
    // Out of descriptors (EMFILE), a child has no streams: 'error' follows.
    const none = () => (o.encoding === 'buffer' ? Buffer.alloc(0) : '')
    const stdout = child.stdout == null ? none : collect(child.stdout, 'stdout', o, fail)
    const stderr = child.stderr == null ? none : collect(child.stderr, 'stderr', o, fail)
    if (o.input !== undefined && child.stdin != null) {
      // The child may exit without reading its input: EPIPE then is not a failure.
      child.stdin.on('error', () => {})
      try {
        child.stdin.end(o.input)
      } catch (err) {
        fail(err) // never leave a child waiting for input that will not come
      }
    }
    if (o.timeout > 0) {
      timer = setLongTimeout(() => {
        timedOut = true
        fail(errorWithCode(`Command timed out after ${o.timeout} ms: ${command}`, 'ERR_SPINDLE_EXEC_TIMEOUT'))
      }, o.timeout)
    }
    if (o.signal) {
      onAbort = () => fail(new AbortError(undefined, { cause: o.signal.reason }))
      o.signal.addEventListener('abort', onAbort, { once: true })
    }
    child.on('exit', () => {
      if (timer !== null) timer.clear()
      if (forceTimer !== null) forceTimer.clear()
      timer = forceTimer = null
    })
    child.on('close', (code, signal) => {
      if (timer !== null) timer.clear()
      if (forceTimer !== null) forceTimer.clear()
      if (onAbort !== null) o.signal.removeEventListener('abort', onAbort)
      const result = {
        command,
        exitCode: spawnError !== null ? null : code,
        signal: spawnError !== null ? null : signal,
        stdout: stdout(),
        stderr: stderr(),
        durationMs: performance.now() - started,
        timedOut,
        failed: false,
      }
      let err = spawnError ?? failure
      if (err === null && signal !== null) {
        err = errorWithCode(`Command was killed with ${signal}: ${command}`, 'ERR_SPINDLE_EXEC_FAILED')
      } else if (err === null && code !== 0) {
        err = errorWithCode(`Command failed with exit code ${code}: ${command}`, 'ERR_SPINDLE_EXEC_FAILED')
      }
      if (err === null) {
        resolve(result)
        return
      }
      result.failed = true
      if (!o.reject) {
        resolve(result)
        return
      }
      const { signal: sig, ...rest } = result
      Object.assign(err, rest)
      err.signal = sig
      reject(err)
    })
  })
}

module.exports = { exec }
