'use strict'
// Pool: runs the program's own JavaScript functions on worker threads. Tasks
// go into the Rust work-stealing scheduler (no message to a worker per task);
// results come back through the batched completion path.

const { AsyncResource } = require('node:async_hooks')
const { EventEmitter } = require('node:events')
const { Worker } = require('node:worker_threads')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const native = require('./native')
const { abortError, errorWithCode, invalidArgType, invalidArgValue } = require('./errors')
const { deserializeError } = require('./task-errors')
const values = require('./pool-values')
const {
  validateAbortSignal,
  validateFunction,
  validateInteger,
  validateKnownOptions,
  validateObject,
  validateString,
} = require('./validate')

const RUNTIME = path.join(__dirname, 'pool-worker.js')
const OPTIONS = [
  'filename', 'name', 'minThreads', 'maxThreads', 'idleTimeout', 'maxQueue',
  'concurrentTasksPerWorker', 'resourceLimits', 'env', 'argv', 'execArgv', 'workerData',
  'waitMicros', 'spinMicros', 'pollMicros', 'coalesceMicros',
]
const RUN_OPTIONS = ['name', 'signal', 'transferList', 'onMessage']
/** Results are coalesced on timer ticks only once they take this long to come back (µs). */
const COALESCE_LATENCY_US = 5000
/** Tasks submitted in one tick are handed to the scheduler at most this many at a time. */
const FLUSH_AT = 256

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
  if (filename.startsWith('file:')) filename = require('node:url').fileURLToPath(filename)
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

/** The per-task entry in the completion table. */
class Task {
  constructor(pool, signal, onMessage) {
    this.pool = pool
    this.ref = true
    this.signal = signal
    this.onAbort = null
    this.onMessage = onMessage
    this.resolve = null
    this.reject = null
    this.start = performance.now()
    // The task is an async resource: the caller's async context (for example
    // an AsyncLocalStorage store) is active where it settles and in onMessage.
    this.scope = new AsyncResource('spindle.Task', { requireManualDestroy: true })
  }
}

class Pool extends EventEmitter {
  #native
  #options
  #workers = new Map() // threadId → { worker, index, ready }
  #slots = new Set() // slot numbers in use; slots below minThreads never retire
  #pending = new Map() // id → { resolve, reject, signal, onAbort }
  #closing = false
  #closed = false
  #loadError = null
  #queueFull = false
  #closeWaiters = []
  #queueLimit = Infinity
  #batchIds = []
  #batchArgs = []
  #batchName = null
  #flushQueued = false
  #flushBound = () => this.#flush()
  #latencyUs = 0 // moving average of submit → result: decides polling and coalescing

  constructor(options) {
    super()
    const opts = validateObject(options, 'options', { optional: false })
    validateKnownOptions(opts, OPTIONS)
    const maxThreads = opts.maxThreads === undefined
      ? defaultThreads()
      : validateInteger(opts.maxThreads, 'options.maxThreads', 1, 1024)
    const minThreads = opts.minThreads === undefined
      ? maxThreads
      : validateInteger(opts.minThreads, 'options.minThreads', 0, maxThreads)
    const idleTimeout = opts.idleTimeout === undefined
      ? Infinity
      : opts.idleTimeout === Infinity ? Infinity : validateInteger(opts.idleTimeout, 'options.idleTimeout', 0)
    const maxQueue = opts.maxQueue === undefined || opts.maxQueue === Infinity
      ? Infinity
      : validateInteger(opts.maxQueue, 'options.maxQueue', 0)
    const concurrency = opts.concurrentTasksPerWorker === undefined
      ? 1
      : validateInteger(opts.concurrentTasksPerWorker, 'options.concurrentTasksPerWorker', 1, 1e6)
    for (const key of ['argv', 'execArgv']) {
      if (opts[key] !== undefined && !Array.isArray(opts[key])) throw invalidArgType(`options.${key}`, 'an instance of Array', opts[key])
    }
    if (opts.name !== undefined) validateString(opts.name, 'options.name')
    if (opts.resourceLimits !== undefined) validateObject(opts.resourceLimits, 'options.resourceLimits')
    if (opts.env !== undefined && (opts.env === null || typeof opts.env !== 'object')) {
      throw invalidArgType('options.env', 'of type object', opts.env)
    }
    this.#options = {
      filename: normalizeFilename(opts.filename),
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
      workerOptions: {
        resourceLimits: opts.resourceLimits,
        env: opts.env,
        argv: opts.argv,
        execArgv: opts.execArgv,
      },
      workerData: opts.workerData,
    }
    this.#queueLimit = maxQueue + maxThreads * concurrency
    this.#native = new native.binding.NativePool(native.getPort(), concurrency > 1)
    for (let i = 0; i < minThreads; i++) this.#spawn()
  }

  #spawn() {
    let index = 0
    while (this.#slots.has(index)) index++
    this.#slots.add(index)
    const o = this.#options
    const worker = new Worker(RUNTIME, {
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
          index,
        },
        user: o.workerData,
      },
    })
    const info = { worker, index, retired: false, error: null }
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
  }

  #onMessage(info, msg) {
    if (!msg || typeof msg !== 'object') return
    if (msg.spindle === 'retired') info.retired = true
    else if (msg.spindle === 'load-error') {
      this.#loadError = deserializeError(msg.error)
      this.#failAll(this.#loadError)
    }
  }

  #onExit(threadId, info, code) {
    this.#workers.delete(threadId)
    this.#slots.delete(info.index)
    if (this.#closed || info.retired) return
    const why = info.error
      ? `the worker running this task died: ${info.error.message}`
      : `the worker running this task exited with code ${code}`
    this.#native.workerDied(threadId, why)
    if (this.#loadError === null && !this.#closing) {
      // Replace it, so queued tasks keep running and minThreads holds.
      if (this.#workers.size < this.#options.minThreads) this.#spawn()
      this.#grow()
    }
    this.#maybeClosed()
  }

  #failAll(err) {
    for (const [id, p] of this.#pending) {
      this.#flush()
      const r = this.#native.cancel(id)
      if (r === 0) this.#settle(id, p, false, err)
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
    const pending = this.#pending.size
    if (pending === 0) return
    if (pending > this.#workers.size * o.concurrency) {
      if (o.coalesceMicros > 0 && this.#latencyUs >= COALESCE_LATENCY_US) native.coalesceFor(o.coalesceMicros)
    } else if (o.pollMicros > 0 && this.#latencyUs <= o.pollMicros) {
      native.pollFor(o.pollMicros)
    }
  }

  #settle(id, p, ok, value) {
    if (!this.#pending.has(id)) return
    p.scope.emitDestroy()
    this.#pending.delete(id)
    native.close(id)
    if (p.onAbort) p.signal.removeEventListener('abort', p.onAbort)
    if (ok) p.resolve(value)
    else p.reject(value)
    if (this.#queueFull && this.#pending.size < this.#options.maxQueue) {
      this.#queueFull = false
      this.emit('drain')
    }
    this.#maybePoll()
    this.#maybeClosed()
  }

  /**
   * Runs the worker module's default export (or export `name`) with `arg`.
   */
  run(arg, options) {
    let signal
    let name = this.#options.name ?? null
    let transferList
    let onMessage = null
    if (options !== undefined) {
      const opts = validateObject(options, 'options')
      validateKnownOptions(opts, RUN_OPTIONS)
      signal = validateAbortSignal(opts.signal, 'options.signal')
      if (opts.name !== undefined) name = validateString(opts.name, 'options.name')
      if (opts.transferList !== undefined && !Array.isArray(opts.transferList)) {
        throw invalidArgType('options.transferList', 'an instance of Array', opts.transferList)
      }
      transferList = opts.transferList
      if (opts.onMessage !== undefined) onMessage = validateFunction(opts.onMessage, 'options.onMessage')
    }
    if (this.#closing || this.#closed) {
      return Promise.reject(errorWithCode('The pool is closed', 'ERR_SPINDLE_POOL_CLOSED'))
    }
    if (this.#loadError !== null) return Promise.reject(this.#loadError)
    if (signal?.aborted) return Promise.reject(abortError(signal))
    if (this.#pending.size >= this.#queueLimit) {
      this.#queueFull = true
      return Promise.reject(errorWithCode(
        `The task queue is full (maxQueue: ${this.#options.maxQueue})`, 'ERR_SPINDLE_QUEUE_FULL'))
    }
    let payload
    try {
      payload = values.encode(arg)
    } catch (err) {
      return Promise.reject(err)
    }
    const task = new Task(this, signal, onMessage)
    const promise = new Promise((resolve, reject) => {
      task.resolve = resolve
      task.reject = reject
    })
    const id = native.openEntry(task)
    this.#pending.set(id, task)
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
    while (this.#workers.size < o.maxThreads && this.#loadError === null &&
           this.#pending.size > this.#workers.size * o.concurrency) {
      this.#spawn()
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
      for (const id of ids) {
        const t = this.#pending.get(id)
        if (t) this.#settle(id, t, false, err)
      }
      return
    }
    this.#maybePoll()
  }

  /** A task's completion (called by the completion path with the task as `this`). */
  static #onResult(status, value, id) {
    const [kind, result] = values.decodeCompletion(status, value)
    if (kind === 'message') {
      if (this.onMessage !== null) this.scope.runInAsyncScope(this.onMessage, null, result)
      return
    }
    const pool = this.pool
    pool.#latencyUs += ((performance.now() - this.start) * 1000 - pool.#latencyUs) / 8
    this.scope.runInAsyncScope(pool.#settleBound, pool, id, this, kind === 'ok', result)
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
    if (r === -1) return // finished already; its result is on the way
    p.onAbort = null
    this.#settle(id, p, false, abortError(p.signal))
    if (r > 0) {
      // Running: the task cannot be interrupted, so its worker is replaced.
      const info = this.#workers.get(r)
      if (info) {
        info.retired = true
        this.#workers.delete(r)
        info.worker.terminate()
        // Other tasks it was running (concurrentTasksPerWorker > 1) run again elsewhere.
        this.#native.requeueWorker(r)
        this.#slots.delete(info.index)
        if (!this.#closing && !this.#closed) {
          if (this.#workers.size < this.#options.minThreads) this.#spawn()
          this.#grow()
        }
      }
    }
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
      pending: this.#pending.size,
    }
  }

  get threads() {
    return [...this.#workers.values()].map((w) => w.worker)
  }

  #maybeClosed() {
    if (this.#closing && this.#pending.size === 0 && this.#closeWaiters.length > 0) {
      const waiters = this.#closeWaiters
      this.#closeWaiters = []
      for (const w of waiters) w()
    }
  }

  /** Finishes queued and running tasks, then stops the workers. */
  async close() {
    if (this.#closed) return
    this.#closing = true
    if (this.#pending.size > 0) {
      // Keep the process alive while draining.
      const keep = native.open(() => {})
      await new Promise((resolve) => this.#closeWaiters.push(resolve))
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
    for (const [id, p] of [...this.#pending]) {
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
  }

  async [Symbol.asyncDispose]() {
    await this.close()
  }

  static {
    // The completion path calls `entry.handler(status, value, id)` on each task.
    Task.prototype.handler = Pool.#onResult
  }
}

if (typeof Symbol.asyncDispose !== 'symbol') {
  // Node 20 has no Symbol.asyncDispose on every version; alias it if missing.
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose') })
}

module.exports = { Pool }
