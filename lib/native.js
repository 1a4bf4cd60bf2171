'use strict'
// The JavaScript end of the completion path.
//
// One CompletionPort per JavaScript environment (this module is evaluated
// once per environment: the main thread and each worker thread, and exports
// that environment's instance). Every asynchronous operation gets an id and a
// handler; the Rust side delivers completions in batches to `deliver`, one
// call per wake of the event loop.
//
// Liveness: the native Port's threadsafe function is referenced exactly while
// at least one *referenced* operation is open or a poll window is open (the
// window's own immediate or timer holds the loop anyway, so an operation that
// follows at once costs no ref/unref pair). So the process stays alive while
// work is outstanding and may exit as soon as none is. An operation opened
// with `{ ref: false }` (or later `setRef(id, false)`, like `child.unref()`)
// still gets its completions but does not hold the loop open.

const binding = require('../binding.js')

// Time slicing. One wake can bring many completions (16 child exits, a
// thousand task results); their handlers, and the microtasks they queue,
// would otherwise run as one uninterrupted stretch. A batch is delivered in
// slices of about SLICE_MS; the rest waits, in order, for a setImmediate, so
// timers and I/O run in between. Later batches queue behind the rest.
const SLICE_MS = 0.5
const CHECK_EVERY = 8 // completions between two looks at the clock

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
const IDLE = 0
const TURN = 1
const TICK = 2

// The table of open operations. Ids count up (1 .. 0xfffffffe, then wrap),
// so an id is not reused while 4 billion others are opened: a completion
// that arrives for an operation already closed finds another id in its slot,
// or none, and is dropped. Operation `id` lives in slot `id & (capacity - 1)`;
// when that slot is taken (a long-lived operation, a child process, say) the
// next id is tried instead, and the table doubles before it is half full, so
// opening costs O(1) amortized. Doubling never makes two open ids collide
// (ids in distinct slots differ modulo c, so modulo 2c too). A Map (with
// the pool's own Map of pending tasks) took a sixth of the main thread's
// time with 100,000 tasks in flight: hashing, rehashing, and the scavenger
// walking its table.
const MIN_CAPACITY = 1024
const MAX_ID = 0xfffffffe

// What Port.cancel answers (src/protocol.rs).
const {
  TooLate: CANCEL_TOO_LATE,
  BeforeStart: CANCEL_BEFORE_START,
  WhileRunning: CANCEL_WHILE_RUNNING,
} = binding.CancelOutcome

class CompletionPort {
  /** The native Port, made on first use (a process that never needs one never makes one). */
  #port = null
  #nextId = 1
  /** Slot → the id open there (0: free), and its entry `{ handler, ref, ... }` (see MIN_CAPACITY). */
  #ids = new Uint32Array(MIN_CAPACITY)
  #entries = new Array(MIN_CAPACITY).fill(undefined)
  #mask = MIN_CAPACITY - 1
  /** How many operations are open. */
  #open = 0
  /** How many open entries are referenced. */
  #refs = 0
  /** Whether the native Port is referenced now (it is made unreferenced). */
  #referenced = false

  /** [flat, start] pairs not yet delivered (time slicing). */
  #backlog = []
  #resumeQueued = false

  #pollMode = IDLE
  #pollUntil = 0
  #pollHandle = null

  // Bound once: the native Port, setImmediate and setTimeout call these.
  #onBatch = (flat) => this.deliver(flat)
  #resume = () => this.#resumeBacklog()
  #pollTurn = () => this.#turn()

  /** `firstId`: where ids start (tests reach the wrap at 0xfffffffe with it). */
  constructor({ firstId = 1 } = {}) {
    this.#nextId = firstId
  }

  /** The native Port of this environment. */
  getPort() {
    if (this.#port === null) this.#port = new binding.Port(this.#onBatch)
    return this.#port
  }

  /**
   * Registers `handler(status, value)` for a new operation and returns its id.
   * status: a binding.CompletionStatus (Ok, Error: value is an Error,
   * Aborted, Rejected, Message). The handler may
   * be called many times (a stream of chunks) until `close(id)`.
   */
  open(handler, { ref = true } = {}) {
    return this.openEntry({ handler, ref })
  }

  /**
   * Like `open`, for callers that keep per-operation state in the entry itself
   * (`entry.handler(status, value, id)` is called with the entry as `this`);
   * saves a closure per operation on hot paths such as `pool.run`.
   */
  openEntry(entry) {
    if (this.#port === null) this.getPort()
    if ((this.#open + 1) * 2 > this.#ids.length) this.#resize(this.#ids.length * 2)
    const ids = this.#ids
    const mask = this.#mask
    let id = this.#nextId
    while (ids[id & mask] !== 0) id = id >= MAX_ID ? 1 : id + 1
    this.#nextId = id >= MAX_ID ? 1 : id + 1
    ids[id & mask] = id
    this.#entries[id & mask] = entry
    this.#open++
    if (entry.ref) this.#addRef(1)
    return id
  }

  /** The slot of open operation `id`, or -1. */
  #slotOf(id) {
    const slot = id & this.#mask
    return id !== 0 && this.#ids[slot] === id ? slot : -1
  }

  /** The entry of open operation `id`, or undefined. */
  #get(id) {
    const slot = this.#slotOf(id)
    return slot === -1 ? undefined : this.#entries[slot]
  }

  /** Moves every open operation into a table of `capacity` slots (a power of two, above twice the open count). */
  #resize(capacity) {
    const ids = this.#ids
    const entries = this.#entries
    for (;;) {
      const newIds = new Uint32Array(capacity)
      const newEntries = new Array(capacity).fill(undefined)
      const mask = capacity - 1
      let clash = false
      for (let s = 0; s < ids.length && !clash; s++) {
        const id = ids[s]
        if (id === 0) continue
        if (newIds[id & mask] !== 0) clash = true
        newIds[id & mask] = id
        newEntries[id & mask] = entries[s]
      }
      // Growing never clashes; shrinking may (two open ids equal modulo the
      // smaller size): then try twice that size, at worst the current one.
      if (!clash) {
        this.#ids = newIds
        this.#entries = newEntries
        this.#mask = mask
        return
      }
      capacity *= 2
    }
  }

  /** Forgets operation `id`; unrefs the loop when nothing referenced is outstanding. */
  close(id) {
    const slot = this.#slotOf(id)
    if (slot === -1) return
    const entry = this.#entries[slot]
    this.#ids[slot] = 0
    this.#entries[slot] = undefined
    this.#open--
    // After a burst, give the memory back: a quarter of the slots, still
    // above four times what is open.
    const capacity = this.#ids.length
    if (capacity > MIN_CAPACITY && this.#open * 16 < capacity) this.#resize(capacity / 4)
    if (entry.ref) this.#addRef(-1)
  }

  /** Whether operation `id` keeps the event loop alive (like `handle.ref()`/`unref()`). */
  setRef(id, ref) {
    const entry = this.#get(id)
    if (entry === undefined || entry.ref === ref) return
    entry.ref = ref
    this.#addRef(ref ? 1 : -1)
  }

  /** CANCEL_TOO_LATE, CANCEL_BEFORE_START or CANCEL_WHILE_RUNNING (see src/bridge/job.rs). */
  cancel(id) {
    return this.#port === null ? CANCEL_TOO_LATE : this.#port.cancel(id)
  }

  /** Counters of the completion path (see `internals()` in index.d.ts). */
  counters() {
    const c = this.getPort().counters()
    return { ...c, outstanding: this.#open, referenced: this.#refs }
  }

  // ─── Liveness ───────────────────────────────────────────────────────────

  #addRef(delta) {
    const before = this.#refs
    this.#refs += delta
    if ((before === 0) !== (this.#refs === 0)) this.#updateRef()
  }

  /** Refs or unrefs the native Port so that it holds the loop exactly while it must. */
  #updateRef() {
    const wanted = this.#refs > 0 || this.#pollMode !== IDLE
    if (wanted === this.#referenced) return
    this.#referenced = wanted
    if (wanted) this.getPort().ref()
    else this.getPort().unref()
  }

  // ─── Delivery in time slices ────────────────────────────────────────────

  /** Delivers a batch `[id, status, value, id, status, value, ...]`, or queues it behind the backlog. */
  deliver(flat) {
    if (this.#backlog.length > 0) {
      this.#backlog.push([flat, 0])
      return
    }
    this.#deliverFrom(flat, 0, performance.now())
  }

  #resumeBacklog() {
    this.#resumeQueued = false
    const t0 = performance.now()
    while (this.#backlog.length > 0) {
      const [flat, start] = this.#backlog.shift()
      if (!this.#deliverFrom(flat, start, t0)) return
    }
  }

  /** Delivers flat[start..]; false when the slice ran out (the rest is queued). */
  #deliverFrom(flat, start, t0) {
    let firstError = null
    let n = 0
    for (let i = start; i < flat.length; i += 3) {
      if (++n % CHECK_EVERY === 0 && performance.now() - t0 > SLICE_MS) {
        this.#backlog.unshift([flat, i])
        if (!this.#resumeQueued) {
          this.#resumeQueued = true
          setImmediate(this.#resume)
        }
        reportLater(firstError)
        return false
      }
      const id = flat[i]
      const entry = this.#get(id)
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

  // ─── Polling ────────────────────────────────────────────────────────────

  /** Keeps the loop turning for up to `micros`, taking completions on each turn. */
  pollFor(micros) {
    this.#startPolling(TURN, micros)
  }

  /** Takes completions once per 1 ms timer tick for up to `micros` instead of one wake each. */
  coalesceFor(micros) {
    this.#startPolling(TICK, micros)
  }

  #startPolling(mode, micros) {
    if (this.#refs === 0) return // nothing outstanding holds the loop: never poll for it
    const until = performance.now() + micros / 1000
    if (until > this.#pollUntil) this.#pollUntil = until
    if (this.#pollMode === IDLE) {
      this.getPort().beginPolling()
      this.#pollMode = mode
      this.#schedulePoll()
    } else if (mode === TURN && this.#pollMode === TICK) {
      if (this.#pollHandle !== null) clearTimeout(this.#pollHandle)
      this.#pollMode = TURN
      this.#schedulePoll()
    }
  }

  #schedulePoll() {
    this.#pollHandle = this.#pollMode === TURN ? setImmediate(this.#pollTurn) : setTimeout(this.#pollTurn, 1)
  }

  #turn() {
    this.#pollHandle = null
    const port = this.#port
    const flat = port.poll()
    if (flat !== null) this.deliver(flat) // may extend the window or switch to TURN
    if (this.#pollHandle !== null) return // switched, and already scheduled
    if (performance.now() < this.#pollUntil) {
      this.#schedulePoll()
      return
    }
    this.#pollMode = IDLE
    const rest = port.endPolling()
    this.#updateRef() // an unref that waited for the window's end
    if (rest !== null) this.deliver(rest)
  }
}

function reportLater(err) {
  if (err !== null) {
    process.nextTick(() => {
      throw err
    })
  }
}

/** This environment's port. */
const completions = new CompletionPort()

// The functions its users call (lib/pool/index.js, lib/pool/worker.js,
// lib/kernels.js, lib/spawn/), each a thin delegate.
module.exports = {
  CompletionPort,
  completions,
  binding,
  cancel: (id) => completions.cancel(id),
  close: (id) => completions.close(id),
  counters: () => completions.counters(),
  deliver: (flat) => completions.deliver(flat),
  getPort: () => completions.getPort(),
  open: (handler, options) => completions.open(handler, options),
  openEntry: (entry) => completions.openEntry(entry),
  coalesceFor: (micros) => completions.coalesceFor(micros),
  pollFor: (micros) => completions.pollFor(micros),
  setRef: (id, ref) => completions.setRef(id, ref),
  CANCEL_BEFORE_START,
  CANCEL_TOO_LATE,
  CANCEL_WHILE_RUNNING,
}
