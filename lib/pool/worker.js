'use strict'
// The runtime of a pool worker thread. It loads the user's module, attaches
// to the Rust scheduler, and runs tasks that it takes from its own deque, the
// injector, or other workers' deques. No message from the main thread per
// task: when it runs out of work it waits briefly in native code, then parks
// and returns to its event loop; the scheduler wakes it through this
// environment's completion port when work arrives.

const { workerData, threadId, parentPort } = require('node:worker_threads')
const { pathToFileURL } = require('node:url')
const values = require('./values')
const native = require('../native')
const { binding } = native
const { TakeSignal, TaskCancel } = binding
const { decodeCompletion, serializeError } = require('./task-errors')
const { chunkRunner } = require('./map')
const state = require('./worker-state')
const { AsyncLocalStorage, AsyncResource } = require('node:async_hooks')
const { abortError, errorWithCode, invalidArgValue } = require('../errors')
const { snapshot } = require('../options')
const {
  validateAbortSignal,
  validateObject,
  validateString,
} = require('../validate')

const currentTask = new AsyncLocalStorage()
state.current = () => currentTask.getStore() ?? null

const { handle, filename, concurrency, spinMicros, waitMicros, idleTimeout, minThreads, maxThreads } = workerData.spindle
let awayDelay = 0
let awayTimer = null
state.workerData = workerData.user

/** filename → { mod, def } once loaded (def: an ESM default export that was a Promise, settled). */
const modules = new Map()
/** filename → the promise of its load, while it loads. */
const loading = new Map()
let worker = null
let inflight = 0
let draining = false
let idleTimer = null

async function load(file) {
  // An .mjs file is ESM by name: import() it. require() would take Node's
  // require(esm) path (on by default since Node 20.19), whose facade step
  // aborted a whole worker process (an assertion in module_wrap.cc) once in
  // CI on Node 20.20.
  if (file.endsWith('.mjs')) return import(pathToFileURL(file).href)
  try {
    return require(file)
  } catch (err) {
    if (err && (err.code === 'ERR_REQUIRE_ESM' || err.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      return import(pathToFileURL(file).href)
    }
    throw err
  }
}

const hasOwn = Function.prototype.call.bind(Object.prototype.hasOwnProperty)

/** `obj[name]` if it is an own property of `obj` and a function, else undefined. */
function ownFunction(obj, name) {
  if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function')) return undefined
  if (!hasOwn(obj, name)) return undefined
  const fn = obj[name]
  return typeof fn === 'function' ? fn : undefined
}

function unknownExport(message) {
  const err = new TypeError(message)
  err.code = 'ERR_SPINDLE_UNKNOWN_EXPORT'
  return err
}

function defaultOf(m) {
  return m !== null && (typeof m === 'object' || typeof m === 'function') && hasOwn(m, 'default')
    ? m.default
    : undefined
}

function resolve(entry, file, name) {
  const { mod, def } = entry
  if (name == null) {
    if (typeof mod === 'function') return mod
    if (typeof def === 'function') return def
    const d = defaultOf(mod)
    if (typeof d === 'function') return d
    const dd = defaultOf(d)
    if (typeof dd === 'function') return dd
    throw unknownExport(`${file} does not export a default function`)
  }
  // Only the module's own exported functions: never an inherited property
  // ('constructor', 'toString', '__proto__', ...).
  const fn = ownFunction(mod, name) ?? ownFunction(def ?? defaultOf(mod), name)
  if (fn === undefined) throw unknownExport(`${file} does not export a function named "${name}"`)
  return fn
}

/** Completes a task; a subtask of this very worker is delivered at once. */
function complete(slot, failed, value) {
  if (binding.poolWorkerComplete(slot, failed, value)) native.deliver(binding.poolWorkerTakeLocalResults())
}

let sharedSeq = 0
/** key → resolve, for arguments that hold a SharedArrayBuffer, fetched from the pool. */
const sharedArgs = new Map()
parentPort.on('message', (msg) => {
  if (msg === null || typeof msg !== 'object' || msg.spindle !== 'shared-arg') return
  const settle = sharedArgs.get(msg.key)
  if (settle === undefined) return
  sharedArgs.delete(msg.key)
  settle(msg)
})
parentPort.unref()

function succeed(slot, value) {
  let encoded
  try {
    encoded = values.encode(value, (v) => {
      // Holds a SharedArrayBuffer: sent by postMessage (which shares it)
      // before the marker that the completion carries.
      const key = `${threadId}:${++sharedSeq}`
      parentPort.postMessage({ spindle: 'shared-result', key, value: v })
      return values.sharedMarker(key)
    })
  } catch (err) {
    complete(slot, true, serializeError(err))
    return
  }
  complete(slot, false, encoded)
}

function fail(slot, err) {
  complete(slot, true, serializeError(err))
}

/**
 * The second argument of every task function, also reachable as
 * `require('spindle').current` while the task runs.
 */
class TaskContext {
  #slot
  #children = 0
  #suspended = false
  #done = false

  constructor(slot) {
    this.#slot = slot
  }

  /** Sends a message to the caller's `onMessage`, in order, before the result. */
  postMessage(message) {
    if (this.#done) return false
    return binding.poolWorkerMessage(this.#slot, values.encode(message))
  }

  /**
   * Runs a subtask on the same pool: it goes onto this worker's own deque
   * (this worker runs its newest subtasks first; idle workers steal the
   * oldest). While any subtask is pending this task does not occupy one of
   * the worker's `concurrentTasksPerWorker` slots, so a worker that awaits
   * its children keeps running other tasks — its own children first.
   */
  run(arg, options) {
    let name
    let signal
    let payload
    try {
      // Own properties only, each read once; every failure rejects, with a code.
      const opts = snapshot(validateObject(options, 'options'), ['name', 'signal'])
      let keys
      try {
        keys = Object.keys(options ?? {})
      } catch (cause) {
        throw Object.assign(invalidArgValue('options', undefined, 'could not be read'), { cause })
      }
      for (const key of keys) {
        if (key !== 'name' && key !== 'signal') throw invalidArgValue(`options.${key}`, undefined, 'is not a known option')
      }
      name = opts.name === undefined ? null : validateString(opts.name, 'options.name')
      if (name !== null && name.includes('\0')) throw invalidArgValue('options.name', name, 'must not contain null bytes')
      try {
        signal = validateAbortSignal(opts.signal, 'options.signal')
      } catch (cause) {
        if (cause?.code !== undefined) throw cause
        throw Object.assign(invalidArgValue('options.signal', undefined, 'could not be read'), { cause })
      }
      if (signal?.aborted) return Promise.reject(abortError(signal))
      payload = values.encode(arg)
    } catch (err) {
      if (err !== null && typeof err === 'object' && err.name === 'TypeError' && err.code === undefined) {
        return Promise.reject(Object.assign(invalidArgValue('options', undefined, 'could not be read'), { cause: err }))
      }
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      const scope = new AsyncResource('spindle.Subtask', { requireManualDestroy: true })
      let onAbort = null
      const settle = (ok, value) => {
        native.close(id)
        scope.emitDestroy()
        if (onAbort !== null) signal.removeEventListener('abort', onAbort)
        this.#childSettled()
        scope.runInAsyncScope(ok ? resolve : reject, null, value)
        // take() may have yielded to deliver this result: keep draining.
        queueMicrotask(drain)
      }
      const id = native.open((status, value) => {
        const [kind, result] = decodeCompletion(status, value)
        if (kind !== 'message') settle(kind === 'ok', result)
      })
      // A subtask with a signal runs on another worker: while it ran here,
      // blocking this thread, its signal (this thread's timers and events)
      // could never fire. (A pool of one thread has no other worker.)
      const away = signal !== undefined && maxThreads > 1
      if (!binding.poolWorkerSubmit(id, payload, name, away)) {
        native.close(id)
        reject(errorWithCode('The pool is closed', 'ERR_SPINDLE_POOL_CLOSED'))
        return
      }
      this.#childStarted()
      if (signal) {
        onAbort = () => {
          const r = binding.poolWorkerCancel(id)
          if (r === TaskCancel.TooLate) return // finished already; its result is on the way
          settle(false, abortError(signal)) // a running subtask's result is dropped
          // Running on another worker: it cannot be interrupted, so the pool
          // replaces that worker, as for an aborted top-level task.
          if (r >= 0 && r !== threadId) parentPort.postMessage({ spindle: 'replace', threadId: r })
        }
        signal.addEventListener('abort', onAbort, { once: true })
      }
    })
  }

  #childStarted() {
    if (this.#children++ === 0 && !this.#done) {
      this.#suspended = true
      inflight--
      // A slot is free now: take the subtask from our own deque (newest
      // first), even if this task forked it after an await, outside drain().
      queueMicrotask(drain)
    }
  }

  #childSettled() {
    if (--this.#children === 0 && this.#suspended) {
      this.#suspended = false
      if (!this.#done) inflight++
    }
  }

  /** The task finished: release its slot unless it is suspended (already released). */
  finish() {
    this.#done = true
    if (!this.#suspended) inflight--
    this.#suspended = false
  }
}

function runTask(slot) {
  const ctx = new TaskContext(slot)
  inflight++
  try {
    // Read the task now: the next take() replaces it.
    const raw = binding.poolWorkerArg()
    let file = filename
    let name = binding.poolWorkerName()
    let chunk = false
    if (name !== null && name.charCodeAt(0) === 0) {
      // "\0filename\0export": a per-run filename (lib/pool/index.js), and
      // "\0filename\0export\0map": a chunk of pool.map() items.
      const parts = name.split('\0')
      file = parts[1]
      name = parts[2] === '' ? null : parts[2]
      chunk = parts[3] === 'map'
    }
    const task = (fn) => (chunk ? chunkRunner(fn) : fn)
    const entry = modules.get(file)
    if (entry !== undefined) {
      prepare(slot, ctx, raw, task(resolve(entry, file, name)))
      return
    }
    // A file this worker has not loaded yet: load it once, then run.
    let pending = loading.get(file)
    if (pending === undefined) {
      pending = loadModule(file).finally(() => loading.delete(file))
      loading.set(file, pending)
    }
    pending.then(
      (loaded) => {
        modules.set(file, loaded)
        let fn
        try {
          fn = task(resolve(loaded, file, name))
        } catch (err) {
          ctx.finish()
          fail(slot, err)
          drain()
          return
        }
        prepare(slot, ctx, raw, fn)
        drain()
      },
      (err) => {
        ctx.finish()
        fail(slot, err)
        drain()
      },
    )
  } catch (err) {
    ctx.finish()
    fail(slot, err)
  }
}

/** Decodes the argument (fetching a shared one from the pool) and calls `fn`. */
function prepare(slot, ctx, raw, fn) {
  let arg
  try {
    const key = values.sharedKey(raw)
    if (key !== null) {
      // The argument holds a SharedArrayBuffer: fetch it from the pool.
      sharedArgs.set(key, (msg) => {
        if (msg.found) call(slot, ctx, fn, msg.value)
        else {
          ctx.finish()
          fail(slot, Object.assign(new Error('The task argument is no longer available'), { code: 'ERR_SPINDLE_UNCLONEABLE' }))
        }
        drain()
      })
      parentPort.postMessage({ spindle: 'shared-arg', key })
      return
    }
    arg = values.decode(raw)
  } catch (err) {
    ctx.finish()
    fail(slot, err)
    return
  }
  call(slot, ctx, fn, arg)
}

function call(slot, ctx, fn, arg) {
  let result
  try {
    result = currentTask.run(ctx, fn, arg, ctx)
  } catch (err) {
    ctx.finish()
    fail(slot, err)
    return
  }
  let thenable
  try {
    thenable = result !== null && typeof result === 'object' && typeof result.then === 'function'
  } catch (cause) {
    // The result's `then` could not be read (a Proxy whose traps throw).
    ctx.finish()
    fail(slot, Object.assign(new Error('The task\'s result could not be read'), { code: 'ERR_SPINDLE_UNCLONEABLE', cause }))
    return
  }
  if (thenable) {
    result.then(
      (value) => {
        ctx.finish()
        succeed(slot, value)
        drain()
      },
      (err) => {
        ctx.finish()
        fail(slot, err)
        drain()
      },
    )
  } else {
    ctx.finish()
    succeed(slot, result)
  }
}

function drain() {
  if (draining || worker === null) return
  draining = true
  if (idleTimer !== null) {
    clearTimeout(idleTimer)
    idleTimer = null
  }
  try {
    while (inflight < concurrency) {
      const id = binding.poolWorkerTake()
      if (id === TakeSignal.Yield) break // our own subtasks' results wait for the event loop
      if (id === TakeSignal.Away) {
        // Only subtasks that another worker must run: ask the pool for a
        // worker if it may grow, and look again later (backing off to 32 ms).
        if (awayDelay === 0) parentPort.postMessage({ spindle: 'helper' })
        awayDelay = Math.min(Math.max(1, awayDelay * 2), 32)
        if (awayTimer === null) {
          awayTimer = setTimeout(() => {
            awayTimer = null
            drain()
          }, awayDelay)
        }
        break
      }
      awayDelay = 0
      if (id === TakeSignal.Parked) {
        // Parked: back to the event loop until the scheduler wakes us.
        if (inflight === 0 && Number.isFinite(idleTimeout) && workerData.spindle.index >= minThreads) {
          idleTimer = setTimeout(retire, idleTimeout)
        }
        break
      }
      runTask(id)
    }
  } finally {
    draining = false
  }
}

function retire() {
  worker.detach()
  worker = null
  parentPort.postMessage({ spindle: 'retired' })
  process.exit(0)
}

async function loadModule(file) {
  const mod = await load(file)
  const d = defaultOf(mod)
  const def = d !== null && typeof d === 'object' && typeof d.then === 'function' ? await d : undefined
  return { mod, def }
}

// The pool's own filename (if any) is loaded before the worker takes tasks.
;(filename === null ? Promise.resolve(null) : loadModule(filename)).then(
  (loaded) => {
    if (loaded !== null) modules.set(filename, loaded)
    const wakeId = native.open(drain, { ref: true })
    worker = new binding.PoolWorker(handle, native.getPort(), wakeId, threadId, spinMicros, waitMicros)
    parentPort.postMessage({ spindle: 'ready' })
    drain()
  },
  (err) => {
    parentPort.postMessage({ spindle: 'load-error', error: serializeError(err) })
  },
)
