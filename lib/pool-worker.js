'use strict'
// The runtime of a pool worker thread. It loads the user's module, attaches
// to the Rust scheduler, and runs tasks that it takes from its own deque, the
// injector, or other workers' deques. No message from the main thread per
// task: when it runs out of work it waits briefly in native code, then parks
// and returns to its event loop; the scheduler wakes it through this
// environment's completion port when work arrives.

const { workerData, threadId, parentPort } = require('node:worker_threads')
const { pathToFileURL } = require('node:url')
const values = require('./pool-values')
const native = require('./native')
const { serializeError } = require('./task-errors')
const state = require('./worker-state')

const { handle, filename, concurrency, waitMicros, idleTimeout, minThreads } = workerData.spindle
state.workerData = workerData.user

let mod = null
let worker = null
let inflight = 0
let draining = false
let idleTimer = null

async function load() {
  try {
    return require(filename)
  } catch (err) {
    if (err && (err.code === 'ERR_REQUIRE_ESM' || err.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      return import(pathToFileURL(filename).href)
    }
    throw err
  }
}

function resolve(name) {
  if (name == null) {
    if (typeof mod === 'function') return mod
    if (mod && typeof mod.default === 'function') return mod.default
    if (mod && mod.default && typeof mod.default.default === 'function') return mod.default.default
    throw new TypeError(`${filename} does not export a default function`)
  }
  const fn = mod?.[name] ?? mod?.default?.[name]
  if (typeof fn !== 'function') throw new TypeError(`${filename} does not export a function named "${name}"`)
  return fn
}

function succeed(id, value) {
  let encoded
  try {
    encoded = values.encode(value)
  } catch (err) {
    worker.complete(id, true, serializeError(err))
    return
  }
  worker.complete(id, false, encoded)
}

function fail(id, err) {
  worker.complete(id, true, serializeError(err))
}

function runTask(id) {
  let result
  try {
    const arg = values.decode(worker.arg())
    result = resolve(worker.name())(arg)
  } catch (err) {
    fail(id, err)
    return
  }
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    inflight++
    result.then(
      (value) => {
        inflight--
        succeed(id, value)
        drain()
      },
      (err) => {
        inflight--
        fail(id, err)
        drain()
      },
    )
  } else {
    succeed(id, result)
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
      const id = worker.take(waitMicros)
      if (id === 0) {
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

load().then(
  (loaded) => {
    mod = loaded
    const wakeId = native.open(drain, { ref: true })
    worker = new native.binding.PoolWorker(handle, native.getPort(), wakeId, threadId)
    parentPort.postMessage({ spindle: 'ready' })
    drain()
  },
  (err) => {
    parentPort.postMessage({ spindle: 'load-error', error: serializeError(err) })
  },
)
