'use strict'
// The JavaScript end of the completion path.
//
// One Port per JavaScript environment (this module is evaluated once per
// environment: the main thread and each worker thread). Every asynchronous
// operation gets an id and a handler in `entries`; the Rust side delivers
// completions in batches to `onBatch`, one call per wake of the event loop.
//
// Liveness: the port's threadsafe function is referenced exactly while at
// least one *referenced* operation is open, so the process stays alive while
// work is outstanding and may exit as soon as none is. An operation opened
// with `{ ref: false }` (or later `setRef(id, false)`, like `child.unref()`)
// still gets its completions but does not hold the loop open.

const binding = require('../binding.js')

let port = null
let nextId = 1
let refs = 0
/** id → { handler, ref } */
const entries = new Map()

function getPort() {
  if (port === null) port = new binding.Port(onBatch)
  return port
}

function onBatch(flat) {
  let firstError = null
  for (let i = 0; i < flat.length; i += 3) {
    const id = flat[i]
    const entry = entries.get(id)
    if (entry === undefined) continue // settled early (cancelled before start)
    try {
      entry.handler(flat[i + 1], flat[i + 2], id)
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

function addRef(delta) {
  const before = refs
  refs += delta
  if (before === 0 && refs > 0) getPort().ref()
  else if (before > 0 && refs === 0) getPort().unref()
}

/**
 * Registers `handler(status, value)` for a new operation and returns its id.
 * status: 0 = ok, 1 = error (value is an Error), 2 = aborted. The handler may
 * be called many times (a stream of chunks) until `close(id)`.
 */
function open(handler, { ref = true } = {}) {
  return openEntry({ handler, ref })
}

/**
 * Like `open`, for callers that keep per-operation state in the entry itself
 * (`entry.handler(status, value, id)` is called with the entry as `this`);
 * saves a closure per operation on hot paths such as `pool.run`.
 */
function openEntry(entry) {
  if (port === null) getPort()
  const id = nextId
  nextId = nextId >= 0xfffffffe ? 1 : nextId + 1
  entries.set(id, entry)
  if (entry.ref) addRef(1)
  return id
}

/** Forgets operation `id`; unrefs the loop when nothing referenced is outstanding. */
function close(id) {
  const entry = entries.get(id)
  if (entry === undefined) return
  entries.delete(id)
  if (entry.ref) addRef(-1)
}

/** Whether operation `id` keeps the event loop alive (like `handle.ref()`/`unref()`). */
function setRef(id, ref) {
  const entry = entries.get(id)
  if (entry === undefined || entry.ref === ref) return
  entry.ref = ref
  addRef(ref ? 1 : -1)
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
  return { ...c, outstanding: entries.size, referenced: refs }
}

module.exports = {
  binding,
  cancel,
  close,
  counters,
  deliver: onBatch,
  getPort,
  open,
  openEntry,
  setRef,
  CANCEL_BEFORE_START,
  CANCEL_TOO_LATE,
  CANCEL_WHILE_RUNNING,
}
