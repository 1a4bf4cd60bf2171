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

// Time slicing. One wake can bring many completions (16 child exits, a
// thousand task results); their handlers, and the microtasks they queue,
// would otherwise run as one uninterrupted stretch. A batch is delivered in
// slices of about SLICE_MS; the rest waits, in order, for a setImmediate, so
// timers and I/O run in between. Later batches queue behind the rest.
const SLICE_MS = 0.5
const CHECK_EVERY = 8 // completions between two looks at the clock
let backlog = [] // [flat, start] pairs not yet delivered
let resumeQueued = false

function onBatch(flat) {
  if (backlog.length > 0) {
    backlog.push([flat, 0])
    return
  }
  deliver(flat, 0, performance.now())
}

function resume() {
  resumeQueued = false
  const t0 = performance.now()
  while (backlog.length > 0) {
    const [flat, start] = backlog.shift()
    if (!deliver(flat, start, t0)) return
  }
}

/** Delivers flat[start..]; false when the slice ran out (the rest is queued). */
function deliver(flat, start, t0) {
  let firstError = null
  let n = 0
  for (let i = start; i < flat.length; i += 3) {
    if (++n % CHECK_EVERY === 0 && performance.now() - t0 > SLICE_MS) {
      backlog.unshift([flat, i])
      if (!resumeQueued) {
        resumeQueued = true
        setImmediate(resume)
      }
      reportLater(firstError)
      return false
    }
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
  reportLater(firstError)
  return true
}

function reportLater(err) {
  if (err !== null) {
    process.nextTick(() => {
      throw err
    })
  }
}

// Polling. A wake of a sleeping event loop costs tens of microseconds on a
// virtual machine (an eventfd write, an IPI to a halted vCPU, a turn of the
// loop), paid once per batch of completions. Two callers know better than
// "wake me at once, every time":
//
// * `pollFor(us)`: a completion is expected within microseconds (a short
//   task just submitted to an idle pool). Keep this loop turning for up to
//   `us` (one ref'd setImmediate per turn: timers and I/O run as usual, the
//   loop never blocks) and take completions from the queue on each turn.
// * `coalesceFor(us)`: completions stream in while a backlog waits (a busy
//   pool). Take them once per millisecond timer tick for up to `us`,
//   instead of one wake per completion that would take a core from the
//   workers on a small machine. A result waits at most one tick longer.
//
// Producers skip the wake meanwhile; when the window ends the loop sleeps
// and producers wake it again (the hand-over without a lost completion is
// argued in src/bridge/queue.rs, "Polling").
const TURN = 1
const TICK = 2
let pollMode = 0
let pollUntil = 0
let pollHandle = null
// While polling, the loop is held by the poll's own immediate or timer, so
// the port's unref (when the last operation closes) waits for the poll to
// end; a task that follows at once then costs no ref/unref pair.
let unrefWhenPollEnds = false

function pollFor(micros) {
  startPolling(TURN, micros)
}

function coalesceFor(micros) {
  startPolling(TICK, micros)
}

function startPolling(mode, micros) {
  if (refs === 0) return // nothing outstanding holds the loop: never poll for it
  const until = performance.now() + micros / 1000
  if (until > pollUntil) pollUntil = until
  if (pollMode === 0) {
    getPort().beginPolling()
    pollMode = mode
    schedulePoll()
  } else if (mode === TURN && pollMode === TICK) {
    if (pollHandle !== null) clearTimeout(pollHandle)
    pollMode = TURN
    schedulePoll()
  }
}

function schedulePoll() {
  pollHandle = pollMode === TURN ? setImmediate(pollTurn) : setTimeout(pollTurn, 1)
}

function pollTurn() {
  pollHandle = null
  const flat = port.poll()
  if (flat !== null) onBatch(flat) // may extend the window or switch to TURN
  if (pollHandle !== null) return // switched, and already scheduled
  if (performance.now() < pollUntil) {
    schedulePoll()
    return
  }
  pollMode = 0
  const rest = port.endPolling()
  if (unrefWhenPollEnds) {
    unrefWhenPollEnds = false
    if (refs === 0) port.unref()
  }
  if (rest !== null) onBatch(rest)
}

function addRef(delta) {
  const before = refs
  refs += delta
  if (before === 0 && refs > 0) {
    if (unrefWhenPollEnds) unrefWhenPollEnds = false // still referenced
    else getPort().ref()
  } else if (before > 0 && refs === 0) {
    if (pollMode !== 0) unrefWhenPollEnds = true
    else getPort().unref()
  }
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
  coalesceFor,
  pollFor,
  setRef,
  CANCEL_BEFORE_START,
  CANCEL_TOO_LATE,
  CANCEL_WHILE_RUNNING,
}
