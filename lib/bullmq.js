'use strict'
// spindle/bullmq: the same Pool, served on many machines through BullMQ.
//
// serve() runs a BullMQ Worker whose processor is a local spindle Pool: the
// BullMQ bookkeeping (fetching, lock renewal, stalled checks) stays on the
// main thread, the task functions run on the pool's threads. RemotePool
// submits jobs and settles each caller's promise from the queue's event
// stream (QueueEvents), so any number of callers in any number of processes
// share one queue and each gets its own results.
//
// What travels, and how (everything is plain BullMQ underneath):
//   job data      { $spindle: 1, v8: base64(v8.serialize(arg)) } from a RemotePool,
//                 or { $spindle: 1, json: arg } when arg is a primitive that JSON
//                 carries exactly (a finite number but -0, a well-formed string,
//                 a boolean, null): no v8 serializer, no base64, on any side;
//                 anything else is a plain job: the task gets job.data as it is
//   return value  the same envelope for RemotePool jobs, job.data's JSON otherwise
//   ctx.postMessage  job.updateProgress(envelope) ('progress' events)
//   a task error  thrown to BullMQ as itself (failedReason = its message, its
//                 stack in the job's stacktrace), after a 'spindle:error' custom
//                 event (QueueEventsProducer) that carries the whole error
//                 record (name, message, stack, code, cause, own properties)
//   cancellation  a waiting job is removed; a running one is cancelled through
//                 BullMQ's own mechanism: the processor's AbortSignal, aborted
//                 by worker.cancelJob() on the machine that runs it, reached
//                 across processes through BullMQ's Relay (topic
//                 `jobs.<queue>.cancel`, as in BullMQ's guide "Cancelling jobs
//                 on other workers").
//
// Nothing here is loaded by require('spindle').

const { AsyncResource } = require('node:async_hooks')
const { EventEmitter } = require('node:events')
const { randomBytes } = require('node:crypto')
const os = require('node:os')
const v8 = require('node:v8')
const path = require('node:path')
const { Pool, normalizeFilename } = require('./pool')
const { pack, packValue, isJsonPrimitive } = require('./bullmq-task')
const { getOwn, snapshot } = require('./options')
const { abortError, errorWithCode, invalidArgType, invalidArgValue, outOfRange } = require('./errors')
const { deserializeError, serializeError } = require('./pool/task-errors')
const { validateAbortSignal, validateFunction, validateInteger, validateString } = require('./validate')

function loadBullmq() {
  try {
    return require('bullmq')
  } catch (cause) {
    if (cause && cause.code === 'MODULE_NOT_FOUND' && String(cause.message).includes("'bullmq'")) {
      throw errorWithCode(
        "spindle/bullmq needs the 'bullmq' package, a peer dependency of this entry: npm install bullmq",
        'ERR_SPINDLE_MISSING_PEER',
        { cause },
      )
    }
    throw cause
  }
}

const bullmq = loadBullmq()

const POOL_OPTIONS = [
  'filename', 'name', 'minThreads', 'maxThreads', 'idleTimeout', 'maxQueue',
  'concurrentTasksPerWorker', 'resourceLimits', 'env', 'argv', 'execArgv', 'workerData',
  'waitMicros', 'spinMicros', 'pollMicros', 'coalesceMicros',
]
const SERVE_OPTIONS = ['queue', 'connection', 'prefix', 'worker', 'route', ...POOL_OPTIONS]
const REMOTE_OPTIONS = ['queue', 'connection', 'prefix', 'job', 'checkInterval']
const RUN_OPTIONS = ['name', 'signal', 'onMessage', 'job', 'transferList']

/** The job name of a run() without `name`: the task module's default export. */
const DEFAULT_NAME = 'default'
const ERROR_EVENT = 'spindle:error'
/** Kept in the events stream by our custom events, as BullMQ's own default. */
const EVENTS_MAX_LEN = 10_000
/** Results stay in Redis this long by default (the caller's fallback reads them there). */
const DEFAULT_JOB_OPTIONS = { removeOnComplete: { age: 3600 }, removeOnFail: { age: 24 * 3600 } }
/** Cancellations that arrived before their job started here are remembered this long. */
const EARLY_CANCEL_MS = 60_000
const EARLY_CANCEL_MAX = 10_000
const SWEEP_CHUNK = 100
const TASK_WRAPPER = path.join(__dirname, 'bullmq-task.js')

// ─── encoding ────────────────────────────────────────────────────────────

function isEnvelope(data) {
  return data !== null && typeof data === 'object' && data.$spindle === 1 &&
    (typeof data.v8 === 'string' || (Object.hasOwn(data, 'json') && isJsonPrimitive(data.json)))
}

/**
 * A value in the envelope: a JSON primitive as itself, anything else as its
 * structured clone (base64 so that it fits in BullMQ's JSON).
 */
function wrap(value) {
  if (isJsonPrimitive(value)) return { $spindle: 1, json: value }
  return { $spindle: 1, v8: v8.serialize(value).toString('base64') }
}

function unwrap(data) {
  if (typeof data.v8 === 'string') return v8.deserialize(Buffer.from(data.v8, 'base64'))
  return data.json
}

/** A value that came back through BullMQ: the envelope's value, or plain JSON as it is. */
function fromJob(data) {
  return isEnvelope(data) ? unwrap(data) : data
}

function errorFromRecord(base64) {
  return deserializeError(Buffer.from(base64, 'base64'))
}

/** What is known of a failed job without its error record: message and stack. */
function errorFromJob(failedReason, stacktrace) {
  const err = new Error(typeof failedReason === 'string' ? failedReason : 'The job failed')
  const stack = Array.isArray(stacktrace) && stacktrace.length ? stacktrace[stacktrace.length - 1] : null
  if (typeof stack === 'string') {
    err.stack = stack
    const m = /^([A-Za-z_$][\w$]*)(?: \[[^\]]+\])?: /.exec(stack)
    if (m && m[1] !== 'Error') Object.defineProperty(err, 'name', { value: m[1], writable: true, configurable: true })
  }
  return err
}

/** Relay topic segments allow [A-Za-z0-9_:%-]: anything else of a queue name is %-encoded. */
function topicSegment(name) {
  return Buffer.from(name, 'utf8').reduce((s, b) => {
    const c = String.fromCharCode(b)
    return s + (/[A-Za-z0-9_-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)
  }, '')
}

function cancelTopic(queue) {
  return `jobs.${topicSegment(queue)}.cancel`
}

// ─── options ─────────────────────────────────────────────────────────────

function readOptions(options, known, what) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options)
  }
  let keys
  try {
    keys = Object.keys(options)
  } catch (cause) {
    const err = invalidArgValue('options', options, 'could not be read')
    err.cause = cause
    throw err
  }
  for (const key of keys) {
    if (!known.includes(key)) throw invalidArgValue(`options.${key}`, options[key], `is not a known option of ${what}`)
  }
  return snapshot(options, known)
}

function validateQueueName(value, name) {
  validateString(value, name)
  if (value === '' || value.includes(':')) throw invalidArgValue(name, value, 'must be a non-empty string without ":"')
  return value
}

function validateConnection(value, name) {
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type object', value)
  return value
}

function validatePlainObject(value, name) {
  if (value === undefined) return undefined
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgType(name, 'of type object', value)
  return value
}

/** An own-property copy of a plain options object (for BullMQ, which reads everything). */
function ownCopy(obj, name) {
  if (obj === undefined) return {}
  const out = {}
  for (const key of Object.keys(obj)) out[key] = getOwn(obj, key, name)
  return out
}

function defaultThreads() {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
}

/** Forwards an emitter's 'error' events to `target` when it listens; else drops them. */
function forwardErrors(source, target) {
  source.on('error', (err) => {
    if (target.listenerCount('error') > 0) target.emit('error', err)
  })
}

// ─── serve ───────────────────────────────────────────────────────────────

/**
 * Serves a queue with a local Pool. Resolves once the BullMQ Worker is
 * connected and listening for cancellations.
 */
async function serve(options) {
  const o = readOptions(options, SERVE_OPTIONS, 'serve()')
  const queue = validateQueueName(o.queue, 'options.queue')
  const connection = validateConnection(o.connection, 'options.connection')
  if (o.prefix !== undefined) validateString(o.prefix, 'options.prefix')
  const workerOptions = ownCopy(validatePlainObject(o.worker, 'options.worker'), 'options.worker')
  const route = o.route === undefined ? defaultRoute : validateFunction(o.route, 'options.route')
  const filename = normalizeFilename(o.filename)
  const defaultName = o.name === undefined ? null : validateString(o.name, 'options.name')
  // The pool runs the wrapper (lib/bullmq-task.js), which runs the user's module.
  const poolOptions = { filename: TASK_WRAPPER }
  for (const key of POOL_OPTIONS) if (key in o && key !== 'filename' && key !== 'name') poolOptions[key] = o[key]
  checkWorkerNumbers(workerOptions)
  const pool = new Pool(poolOptions)
  let server
  try {
    server = new Server(pool, { queue, connection, prefix: o.prefix, workerOptions, route, poolOptions, filename, defaultName })
  } catch (err) {
    // BullMQ refused its options (a negative maxStalledCount...): no threads left behind.
    await pool.destroy()
    throw err
  }
  try {
    await server.start()
  } catch (err) {
    await server.close().catch(() => {})
    throw err
  }
  return server
}

// BullMQ's Worker checks these only after its constructor has opened a Redis
// connection, which then leaks (retrying and logging for ever) when the check
// throws. So they are checked here first, with a code.
const WORKER_NUMBERS = [
  ['maxStalledCount', 0, true],
  ['maxStartedAttempts', 0, true],
  ['stalledInterval', 0, false],
  ['drainDelay', 0, false],
  ['concurrency', 0, false],
]

function checkWorkerNumbers(workerOptions) {
  for (const [key, min, inclusive] of WORKER_NUMBERS) {
    const v = workerOptions[key]
    if (v === undefined) continue
    const name = `options.worker.${key}`
    if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v)
    if (!(inclusive ? v >= min : v > min) || (key === 'concurrency' && !Number.isFinite(v))) {
      throw outOfRange(name, inclusive ? `>= ${min}` : `> ${min}${key === 'concurrency' ? ' and finite' : ''}`, v)
    }
  }
}


/** A job named `default` (or unnamed) runs the default export; any other name, that export. */
function defaultRoute(job) {
  return job.name && job.name !== DEFAULT_NAME ? job.name : undefined
}

class Server extends EventEmitter {
  #queue
  #connection
  #prefix
  #route
  #filename
  #defaultName
  #events = null
  #relay = null
  #early = new Map() // jobId → time a cancellation arrived before the job ran here
  #closing = null

  constructor(pool, { queue, connection, prefix, workerOptions, route, poolOptions, filename, defaultName }) {
    super()
    this.pool = pool
    this.#filename = filename
    this.#defaultName = defaultName
    this.#queue = queue
    this.#connection = connection
    this.#prefix = prefix
    this.#route = route
    const capacity = (poolOptions.maxThreads ?? defaultThreads()) * (poolOptions.concurrentTasksPerWorker ?? 1)
    const opts = { ...workerOptions, connection, autorun: false }
    if (prefix !== undefined) opts.prefix = prefix
    if (opts.concurrency === undefined) opts.concurrency = capacity
    // Three parameters: BullMQ gives the processor an AbortSignal (worker.cancelJob).
    const processor = (job, token, signal) => this.#process(job, token, signal)
    this.worker = new bullmq.Worker(queue, processor, opts)
    forwardErrors(this.worker, this)
  }

  async start() {
    const base = { connection: this.#connection }
    if (this.#prefix !== undefined) base.prefix = this.#prefix
    this.#events = new bullmq.QueueEventsProducer(this.#queue, { ...base })
    forwardErrors(this.#events, this)
    this.#relay = new bullmq.Relay({ ...base, name: `spindle serve ${this.#queue}` })
    forwardErrors(this.#relay, this)
    await this.#relay.subscribe(cancelTopic(this.#queue), (message) => this.#onCancel(message.data))
    await this.worker.waitUntilReady()
    this.worker.run().catch((err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
  }

  #onCancel(data) {
    if (data === null || typeof data !== 'object' || typeof data.jobId !== 'string') return
    const reason = typeof data.reason === 'string' ? data.reason : 'cancelled by its caller'
    if (this.worker.cancelJob(data.jobId, reason)) return
    // Not running here (yet): if it starts here soon, it starts cancelled.
    const now = Date.now()
    if (this.#early.size >= EARLY_CANCEL_MAX) {
      for (const [id, t] of this.#early) if (now - t > EARLY_CANCEL_MS || this.#early.size >= EARLY_CANCEL_MAX) this.#early.delete(id)
    }
    this.#early.set(data.jobId, now)
  }

  async #process(job, token, signal) {
    const early = this.#early.get(job.id)
    if (early !== undefined) {
      this.#early.delete(job.id)
      if (Date.now() - early <= EARLY_CANCEL_MS) throw new bullmq.UnrecoverableError('cancelled by its caller')
    }
    const envelope = isEnvelope(job.data)
    const name = this.#route(job) ?? this.#defaultName
    let arg
    try {
      // A RemotePool's value stays bytes here: it is decoded on the pool's
      // thread. A JSON primitive (in an envelope or as a plain job's data)
      // travels as itself.
      if (envelope && typeof job.data.v8 === 'string') {
        arg = pack(this.#filename, name, Buffer.from(job.data.v8, 'base64'))
      } else arg = packValue(this.#filename, name, envelope ? job.data.json : job.data)
    } catch (err) {
      throw new bullmq.UnrecoverableError(`spindle: the job's data could not be decoded: ${err.message}`)
    }
    // Progress writes go out in order on the worker's connection; the result
    // waits for them, so every message precedes the job's end in the stream.
    let writes = null
    const onMessage = (m) => {
      let progress
      try {
        progress = envelope ? { $spindle: 1, v8: m.toString('base64') } : v8.deserialize(m)
      } catch (err) {
        if (this.listenerCount('error') > 0) this.emit('error', err)
        return
      }
      const w = job.updateProgress(progress).catch((err) => {
        if (this.listenerCount('error') > 0) this.emit('error', err)
      })
      ;(writes ??= []).push(w)
    }
    const runOptions = { onMessage }
    if (signal) runOptions.signal = signal
    let result
    try {
      result = await this.pool.run(arg, runOptions)
    } catch (err) {
      if (writes) await Promise.all(writes)
      if (signal?.aborted) {
        throw new bullmq.UnrecoverableError(`cancelled: ${signal.reason ?? 'by its caller'}`)
      }
      if (envelope) {
        // The whole error for the caller, ahead of BullMQ's 'failed' event.
        await this.#events.publishEvent(
          { eventName: ERROR_EVENT, jobId: job.id, error: serializeError(err).toString('base64') },
          EVENTS_MAX_LEN,
        ).catch((e) => {
          if (this.listenerCount('error') > 0) this.emit('error', e)
        })
      }
      if (err instanceof Error) throw err
      const wrapped = new Error(`A task threw a non-Error value: ${describe(err)}`)
      wrapped.thrown = err
      throw wrapped
    }
    if (writes) await Promise.all(writes)
    // The wrapper answers a JSON primitive as itself, anything else as v8 bytes.
    if (!Buffer.isBuffer(result)) return envelope ? wrap(result) : result
    return envelope ? { $spindle: 1, v8: result.toString('base64') } : v8.deserialize(result)
  }

  /** Stops taking jobs, waits for the running ones, then stops the pool. */
  close() {
    this.#closing ??= (async () => {
      try {
        await this.worker.close()
      } finally {
        await Promise.allSettled([
          this.pool.close(),
          this.#relay?.close(),
          this.#events?.close(),
        ])
      }
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose]() {
    await this.close()
  }
}

function describe(value) {
  try {
    return String(value)
  } catch {
    return typeof value
  }
}

// ─── RemotePool ──────────────────────────────────────────────────────────

class RemoteTask {
  constructor(id, onMessage, signal) {
    this.id = id
    this.onMessage = onMessage
    this.signal = signal
    this.onAbort = null
    this.resolve = null
    this.reject = null
    this.added = false
    this.since = Date.now()
    this.error = null // the last error record seen ('spindle:error')
    this.custom = false // a caller-chosen jobId
    this.adding = null // the add in flight
    this.scope = onMessage ? new AsyncResource('spindle.RemoteTask', { requireManualDestroy: true }) : null
  }
}

/**
 * Submits tasks to the machines that serve a queue (serve()), with the
 * promise semantics of Pool.run.
 */
class RemotePool extends EventEmitter {
  #queueName
  #connection
  #prefix
  #queue
  #events = null
  #relay = null
  #ready
  #pending = new Map() // jobId → RemoteTask
  #idPrefix = `sp${randomBytes(6).toString('hex')}-`
  #nextId = 0
  #batch = []
  #flushQueued = false
  #closing = false
  #closed = null
  #closeWaiters = []
  #sweepTimer = null
  #sweeping = false
  #checkInterval
  #cancels = new Set() // cancellations on their way to Redis

  constructor(options) {
    super()
    const o = readOptions(options, REMOTE_OPTIONS, 'RemotePool')
    this.#queueName = validateQueueName(o.queue, 'options.queue')
    this.#connection = validateConnection(o.connection, 'options.connection')
    if (o.prefix !== undefined) this.#prefix = validateString(o.prefix, 'options.prefix')
    const jobDefaults = ownCopy(validatePlainObject(o.job, 'options.job'), 'options.job')
    this.#checkInterval = o.checkInterval === undefined ? 5000 : validateInteger(o.checkInterval, 'options.checkInterval', 10, 3_600_000)
    const base = { connection: this.#connection }
    if (this.#prefix !== undefined) base.prefix = this.#prefix
    this.#queue = new bullmq.Queue(this.#queueName, { ...base, defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...jobDefaults } })
    forwardErrors(this.#queue, this)
    this.#ready = this.#start(base)
    this.#ready.catch(() => {})
  }

  async #start(base) {
    await this.#queue.waitUntilReady()
    // Read the event stream from where it is now, so that no event of a job
    // added after this point is missed, however late the first XREAD is.
    let lastEventId = '0-0'
    const client = await this.#queue.getBackend().client
    const last = await client.xrevrange(this.#queue.keys.events, '+', '-', 'COUNT', 1)
    if (Array.isArray(last) && last.length) lastEventId = last[0][0]
    const events = new bullmq.QueueEvents(this.#queueName, { ...base, lastEventId })
    this.#events = events
    forwardErrors(events, this)
    events.on('completed', ({ jobId, returnvalue }) => this.#completed(jobId, returnvalue))
    events.on('failed', ({ jobId, failedReason }) => this.#failed(jobId, failedReason, undefined))
    events.on('progress', ({ jobId, data }) => this.#progress(jobId, data))
    events.on(ERROR_EVENT, ({ jobId, error }) => {
      const t = this.#pending.get(jobId)
      if (t && typeof error === 'string') t.error = error
    })
    events.on('removed', ({ jobId }) => {
      const t = this.#pending.get(jobId)
      if (t && t.added) this.#settle(t, false, errorWithCode(`Job ${jobId} was removed from queue "${this.#queueName}"`, 'ERR_SPINDLE_JOB_LOST'))
    })
    await events.waitUntilReady()
  }

  /** Runs the task module's default export (or export `name`) with `arg` on a serving machine. */
  run(arg, options) {
    let task
    try {
      task = this.#prepare(arg, options)
    } catch (err) {
      return Promise.reject(err)
    }
    if (!(task instanceof RemoteTask)) return task
    return new Promise((resolve, reject) => {
      task.resolve = resolve
      task.reject = reject
    })
  }

  #prepare(arg, options) {
    let name = DEFAULT_NAME
    let signal
    let onMessage = null
    let jobOptions = {}
    if (options !== undefined) {
      const o = readOptions(options, RUN_OPTIONS, 'run()')
      if (o.name !== undefined) name = validateString(o.name, 'options.name')
      signal = validateAbortSignal(o.signal, 'options.signal')
      if (o.onMessage !== undefined) onMessage = validateFunction(o.onMessage, 'options.onMessage')
      jobOptions = ownCopy(validatePlainObject(o.job, 'options.job'), 'options.job')
      if (o.transferList !== undefined && !Array.isArray(o.transferList)) {
        throw invalidArgType('options.transferList', 'an instance of Array', o.transferList)
      }
    }
    if (this.#closing) return Promise.reject(errorWithCode('The pool is closed', 'ERR_SPINDLE_POOL_CLOSED'))
    if (signal?.aborted) return Promise.reject(abortError(signal))
    const data = wrap(arg)
    let id = jobOptions.jobId
    const custom = id !== undefined
    if (!custom) {
      id = `${this.#idPrefix}${++this.#nextId}`
      jobOptions.jobId = id
    } else {
      validateString(id, 'options.job.jobId')
      if (this.#pending.has(id)) {
        throw errorWithCode(`Job ${id} is already awaited by this RemotePool`, 'ERR_SPINDLE_DUPLICATE_JOB')
      }
    }
    const task = new RemoteTask(id, onMessage, signal)
    task.custom = custom
    this.#pending.set(id, task)
    this.#batch.push({ task, name, data, opts: jobOptions })
    if (!this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(() => this.#flush())
    }
    if (signal) {
      task.onAbort = () => this.#abort(task)
      signal.addEventListener('abort', task.onAbort, { once: true })
    }
    this.#armSweep()
    return task
  }

  /** Adds this tick's jobs in one pipeline. */
  #flush() {
    this.#flushQueued = false
    const batch = this.#batch.filter((b) => this.#pending.get(b.task.id) === b.task)
    this.#batch = []
    if (!batch.length) return
    const adding = this.#addBatch(batch)
    for (const b of batch) b.task.adding = adding
  }

  async #addBatch(batch) {
    try {
      await this.#ready
    } catch (err) {
      for (const b of batch) this.#settle(b.task, false, err)
      return
    }
    batch = batch.filter((b) => this.#pending.get(b.task.id) === b.task)
    if (!batch.length) return
    try {
      if (batch.length === 1) {
        const b = batch[0]
        await this.#queue.add(b.name, b.data, b.opts)
      } else {
        await this.#queue.addBulk(batch.map((b) => ({ name: b.name, data: b.data, opts: b.opts })))
      }
      for (const b of batch) this.#added(b.task)
    } catch (err) {
      if (batch.length === 1) {
        this.#settle(batch[0].task, false, err)
        return
      }
      // One bad job fails a whole bulk: add them one by one (the ids make a
      // repeated add of the same job a no-op), so each gets its own answer.
      await Promise.all(batch.map(async (b) => {
        if (this.#pending.get(b.task.id) !== b.task) return
        try {
          await this.#queue.add(b.name, b.data, b.opts)
          this.#added(b.task)
        } catch (e) {
          this.#settle(b.task, false, e)
        }
      }))
    }
  }

  #added(task) {
    if (this.#pending.get(task.id) !== task) return
    task.added = true
    // A caller-chosen jobId may name a job that already finished: look once.
    if (task.custom) this.#check([task])
  }

  #completed(jobId, returnvalue) {
    const t = this.#pending.get(jobId)
    if (!t) return
    let value
    try {
      value = fromJob(returnvalue)
    } catch (err) {
      this.#settle(t, false, err)
      return
    }
    this.#settle(t, true, value)
  }

  #failed(jobId, failedReason, stacktrace) {
    const t = this.#pending.get(jobId)
    if (!t) return
    let err
    try {
      err = t.error !== null ? errorFromRecord(t.error) : errorFromJob(failedReason, stacktrace)
    } catch (e) {
      err = e
    }
    this.#settle(t, false, err)
  }

  #progress(jobId, data) {
    const t = this.#pending.get(jobId)
    if (!t || t.onMessage === null) return
    let m
    try {
      m = fromJob(data)
    } catch (err) {
      if (this.listenerCount('error') > 0) this.emit('error', err)
      return
    }
    t.scope.runInAsyncScope(t.onMessage, null, m)
  }

  #settle(t, ok, value) {
    if (this.#pending.get(t.id) !== t) return
    this.#pending.delete(t.id)
    if (t.onAbort) t.signal.removeEventListener('abort', t.onAbort)
    if (t.scope) t.scope.emitDestroy()
    if (ok) t.resolve(value)
    else t.reject(value)
    if (this.#pending.size === 0) {
      clearTimeout(this.#sweepTimer)
      this.#sweepTimer = null
      if (this.#closeWaiters.length) for (const w of this.#closeWaiters.splice(0)) w()
    }
  }

  #abort(t) {
    if (this.#pending.get(t.id) !== t) return
    t.onAbort = null
    const reason = describe(t.signal.reason?.message ?? t.signal.reason ?? 'aborted')
    const wasAdded = t.added
    this.#settle(t, false, abortError(t.signal))
    if (!wasAdded) {
      // Still in this tick's batch: it never reaches Redis.
      const i = this.#batch.findIndex((b) => b.task === t)
      if (i !== -1) {
        this.#batch.splice(i, 1)
        return
      }
    }
    const c = this.#cancelRemote(t.id, reason, wasAdded, t.adding).catch((err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
    this.#cancels.add(c)
    c.finally(() => this.#cancels.delete(c))
  }

  /** Removes a waiting job; a running one (locked) is cancelled where it runs. */
  async #cancelRemote(id, reason, added, adding) {
    await this.#ready
    // The add may be in flight: let it land first.
    if (!added && adding) await adding
    const removed = await this.#queue.remove(id)
    if (removed === 1) return
    this.#relay ??= this.#newRelay()
    await this.#relay.publish(cancelTopic(this.#queueName), { jobId: id, reason })
  }

  #newRelay() {
    const opts = { connection: this.#connection, name: `spindle RemotePool ${this.#queueName}` }
    if (this.#prefix !== undefined) opts.prefix = this.#prefix
    const relay = new bullmq.Relay(opts)
    forwardErrors(relay, this)
    return relay
  }

  // The event stream is the fast path; this is the safety net. Every
  // checkInterval while tasks are pending, jobs that have waited that long are
  // looked up: one that finished (its events were missed: a reconnect, a
  // trimmed stream) settles from the job itself, one that is gone (removed,
  // or lost with a Redis that restarted empty) rejects with ERR_SPINDLE_JOB_LOST.
  #armSweep() {
    if (this.#sweepTimer !== null || this.#closed) return
    this.#sweepTimer = setTimeout(() => this.#sweep(), this.#checkInterval)
    this.#sweepTimer.unref()
  }

  async #sweep() {
    this.#sweepTimer = null
    if (this.#sweeping) return
    this.#sweeping = true
    try {
      const due = Date.now() - this.#checkInterval
      const old = [...this.#pending.values()].filter((t) => t.added && t.since <= due)
      for (let i = 0; i < old.length; i += SWEEP_CHUNK) await this.#check(old.slice(i, i + SWEEP_CHUNK))
    } catch (err) {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    } finally {
      this.#sweeping = false
      if (this.#pending.size > 0) this.#armSweep()
    }
  }

  async #check(tasks) {
    const lost = (t) => this.#settle(t, false, errorWithCode(`Job ${t.id} is no longer in queue "${this.#queueName}"`, 'ERR_SPINDLE_JOB_LOST'))
    await Promise.all(tasks.map(async (t) => {
      // The state first: a finished job's fields are final once it says so.
      const state = await this.#queue.getJobState(t.id)
      if (this.#pending.get(t.id) !== t) return
      if (state === 'unknown') return lost(t)
      if (state !== 'completed' && state !== 'failed') return
      const job = await this.#queue.getJob(t.id)
      if (this.#pending.get(t.id) !== t) return
      if (!job) return lost(t)
      if (state === 'completed') this.#completed(t.id, job.returnvalue)
      else this.#failed(t.id, job.failedReason, job.stacktrace)
    })).catch((err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
  }

  /** Tasks submitted and not settled yet. */
  get pending() {
    return this.#pending.size
  }

  /** The BullMQ Queue the jobs are added to. */
  get queue() {
    return this.#queue
  }

  /** Waits for every pending task to settle, then closes the connections. */
  close() {
    this.#closed ??= (async () => {
      this.#closing = true
      if (this.#pending.size > 0) await new Promise((resolve) => this.#closeWaiters.push(resolve))
      await this.#shutdown()
    })()
    return this.#closed
  }

  /** Rejects every pending task (the jobs stay in Redis) and closes the connections. */
  destroy() {
    this.#closing = true
    const err = errorWithCode('The pool was destroyed', 'ERR_SPINDLE_POOL_DESTROYED')
    this.#batch = []
    for (const t of [...this.#pending.values()]) this.#settle(t, false, err)
    return this.close()
  }

  async #shutdown() {
    clearTimeout(this.#sweepTimer)
    this.#sweepTimer = null
    await this.#ready.catch(() => {})
    while (this.#cancels.size) await Promise.allSettled([...this.#cancels])
    await Promise.allSettled([this.#events?.close(), this.#relay?.close(), this.#queue.close()])
  }

  async [Symbol.asyncDispose]() {
    await this.close()
  }
}

if (typeof Symbol.asyncDispose !== 'symbol') {
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose') })
}

module.exports = { serve, RemotePool }
