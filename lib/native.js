'use strict'
// The JavaScript end of the completion path.
//
// One Port per JavaScript environment (this module is evaluated once per
// environment: the main thread and each worker thread). Every asynchronous
// operation gets an id and a handler in `handlers`; the Rust side delivers
// completions in batches to `onBatch`, one call per wake of the event loop.
//
// Liveness: the port's threadsafe function is referenced exactly while at
// least one handler is open, so the process stays alive while work is
// outstanding and may exit as soon as none is.

const binding = require('../binding.js')

let port = null
let nextId = 1
const handlers = new Map()

function getPort() {
  if (port === null) port = new binding.Port(onBatch)
  return port
}

function onBatch(flat) {
  let firstError = null
  for (let i = 0; i < flat.length; i += 3) {
    const id = flat[i]
    const handler = handlers.get(id)
    if (handler === undefined) continue // settled early (cancelled before start)
    try {
      handler(flat[i + 1], flat[i + 2])
    } catch (err) {
      // A user callback threw (an event listener, say). Deliver the rest of
      // the batch first, then report the first error as uncaught.
      if (firstError === null) firstError = err
    }
  }
  if (firstError !== null) {
    process.nextTick(() => {
      throw firstError
    })
  }
}

/**
 * Registers `handler(status, value)` for a new operation and returns its id.
 * status: 0 = ok, 1 = error (value is an Error), 2 = aborted.
 */
function open(handler) {
  const p = getPort()
  const id = nextId
  nextId = nextId >= 0xfffffffe ? 1 : nextId + 1
  if (handlers.size === 0) p.ref()
  handlers.set(id, handler)
  return id
}

/** Forgets operation `id`; unrefs the loop when nothing is outstanding. */
function close(id) {
  if (handlers.delete(id) && handlers.size === 0) port.unref()
}

const CANCEL_TOO_LATE = 0
const CANCEL_BEFORE_START = 1
const CANCEL_WHILE_RUNNING = 2

function cancel(id) {
  return port === null ? CANCEL_TOO_LATE : port.cancel(id)
}

/** Counters of the completion path (see `internals()` in index.d.ts). */
function counters() {
  const c = getPort().counters()
  return { ...c, outstanding: handlers.size }
}

module.exports = {
  binding,
  cancel,
  close,
  counters,
  getPort,
  open,
  CANCEL_BEFORE_START,
  CANCEL_TOO_LATE,
  CANCEL_WHILE_RUNNING,
}
