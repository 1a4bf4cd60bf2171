'use strict'
// Pool: runs the program's own JavaScript functions on worker threads. Tasks
// go into the Rust work-stealing scheduler (no message to a worker per task);
// results come back through the batched completion path.

const { AsyncResource } = require('node:async_hooks')
const { EventEmitter } = require('node:events')
const { SHARE_ENV, Worker } = require('node:worker_threads')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fileURLToPath } = require('node:url')
const native = require('../native')
const { CompletionStatus, TaskCancel } = native.binding
const { abortError, errorWithCode, invalidArgType, invalidArgValue, outOfRange } = require('../errors')
const { snapshot } = require('../options')
const { decodeCompletion, deserializeError } = require('./task-errors')
const values = require('./values')
const poolMap = require('./map')
const {
  validateAbortSignal,
  validateBoolean,
  validateOneOf,
  validateFunction,
  validateInteger,
  validateObject,
  validateString,
} = require('../validate')

const RUNTIME = path.join(__dirname, 'worker.js')
const OPTIONS = [
  'filename', 'name', 'minThreads', 'maxThreads', 'idleTimeout', 'maxQueue',
  'concurrentTasksPerWorker', 'resourceLimits', 'env', 'argv', 'execArgv', 'workerData',
  'waitMicros', 'spinMicros', 'pollMicros', 'coalesceMicros', 'closeTimeout',
  // piscina's, accepted so that its options pass through unchanged:
  'trackUnmanagedFds', 'atomics', 'niceIncrement', 'recordTiming', 'workerHistogram', 'stricterFIFO',
  'taskQueue', 'loadBalancer',
]
/** The quantiles of piscina's histogram summaries, by key. */
const QUANTILES = [
  ['p0_001', 0.00001], ['p0_01', 0.0001], ['p0_1', 0.001], ['p1', 0.01], ['p2_5', 0.025],
  ['p10', 0.1], ['p25', 0.25], ['p50', 0.5], ['p75', 0.75], ['p90', 0.9], ['p97_5', 0.975],
  ['p99', 0.99], ['p99_9', 0.999], ['p99_99', 0.9999], ['p99_999', 0.99999],
]
const RUN_OPTIONS = ['name', 'signal', 'transferList', 'onMessage', 'filename']
/** Results are coalesced on timer ticks only once they take this long to come back (µs). */
const COALESCE_LATENCY_US = 5000
/**
 * With this many tasks pending or more, one task in this many (a power of
 * two) is timed for the latency average: two clock reads per task were 3%
 * of the main thread's time with 100,000 tiny tasks in flight.
 */
const LATENCY_SAMPLE = 8
/** Tasks submitted in one tick are handed to the scheduler at most this many at a time. */
const FLUSH_AT = 256

/** The longest delay a Node timer honours (2^31 - 1 ms); longer ones would fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** A worker that fails to start is tried again after 10, 20, 40 … ms, at most this often in a row. */
const START_ATTEMPTS = 6
const START_BACKOFF_MS = 10
const MIN_OLD_GENERATION_MB = 4
const RESOURCE_LIMITS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb']

/**
 * Reads an options object once, own properties only (lib/options.js): a
 * non-object, a revoked Proxy or an unknown key is a coded TypeError.
 */
function readOptions(value, name, known, optional = true) {
  const obj = validateObject(value, name, { optional })
  let keys
  try {
    keys = Object.keys(obj)
  } catch (cause) {
    const err = invalidArgValue(name, obj, 'could not be read')
    err.cause = cause
    throw err
  }
  for (const key of keys) {
    if (!known.includes(key)) throw invalidArgValue(`${name}.${key}`, undefined, 'is not a known option')
  }
  return snapshot(obj, known, name)
}

/** Arrays that options take are small; a longer (or lying) length is refused, not iterated. */
const MAX_OPTION_ARRAY = 65536

/** A copy of an Array option, its length read once and bounded. */
function boundedArray(value, name) {
  if (!Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value)
  const length = value.length
  if (!(length <= MAX_OPTION_ARRAY)) throw outOfRange(`${name}.length`, `<= ${MAX_OPTION_ARRAY}`, length)
  const out = new Array(length)
  for (let i = 0; i < length; i++) out[i] = value[i]
  return out
}

/** A duration in ms: Infinity, or an integer >= 0; from 2^31 ms on it is clamped to 2^31 - 1 (about 24.8 days). */
function validateDuration(value, name) {
  if (value === Infinity) return Infinity
  if (typeof value === 'number' && Number.isInteger(value) && value > MAX_TIMER_MS) return MAX_TIMER_MS
  return validateInteger(value, name, 0)
}

/** A copy of `env` with every own enumerable key's value as a string, as Worker does; or SHARE_ENV. */
function copyEnv(env) {
  if (env === SHARE_ENV) return SHARE_ENV
  if (env === null || typeof env !== 'object') throw invalidArgType('options.env', 'of type object', env)
  const out = { __proto__: null }
  let keys
  try {
    keys = Object.keys(env)
  } catch (cause) {
    throw Object.assign(invalidArgValue('options.env', env, 'could not be read'), { cause })
  }
  for (const key of keys) {
    const v = env[key]
    if (typeof v === 'symbol') throw invalidArgType(`options.env.${key}`, 'of type string', v)
    try {
      out[key] = `${v}`
    } catch (cause) {
      throw Object.assign(invalidArgValue(`options.env.${key}`, undefined, 'could not be converted to a string'), { cause })
    }
  }
  return out
}

/**
 * The `signal` run option: an AbortSignal, or (as piscina accepts) an
 * EventEmitter-style object that emits 'abort'; the latter is followed
 * through an AbortController of ours. `unlink` removes our listener.
 */
function toSignal(value) {
  if (value === undefined) return { signal: undefined, unlink: null }
  try {
    if (value !== null && typeof value === 'object') {
      if (typeof value.addEventListener === 'function' &&
          typeof value.removeEventListener === 'function' && 'aborted' in value) {
        return { signal: value, unlink: null }
      }
      if (typeof value.once === 'function' && typeof value.removeListener === 'function') {
        const ac = new AbortController()
        if (value.aborted === true) {
          ac.abort(value.reason)
          return { signal: ac.signal, unlink: null }
        }
        const listener = (reason) => ac.abort(reason)
        value.once('abort', listener)
        return { signal: ac.signal, unlink: () => value.removeListener('abort', listener) }
      }
    }
  } catch (cause) {
    throw Object.assign(invalidArgValue('options.signal', value, 'could not be read'), { cause })
  }
  throw invalidArgType('options.signal', 'an AbortSignal or an EventEmitter', value)
}

/**
 * An engine TypeError without a code (a revoked Proxy met by Array.isArray,
 * instanceof or a property read while validating options) becomes
 * ERR_INVALID_ARG_VALUE with it as `cause`; coded errors pass through.
 */
function coded(err) {
  if (err === null || typeof err !== 'object' || err.name !== 'TypeError' || err.code !== undefined) return err
  const wrapped = invalidArgValue('options', undefined, 'could not be read')
  wrapped.cause = err
  return wrapped
}

/** A copy of an array option (argv, execArgv), read once, every entry a string (as Worker makes them). */
function copyArray(value, name, strings) {
  const list = boundedArray(value, name)
  return list.map((v, i) => {
    if (strings) return validateString(v, `${name}[${i}]`)
    if (typeof v === 'symbol') throw invalidArgType(`${name}[${i}]`, 'of type string', v)
    try {
      return `${v}`
    } catch (cause) {
      throw Object.assign(invalidArgValue(`${name}[${i}]`, undefined, 'could not be converted to a string'), { cause })
    }
  })
}

/** A microseconds option: the option if given, else a valid SPINDLE_* override, else `fallback`. */
function micros(opts, key, envName, fallback, max) {
  if (opts[key] !== undefined) return validateInteger(opts[key], `options.${key}`, 0, max)
  const fromEnv = Number(process.env[envName])
  return process.env[envName] !== undefined && Number.isInteger(fromEnv) && fromEnv >= 0 && fromEnv <= max
    ? fromEnv
    : fallback
}

function defaultThreads() {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
}

function normalizeFilename(filename) {
  if (filename instanceof URL) filename = filename.href
  validateString(filename, 'options.filename')
  if (filename.startsWith('file:')) filename = fileURLToPath(filename)
  if (!path.isAbsolute(filename)) filename = path.resolve(filename)
  let isFile = false
  try {
    isFile = fs.statSync(filename).isFile()
  } catch {}
  if (!isFile) {
    const err = invalidArgValue('options.filename', filename, 'must name an existing file')
    err.path = filename
    throw err
  }
  return filename
}

/**
 * The per-task entry in the completion table. The task is an async resource
 * (as piscina's): the caller's async context (for example an
 * AsyncLocalStorage store) is active where it settles and in onMessage.
 */
class Task extends AsyncResource {
  constructor(pool, signal, onMessage) {
    super('spindle.Task', { requireManualDestroy: true })
    this.pool = pool
    this.id = 0 // in the completion table; 0 once settled
    this.prev = null // the pool's pending tasks, in submission order
    this.next = null
    this.ref = true
    this.signal = signal
    this.onAbort = null
    this.unlink = null // removes our listener from an EventEmitter-style signal
    this.sharedKey = null // the key of an argument sent by postMessage
    this.onMessage = onMessage
    this.resolve = null
    this.reject = null
    this.start = 0 // performance.now() at submission, for the tasks sampled for #latencyUs
  }
}

// The executor of every task's promise (one shared function, not a closure
// per task): `run()` sets `executing` just before `new Promise`.
let executing = null
function capture(resolve, reject) {
  executing.resolve = resolve
  executing.reject = reject
}

class Pool extends EventEmitter {
  #native
  #options
  #workers = new Map() // threadId → { worker, index, ready }
  #slots = new Set() // slot numbers in use; slots below minThreads never retire
  // The tasks not settled yet, oldest first: a list through Task.prev/next
  // (a task's entry in the completion table finds it by id).
  #pendingSize = 0
  #first = null
  #last = null
  #closing = false
  #closed = false
  #loadError = null
  #needsDrain = false // a new task would be refused (piscina's needsDrain)
  #closeWaiters = []
  #publicOptions = null
  #filenames = new Map() // run() filename as given → normalized
  #started = performance.now()
  #completed = 0
  #histogram = null
  #queueLimit = Infinity
  #batchIds = []
  #batchArgs = []
  #batchName = null
  #flushQueued = false
  #flushBound = () => this.#flush()
  #sharedSeq = 0
  #sharedArgs = new Map() // key → an argument holding a SharedArrayBuffer, until its task settles
  #sharedResults = new Map() // key → a result that arrived by postMessage before its completion
  #sharedWaiters = new Map() // key → the completion that waits for that message
  #latencyUs = 0 // moving average of submit → result: decides polling and coalescing
  #sampleSeq = 0 // with many tasks pending, one in LATENCY_SAMPLE is timed for #latencyUs
  #startFailures = 0 // workers in a row that failed to start
  #startsBlocked = false // START_ATTEMPTS failed in a row: no more tries until run()
  #restartTimer = null

  constructor(options) {
    super()
    try {
      this.#init(options)
    } catch (err) {
      throw coded(err)
    }
  }

  #init(options) {
    const opts = readOptions(options, 'options', OPTIONS)
    let maxThreads = opts.maxThreads === undefined
      ? undefined
      : validateInteger(opts.maxThreads, 'options.maxThreads', 1, 1024)
    const minThreads = opts.minThreads === undefined
      ? maxThreads ?? defaultThreads()
      : validateInteger(opts.minThreads, 'options.minThreads', 0, maxThreads ?? 1024)
    // As piscina: a minThreads above the default maxThreads raises it (an
    // explicit maxThreads below minThreads stays an error).
    if (maxThreads === undefined) maxThreads = Math.max(defaultThreads(), minThreads)
    const idleTimeout = opts.idleTimeout === undefined
      ? Infinity
      : validateDuration(opts.idleTimeout, 'options.idleTimeout')
    const maxQueue = opts.maxQueue === undefined || opts.maxQueue === Infinity
      ? Infinity
      : opts.maxQueue === 'auto' ? maxThreads ** 2 : validateInteger(opts.maxQueue, 'options.maxQueue', 0)
    const closeTimeout = opts.closeTimeout === undefined
      ? Infinity
      : validateDuration(opts.closeTimeout, 'options.closeTimeout')
    const concurrency = opts.concurrentTasksPerWorker === undefined
      ? 1
      : validateInteger(opts.concurrentTasksPerWorker, 'options.concurrentTasksPerWorker', 1, 1e6)
    const argv = opts.argv === undefined ? undefined : copyArray(opts.argv, 'options.argv', false)
    const execArgv = opts.execArgv === undefined ? undefined : copyArray(opts.execArgv, 'options.execArgv', true)
    if (opts.name !== undefined) validateString(opts.name, 'options.name')
    let resourceLimits
    if (opts.resourceLimits !== undefined) {
      resourceLimits = readOptions(opts.resourceLimits, 'options.resourceLimits', RESOURCE_LIMITS, false)
      for (const key of RESOURCE_LIMITS) {
        const v = resourceLimits[key]
        if (v !== undefined) {
          const name = `options.resourceLimits.${key}`
          if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v)
          // Huge values make V8 abort the whole process when the thread starts.
          const max = key === 'stackSizeMb' ? 1024 : 1e9
          if (!(v >= 0 && v <= max)) throw outOfRange(name, `>= 0 && <= ${max}`, v)
          // On Node 22 and later an old generation under about 3 MB (0
          // included) aborts the whole process (V8's fatal "GC during
          // deserialization" while the thread starts) instead of failing the
          // Worker with ERR_WORKER_OUT_OF_MEMORY.
          if (key === 'maxOldGenerationSizeMb' && v < MIN_OLD_GENERATION_MB) {
            throw outOfRange(name, `>= ${MIN_OLD_GENERATION_MB}`, v)
          }
        } else delete resourceLimits[key]
      }
      resourceLimits = { ...resourceLimits }
    }
    const env = opts.env === undefined ? undefined : copyEnv(opts.env)
    for (const key of ['taskQueue', 'loadBalancer']) {
      if (opts[key] !== undefined) {
        throw invalidArgValue(`options.${key}`, opts[key], "is piscina's and not supported (spindle's scheduler is built in)")
      }
    }
    const trackUnmanagedFds = opts.trackUnmanagedFds === undefined
      ? undefined
      : validateBoolean(opts.trackUnmanagedFds, 'options.trackUnmanagedFds')
    // Accepted and checked, with no effect: timing is always recorded (in
    // Rust), results never travel through Atomics, threads keep their nice.
    if (opts.atomics !== undefined) validateOneOf(opts.atomics, 'options.atomics', ['sync', 'async', 'disabled'])
    if (opts.niceIncrement !== undefined) validateInteger(opts.niceIncrement, 'options.niceIncrement', -20, 19)
    for (const key of ['recordTiming', 'workerHistogram', 'stricterFIFO']) {
      if (opts[key] !== undefined) validateBoolean(opts[key], `options.${key}`)
    }
    const workerData = opts.workerData
    if (workerData !== undefined) {
      // Worker clones it for every thread; find out now, not inside run().
      try {
        structuredClone(workerData)
      } catch (cause) {
        throw errorWithCode(`options.workerData could not be cloned: ${cause?.message}`, 'ERR_SPINDLE_UNCLONEABLE', { cause })
      }
    }
    if (execArgv !== undefined && execArgv.length > 0 && minThreads === 0) {
      // Worker checks execArgv when it is constructed: do it once now, not inside run().
      const probe = new Worker('', { eval: true, execArgv, stdout: true, stderr: true })
      probe.unref()
      probe.terminate()
    }
    this.#options = {
      filename: opts.filename === undefined || opts.filename === null ? null : normalizeFilename(opts.filename),
      name: opts.name,
      minThreads,
      maxThreads,
      idleTimeout,
      maxQueue,
      concurrency,
      spinMicros: micros(opts, 'spinMicros', 'SPINDLE_SPIN_MICROS', 50, 10_000),
      waitMicros: micros(opts, 'waitMicros', 'SPINDLE_WAIT_MICROS', 1000, 100_000),
      pollMicros: micros(opts, 'pollMicros', 'SPINDLE_POLL_MICROS', 100, 10_000),
      coalesceMicros: micros(opts, 'coalesceMicros', 'SPINDLE_COALESCE_MICROS', 2000, 100_000),
      workerOptions: { resourceLimits, env, argv, execArgv, trackUnmanagedFds },
      workerData,
      closeTimeout,
    }
    this.#publicOptions = Object.freeze({
      filename: this.#options.filename,
      name: opts.name ?? null,
      minThreads,
      maxThreads,
      idleTimeout,
      maxQueue,
      concurrentTasksPerWorker: concurrency,
      resourceLimits,
      env,
      argv,
      execArgv,
      workerData,
      closeTimeout,
      spinMicros: this.#options.spinMicros,
      waitMicros: this.#options.waitMicros,
      pollMicros: this.#options.pollMicros,
      coalesceMicros: this.#options.coalesceMicros,
    })
    this.#queueLimit = maxQueue + maxThreads * concurrency
    this.#native = new native.binding.NativePool(native.getPort(), concurrency > 1)
    for (let i = 0; i < minThreads; i++) {
      const err = this.#spawn()
      if (err !== null) {
        this.#native.close()
        this.#closed = true
        for (const w of this.#workers.values()) w.worker.terminate()
        this.#workers.clear()
        throw err
      }
    }
  }

  /** Starts a worker; returns null, or the error its constructor threw (the slot is released). */
  #spawn() {
    let index = 0
    while (this.#slots.has(index)) index++
    const o = this.#options
    let worker
    try {
      // A null-prototype object: Worker must not pick up inherited options
      // (Object.prototype.eval, .transferList, ... set by other code).
      worker = new Worker(RUNTIME, {
        __proto__: null,
        ...o.workerOptions,
        workerData: {
          spindle: {
            handle: this.#native.handle,
            filename: o.filename,
            concurrency: o.concurrency,
            spinMicros: o.spinMicros,
            waitMicros: o.waitMicros,
            idleTimeout: o.idleTimeout,
            minThreads: o.minThreads,
            maxThreads: o.maxThreads,
            index,
          },
          user: o.workerData,
        },
      })
    } catch (err) {
      return err
    }
    this.#slots.add(index)
    const info = { worker, index, retired: false, ready: false, error: null }
    const threadId = worker.threadId
    this.#workers.set(threadId, info)
    worker.on('message', (msg) => this.#onMessage(info, msg))
    worker.on('error', (err) => {
      info.error = err
    })
    worker.on('exit', (code) => this.#onExit(threadId, info, code))
    // An idle pool must not keep the process alive: outstanding tasks keep it
    // alive through the completion port instead. (After the listeners: adding
    // a 'message' listener would ref the worker's port again.)
    worker.unref()
    this.emit('workerCreate', worker)
    return null
  }

  #onMessage(info, msg) {
    if (!msg || typeof msg !== 'object' || typeof msg.spindle !== 'string') {
      // The worker's own parentPort.postMessage (piscina's 'message' event).
      this.emit('message', msg)
      return
    }
    if (msg.spindle === 'ready') {
      info.ready = true
      this.#startFailures = 0
    } else if (msg.spindle === 'retired') info.retired = true
    else if (msg.spindle === 'replace') {
      // A subtask aborted while it ran on that worker (ctx.run with a signal).
      if (typeof msg.threadId === 'number') this.#replaceWorker(msg.threadId)
    } else if (msg.spindle === 'shared-arg') {
      // A worker fetches an argument that holds a SharedArrayBuffer.
      const key = String(msg.key)
      info.worker.postMessage({ spindle: 'shared-arg', key, found: this.#sharedArgs.has(key), value: this.#sharedArgs.get(key) })
    } else if (msg.spindle === 'shared-result') {
      const key = String(msg.key)
      const waiter = this.#sharedWaiters.get(key)
      if (waiter !== undefined) {
        this.#sharedWaiters.delete(key)
        waiter(msg.value)
      } else this.#sharedResults.set(key, msg.value)
    } else if (msg.spindle === 'helper') {
      // A worker holds subtasks that another worker must run.
      if (!this.#closing && !this.#closed && !this.#startsBlocked && this.#restartTimer === null &&
          this.#workers.size < this.#options.maxThreads) {
        const err = this.#spawn()
        if (err !== null) this.#startFailed(err, true)
      }
    }
    else if (msg.spindle === 'load-error') {
      this.#loadError = deserializeError(msg.error)
      this.#failAll(this.#loadError)
    }
  }

  #onExit(threadId, info, code) {
    this.#workers.delete(threadId)
    this.#slots.delete(info.index)
    this.emit('workerDestroy', info.worker)
    if (this.#closed || info.retired) return
    if (!info.ready && this.#loadError === null) {
      // It never started (process.exit() while loading, resourceLimits too
      // small, EMFILE, ...): back off rather than respawn at once.
      const why = info.error
        ? `a worker failed to start: ${info.error.message}`
        : `a worker exited with code ${code} before it started`
      this.#startFailed(errorWithCode(why, 'ERR_SPINDLE_WORKER_START_FAILED', info.error ? { cause: info.error } : undefined))
      this.#maybeClosed()
      return
    }
    const why = info.error
      ? `the worker running this task died: ${info.error.message}`
      : `the worker running this task exited with code ${code}`
    const rejected = this.#native.workerDied(threadId, why)
    if (rejected === 0 && info.error && this.listenerCount('error') > 0) {
      // It failed outside any task (dying while idle, say).
      this.emit('error', info.error)
    }
    if (this.#loadError === null && !this.#closing) this.#replenish()
    this.#maybeClosed()
  }

  /** Keeps minThreads and enough workers for the pending tasks (unless starts are backing off). */
  #replenish() {
    if (this.#restartTimer !== null || this.#startsBlocked) return
    while (this.#workers.size < this.#options.minThreads) {
      const err = this.#spawn()
      if (err !== null) {
        this.#startFailed(err, true)
        return
      }
    }
    this.#grow()
  }

  /**
   * A worker could not start. Try again after 10, 20, 40 … ms; after
   * START_ATTEMPTS failures in a row, reject the tasks that no started worker
   * can run, and try again only when run() is next called.
   */
  #startFailed(err, constructorThrew = false) {
    if (this.#closing || this.#closed) return
    if (err?.code === undefined) {
      err = errorWithCode(`a worker failed to start: ${err?.message}`, 'ERR_SPINDLE_WORKER_START_FAILED', { cause: err })
    }
    // Worker's constructor refused its options (execArgv, workerData): no retry helps.
    if (constructorThrew || ++this.#startFailures >= START_ATTEMPTS) {
      this.#startFailures = 0
      this.#startsBlocked = true
    }
    if (this.#startsBlocked) {
      // No worker left to run what waits: reject it.
      if (this.#workers.size === 0) this.#failAll(err)
      return
    }
    if (this.#restartTimer !== null) return
    const delay = START_BACKOFF_MS * 2 ** (this.#startFailures - 1)
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null
      if (!this.#closing && !this.#closed && this.#loadError === null) this.#replenish()
    }, delay)
    this.#restartTimer.unref()
  }

  #failAll(err) {
    this.#flush()
    for (const p of this.#pendingTasks()) {
      const id = p.id
      if (id === 0) continue // settled meanwhile
      const r = this.#native.cancel(id)
      if (r !== TaskCancel.TooLate) this.#settle(id, p, false, err)
    }
  }

  #settleBound = (id, p, ok, value) => this.#settle(id, p, ok, value)

  /**
   * How this thread learns of results (see lib/native.js, "Polling"). With a
   * real backlog (more tasks than worker slots, and results that took
   * COALESCE_LATENCY_US or more to come back, so one more 1 ms tick is
   * noise), results stream in: take them once per timer tick for
   * `coalesceMicros` rather than be woken for each. Without a backlog, when
   * recent tasks came back within `pollMicros`, poll for that long instead
   * of sleeping until woken. Otherwise: a wake per batch.
   */
  #maybePoll() {
    const o = this.#options
    const pending = this.#pendingSize
    if (pending === 0) return
    if (pending > this.#workers.size * o.concurrency) {
      if (o.coalesceMicros > 0 && this.#latencyUs >= COALESCE_LATENCY_US) native.coalesceFor(o.coalesceMicros)
    } else if (o.pollMicros > 0 && this.#latencyUs <= o.pollMicros && !this.#native.contended()) {
      // Not while the pool holds (scheduler/spin.rs: most spins came up
      // empty, or other processes keep every core busy): the poll would
      // hold a CPU that the answering worker needs.
      native.pollFor(o.pollMicros)
    }
  }

  /** The pending tasks, oldest first (a copy: settling them unlinks them). */
  #pendingTasks() {
    const out = []
    for (let t = this.#first; t !== null; t = t.next) out.push(t)
    return out
  }

  #link(task) {
    task.prev = this.#last
    if (this.#last === null) this.#first = task
    else this.#last.next = task
    this.#last = task
    this.#pendingSize++
  }

  #settle(id, p, ok, value) {
    if (p.id !== id || id === 0) return // settled already
    p.id = 0
    if (p.prev === null) this.#first = p.next
    else p.prev.next = p.next
    if (p.next === null) this.#last = p.prev
    else p.next.prev = p.prev
    p.prev = p.next = null
    this.#pendingSize--
    p.emitDestroy()
    this.#completed++
    native.close(id)
    if (p.onAbort) p.signal.removeEventListener('abort', p.onAbort)
    if (p.unlink !== null) p.unlink()
    if (p.sharedKey !== null) this.#sharedArgs.delete(p.sharedKey)
    if (ok) p.resolve(value)
    else p.reject(value)
    if (this.#needsDrain && this.#pendingSize < this.#queueLimit) {
      this.#needsDrain = false
      queueMicrotask(() => this.emit('drain'))
    }
    this.#maybePoll()
    this.#maybeClosed()
  }

  /**
   * Runs the worker module's default export (or export `name`) with `arg`.
   * Every failure, bad arguments included, rejects the promise.
   */
  run(arg, options) {
    try {
      return this.#run(arg, options)
    } catch (err) {
      return Promise.reject(coded(err))
    }
  }

  /**
   * Runs the export on every item (one task per item; items cross threads
   * in chunks) and resolves to the results in input order (`ordered:
   * false`: in the order they finished). The first failure rejects, with the
   * item's position as the error's `index`; abort stops every chunk.
   */
  map(items, options) {
    try {
      const opts = poolMap.mapOptions(options, readOptions, { validateAbortSignal, validateBoolean, validateString })
      return poolMap.map(items, opts, this.#mapEnv(opts))
    } catch (err) {
      return Promise.reject(coded(err))
    }
  }

  /**
   * As map(), for an iterable or async iterable of any length: an async
   * iterator of the results, with a bounded number of chunks in flight.
   */
  imap(iterable, options) {
    const opts = poolMap.mapOptions(options, readOptions, { validateAbortSignal, validateBoolean, validateString })
    return poolMap.imap(iterable, opts, this.#mapEnv(opts))
  }

  #mapEnv(opts) {
    const runOptions = (signal) => {
      const o = { signal }
      if (opts.name !== undefined) o.name = opts.name
      if (opts.filename !== undefined) o.filename = opts.filename
      return o
    }
    return {
      slots: this.#options.maxThreads * this.#options.concurrency,
      runChunk: (items, signal) => {
        try {
          return this.#run(items, runOptions(signal), true)
        } catch (err) {
          return Promise.reject(coded(err))
        }
      },
    }
  }

  /** A run() filename, normalized (each distinct one is checked once). */
  #runFilename(raw) {
    const key = typeof raw === 'string' ? raw : null
    if (key !== null && this.#filenames.has(key)) return this.#filenames.get(key)
    const file = normalizeFilename(raw)
    if (key !== null && this.#filenames.size < 1024) this.#filenames.set(key, file)
    return file
  }

  #run(arg, options, chunk = false) {
    let filename = this.#options.filename
    let signal
    let unlink = null
    let name = this.#options.name ?? null
    let transferList
    let onMessage = null
    if (options !== undefined) {
      const opts = readOptions(options, 'options', RUN_OPTIONS)
      ;({ signal, unlink } = toSignal(opts.signal))
      if (opts.name !== undefined) name = validateString(opts.name, 'options.name')
      if (opts.transferList !== undefined) transferList = values.checkTransferList(opts.transferList)
      if (opts.onMessage !== undefined) onMessage = validateFunction(opts.onMessage, 'options.onMessage')
      if (opts.filename !== undefined && opts.filename !== null) filename = this.#runFilename(opts.filename)
    }
    if (name !== null && name.includes('\0')) throw invalidArgValue('options.name', name, 'must not contain null bytes')
    if (filename === null) {
      throw invalidArgValue('options.filename', undefined, 'must be given to run() when the pool has no filename')
    }
    if (chunk || filename !== this.#options.filename) {
      // A per-run file travels with the export name: "\0filename\0export";
      // a chunk of pool.map() items adds "\0map" (lib/pool/map.js).
      name = `\0${filename}\0${name ?? ''}${chunk ? '\0map' : ''}`
    }
    if (this.#closing || this.#closed || this.#loadError !== null || signal?.aborted ||
        this.#pendingSize >= this.#queueLimit) {
      unlink?.()
    }
    if (this.#closing || this.#closed) {
      return Promise.reject(errorWithCode('The pool is closed', 'ERR_SPINDLE_POOL_CLOSED'))
    }
    if (this.#loadError !== null) return Promise.reject(this.#loadError)
    if (signal?.aborted) return Promise.reject(abortError(signal))
    if (this.#pendingSize >= this.#queueLimit) {
      return Promise.reject(errorWithCode(
        `The task queue is full (maxQueue: ${this.#options.maxQueue})`, 'ERR_SPINDLE_QUEUE_FULL'))
    }
    let payload = arg
    let sharedKey = null
    // A primitive travels as itself: no encoder call, no closure per task.
    if (!values.isPrimitive(arg)) {
      try {
        payload = values.encode(arg, (value) => {
          // Holds a SharedArrayBuffer: the worker fetches it by postMessage,
          // which shares it. A snapshot now, as for every argument.
          sharedKey = `a${++this.#sharedSeq}`
          this.#sharedArgs.set(sharedKey, structuredClone(value))
          return values.sharedMarker(sharedKey)
        })
      } catch (err) {
        unlink?.()
        throw err
      }
    }
    const task = new Task(this, signal, onMessage)
    task.unlink = unlink
    task.sharedKey = sharedKey
    if (this.#pendingSize < LATENCY_SAMPLE || (++this.#sampleSeq & (LATENCY_SAMPLE - 1)) === 0) {
      task.start = performance.now()
    }
    executing = task
    const promise = new Promise(capture)
    executing = null
    const id = native.openEntry(task)
    task.id = id
    this.#link(task)
    if (this.#batchName !== name) this.#flush()
    this.#batchName = name
    this.#batchIds.push(id)
    this.#batchArgs.push(payload)
    const isBinary = values.isBinary(payload)
    if (isBinary || this.#batchIds.length >= FLUSH_AT) {
      // Snapshot binary arguments now (Rust copies them in the flush), and
      // only then take transferred buffers from the sender. A long burst is
      // handed over in slices too, so workers start while it is submitted.
      this.#flush()
    } else if (!this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(this.#flushBound)
    }
    if (transferList) values.detach(transferList)
    if (!this.#needsDrain && this.#pendingSize >= this.#queueLimit) {
      // The next task would be refused: 'drain' follows when one would be accepted again.
      this.#needsDrain = true
      queueMicrotask(() => this.emit('needsDrain'))
    }
    this.#startsBlocked = false
    this.#grow()
    if (signal) {
      task.onAbort = () => this.#abort(id, task)
      signal.addEventListener('abort', task.onAbort, { once: true })
    }
    return promise
  }

  /** Starts workers, up to maxThreads, while tasks outnumber worker slots. */
  #grow() {
    const o = this.#options
    if (this.#startsBlocked || this.#restartTimer !== null) return
    while (this.#workers.size < o.maxThreads && this.#loadError === null &&
           this.#pendingSize > this.#workers.size * o.concurrency) {
      const err = this.#spawn()
      if (err !== null) {
        this.#startFailed(err, true)
        return
      }
    }
  }

  /** Hands the tasks queued in this tick to the scheduler in one call. */
  #flush() {
    this.#flushQueued = false
    if (this.#batchIds.length === 0) return
    const ids = this.#batchIds
    const args = this.#batchArgs
    this.#batchIds = []
    this.#batchArgs = []
    if (!this.#native.submitBatch(ids, args, this.#batchName)) {
      const err = errorWithCode('The pool is closed', 'ERR_SPINDLE_POOL_CLOSED')
      const failed = new Set(ids)
      for (const t of this.#pendingTasks()) {
        if (failed.has(t.id)) this.#settle(t.id, t, false, err)
      }
      return
    }
    this.#maybePoll()
  }

  /** A task's completion (called by the completion path with the task as `this`). */
  static #onResult(status, value, id) {
    const key = status === CompletionStatus.Ok ? values.sharedKey(value) : null
    if (key !== null) {
      // The result holds a SharedArrayBuffer: it came (or comes) by postMessage.
      const pool = this.pool
      const deliver = (result) => this.runInAsyncScope(pool.#settleBound, pool, id, this, true, result)
      if (pool.#sharedResults.has(key)) {
        const result = pool.#sharedResults.get(key)
        pool.#sharedResults.delete(key)
        deliver(result)
      } else pool.#sharedWaiters.set(key, deliver)
      return
    }
    let kind = 'ok'
    let result = value
    // A primitive result is itself (no decode, no [kind, value] pair per task).
    if (status !== CompletionStatus.Ok || (value !== null && typeof value === 'object')) {
      ;[kind, result] = decodeCompletion(status, value)
    }
    if (kind === 'message') {
      if (this.onMessage !== null) this.runInAsyncScope(this.onMessage, null, result)
      return
    }
    const pool = this.pool
    if (this.start !== 0) pool.#latencyUs += ((performance.now() - this.start) * 1000 - pool.#latencyUs) / 8
    this.runInAsyncScope(pool.#settleBound, pool, id, this, kind === 'ok', result)
  }

  #abort(id, p) {
    const queued = this.#batchIds.indexOf(id)
    if (queued !== -1) {
      // Not handed to the scheduler yet: just drop it from this tick's batch.
      this.#batchIds.splice(queued, 1)
      this.#batchArgs.splice(queued, 1)
      p.onAbort = null
      this.#settle(id, p, false, abortError(p.signal))
      return
    }
    const r = this.#native.cancel(id)
    if (r === TaskCancel.TooLate) return // finished already; its result is on the way
    p.onAbort = null
    this.#settle(id, p, false, abortError(p.signal))
    // Running (r is its worker's thread id): the task cannot be interrupted,
    // so its worker is replaced.
    if (r >= 0) this.#replaceWorker(r)
  }

  #replaceWorker(threadId) {
    const info = this.#workers.get(threadId)
    if (!info) return
    info.retired = true
    this.#workers.delete(threadId)
    info.worker.terminate()
    // Other tasks it was running (concurrentTasksPerWorker > 1) run again elsewhere.
    this.#native.requeueWorker(threadId)
    this.#slots.delete(info.index)
    if (!this.#closing && !this.#closed) this.#replenish()
  }

  /** Counters: threads, queued, running, completed, failed, stolen, latency percentiles. */
  stats() {
    const s = this.#native.stats(this.#workers.size)
    return {
      threads: this.#workers.size,
      queued: s.queued,
      running: s.running,
      completed: s.completed,
      failed: s.failed,
      stolen: s.stolen,
      stolenByWorker: s.stolenByWorker,
      waitTime: s.waitTime,
      runTime: s.runTime,
      utilization: s.utilization,
      bytesCopied: s.bytesCopied,
      pending: this.#pendingSize,
      spin: {
        spins: s.spins,
        found: s.spinsFound,
        holds: s.contentionHolds,
        held: this.#native.contended(),
      },
    }
  }

  /** Whether a new task would be refused now (maxQueue reached); 'drain' says when it no longer is. */
  get needsDrain() {
    return this.#needsDrain
  }

  get threads() {
    return [...this.#workers.values()].map((w) => w.worker)
  }

  /** Live workers running no task now (piscina's idleThreads). */
  get idleThreads() {
    const busy = new Set(this.#native.busyWorkers())
    let idle = 0
    for (const threadId of this.#workers.keys()) if (!busy.has(threadId)) idle += 1
    return idle
  }

  #maybeClosed() {
    if (this.#closing && this.#pendingSize === 0 && this.#closeWaiters.length > 0) {
      const waiters = this.#closeWaiters
      this.#closeWaiters = []
      for (const w of waiters) w()
    }
  }

  /**
   * Finishes queued and running tasks, then stops the workers. With
   * `{ force: true }`, queued tasks reject with ERR_SPINDLE_POOL_CLOSED and
   * only running ones are waited for. After `closeTimeout` ms, what is still
   * pending rejects with ERR_SPINDLE_CLOSE_TIMEOUT.
   */
  async close(options) {
    const opts = readOptions(options, 'options', ['force'])
    if (opts.force !== undefined && typeof opts.force !== 'boolean') {
      throw invalidArgType('options.force', 'of type boolean', opts.force)
    }
    if (this.#closed) return
    this.#closing = true
    if (opts.force === true) {
      this.#flush()
      const err = errorWithCode('The pool is closed', 'ERR_SPINDLE_POOL_CLOSED')
      for (const p of this.#pendingTasks()) {
        const id = p.id
        if (id === 0) continue // settled meanwhile
        if (this.#native.cancelQueued(id)) this.#settle(id, p, false, err)
      }
    }
    if (this.#pendingSize > 0) {
      // Keep the process alive while draining.
      const keep = native.open(() => {})
      let timer = null
      await new Promise((resolve) => {
        this.#closeWaiters.push(resolve)
        const timeout = this.#options.closeTimeout
        if (Number.isFinite(timeout)) {
          timer = setTimeout(() => {
            const err = errorWithCode(`The pool did not close within ${timeout} ms`, 'ERR_SPINDLE_CLOSE_TIMEOUT')
            for (const p of this.#pendingTasks()) {
              const id = p.id
              if (id === 0) continue // settled meanwhile
              this.#native.cancel(id)
              this.#settle(id, p, false, err)
            }
            resolve()
          }, timeout)
        }
      })
      if (timer !== null) clearTimeout(timer)
      native.close(keep)
    }
    await this.#stop()
  }

  /** Rejects everything pending and stops the workers at once. */
  async destroy() {
    if (this.#closed) return
    this.#closing = true
    const err = errorWithCode('The pool was destroyed', 'ERR_SPINDLE_POOL_DESTROYED')
    this.#flush()
    for (const p of this.#pendingTasks()) {
      const id = p.id
      if (id === 0) continue // settled meanwhile
      this.#native.cancel(id)
      this.#settle(id, p, false, err)
    }
    await this.#stop()
  }

  async #stop() {
    this.#flush()
    this.#closed = true
    this.#native.close()
    const workers = [...this.#workers.values()]
    this.#workers.clear()
    await Promise.all(workers.map((w) => w.worker.terminate()))
    this.emit('close')
  }

  async [Symbol.asyncDispose]() {
    await this.close()
  }

  /** Starts close() (as piscina's does); use `await using` to wait for it. */
  [Symbol.dispose]() {
    this.close().catch(() => {})
  }

  /** The options in effect (normalized, frozen). */
  get options() {
    return this.#publicOptions
  }

  get minThreads() {
    return this.#options.minThreads
  }

  get maxThreads() {
    return this.#options.maxThreads
  }

  /**
   * Tasks beyond what the workers can take at once (piscina's queueSize:
   * pending tasks minus workers × concurrentTasksPerWorker), exact right
   * after run() returns.
   */
  get queueSize() {
    return Math.max(0, this.#pendingSize - this.#workers.size * this.#options.concurrency)
  }

  /** Tasks settled so far (resolved or rejected). */
  get completed() {
    return this.#completed
  }

  /** Milliseconds since the pool was created. */
  get duration() {
    return performance.now() - this.#started
  }

  /** piscina's utilization: total run time ÷ (duration × maxThreads). */
  get utilization() {
    const [count, meanNs] = this.#native.summary(true, [])
    if (count === 0) return 0
    return (count * meanNs / 1e6) / (this.duration * this.#options.maxThreads)
  }

  #summary(run) {
    const raw = this.#native.summary(run, QUANTILES.map((q) => q[1]))
    const ms = (ns) => ns / 1e6
    const out = { average: ms(raw[1]), mean: ms(raw[1]), stddev: ms(raw[2]), min: ms(raw[3]), max: ms(raw[4]) }
    QUANTILES.forEach(([key], i) => {
      out[key] = ms(raw[5 + i])
    })
    return out
  }

  /** Run-time summary in milliseconds, in piscina's shape (mean, stddev, min, max, p0_001 … p99_999). */
  get runTime() {
    return this.#summary(true)
  }

  /** Wait-time summary in milliseconds, in piscina's shape. */
  get waitTime() {
    return this.#summary(false)
  }

  /** piscina's `histogram`: runTime, waitTime, resetRunTime(), resetWaitTime(). */
  get histogram() {
    if (this.#histogram === null) {
      const pool = this
      this.#histogram = {
        get runTime() {
          return pool.runTime
        },
        get waitTime() {
          return pool.waitTime
        },
        resetRunTime: () => this.#native.resetHistogram(true),
        resetWaitTime: () => this.#native.resetHistogram(false),
      }
    }
    return this.#histogram
  }

  static {
    // The completion path calls `entry.handler(status, value, id)` on each task.
    Task.prototype.handler = Pool.#onResult
  }
}

if (typeof Symbol.dispose !== 'symbol') {
  Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('nodejs.dispose') })
}
if (typeof Symbol.asyncDispose !== 'symbol') {
  // Node 20 has no Symbol.asyncDispose on every version; alias it if missing.
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose') })
}

module.exports = { Pool, normalizeFilename }
