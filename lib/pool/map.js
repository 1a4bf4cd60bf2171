'use strict'
// pool.map() and pool.imap(): a task per item, with items grouped into
// chunks that cross threads as one task.
//
// Main thread: the items are cut into chunks; each chunk is one run() whose
// argument is the array of its items and whose task is "call the export on
// each item" (chunkRunner, in the worker). The first chunk is small and
// timed; later chunks are sized so that each takes about TARGET_CHUNK_MS on
// a worker (enough to make the per-task cost — a few microseconds — small
// against it), but never so large that fewer than CHUNKS_PER_SLOT chunks
// are left per worker slot to balance the end of the run.
//
// Errors: the first failing item rejects the whole call; the error is the
// task's own, with `index` (the item's position in the input) added, and
// every chunk still in flight is aborted. Abort: the caller's signal aborts
// every chunk in flight and rejects with the AbortError.

const { AbortError, errorWithCode, invalidArgType, invalidArgValue } = require('../errors')

/** How long one chunk should keep a worker busy, once task time is known. */
const TARGET_CHUNK_MS = 2
/** The first chunk, timed to learn the task's cost. */
const PROBE_ITEMS = 16
/** Chunks left per worker slot, at least, so that the end of a run balances. */
const CHUNKS_PER_SLOT = 4
/** Most items in one chunk (a bound on one message's size). */
const MAX_CHUNK = 65536
/** imap(): results waiting for the consumer beyond which no more input is taken. */
const HIGH_WATER = 4096

// ---------------------------------------------------------------- worker side

/**
 * The task that runs a chunk: `fn` on each item, in order, on this worker.
 * Synchronous results are taken at once; if any item returns a promise, the
 * chunk settles once all of them have (each keeps its place). A failure at
 * item i is thrown with `index` = i (the caller adds the chunk's offset).
 */
function chunkRunner(fn) {
  return function runChunk(items, ctx) {
    const n = items.length
    const results = new Array(n)
    let promises = null
    for (let i = 0; i < n; i++) {
      let r
      try {
        r = fn(items[i], ctx)
      } catch (err) {
        throw atIndex(err, i)
      }
      if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
        ;(promises ??= []).push(
          Promise.resolve(r).then(
            (v) => {
              results[i] = v
            },
            (err) => {
              throw atIndex(err, i)
            },
          ),
        )
      } else {
        results[i] = r
      }
    }
    if (promises === null) return results
    return Promise.all(promises).then(() => results)
  }
}

/** `err` with own property `index`, or a coded wrapper when it cannot take one. */
function atIndex(err, index) {
  if (err !== null && (typeof err === 'object' || typeof err === 'function')) {
    try {
      if (Object.isExtensible(err) || Object.prototype.hasOwnProperty.call(err, 'index')) {
        err.index = index
        if (err.index === index) return err
      }
    } catch {}
  }
  const wrapped = errorWithCode(`pool.map: item ${index} failed`, 'ERR_SPINDLE_MAP_ITEM_FAILED', { cause: err })
  wrapped.index = index
  return wrapped
}

// ------------------------------------------------------------------ main side

/** Reads map()/imap() options (own properties; each checked). */
function mapOptions(options, readOptions, validators) {
  const out = { name: undefined, signal: undefined, chunkSize: 0, ordered: true, filename: undefined, concurrency: 0 }
  if (options === undefined) return out
  const o = readOptions(options, 'options', ['name', 'signal', 'chunkSize', 'ordered', 'filename', 'concurrency'])
  if (o.name !== undefined) out.name = validators.validateString(o.name, 'options.name')
  if (o.signal !== undefined) out.signal = validators.validateAbortSignal(o.signal, 'options.signal')
  if (o.filename !== undefined) out.filename = o.filename
  if (o.ordered !== undefined) out.ordered = validators.validateBoolean(o.ordered, 'options.ordered')
  for (const key of ['chunkSize', 'concurrency']) {
    const v = o[key]
    if (v === undefined) continue
    if (typeof v !== 'number') throw invalidArgType(`options.${key}`, 'number', v)
    if (!Number.isInteger(v) || v < 1 || v > MAX_CHUNK * 16) {
      throw invalidArgValue(`options.${key}`, v, `must be an integer from 1 to ${MAX_CHUNK * 16}`)
    }
    out[key] = key === 'chunkSize' ? Math.min(v, MAX_CHUNK) : v
  }
  return out
}

/**
 * Runs chunks of `source` (an iterator of items, sync or async) through
 * `runChunk(items, signal)`, at most `limit` chunks in flight, calling
 * `onResult(index, value)` per item (in completion order of chunks) and
 * resolving once every item is done. Rejects on the first failure or abort.
 */
class ChunkFeeder {
  #source
  #async
  #runChunk
  #slots
  #limit
  #fixed
  #signal
  #controller = new AbortController()
  #onResult
  #next = 0 // index of the next item to take
  #inFlight = 0
  #exhausted = false
  #pulling = false
  #settled = false
  #perItemMs = -1
  #resolve
  #reject
  done

  constructor({ source, isAsync, runChunk, slots, limit, chunkSize, signal, onResult, gate }) {
    this.#gate = gate ?? (() => true)
    this.#source = source
    this.#async = isAsync
    this.#runChunk = runChunk
    this.#slots = slots
    this.#limit = limit
    this.#fixed = chunkSize
    this.#signal = signal
    this.#onResult = onResult
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#fail(new AbortError(undefined, { cause: signal.reason }))
        return
      }
      this.#onAbort = () => this.#fail(new AbortError(undefined, { cause: signal.reason }))
      signal.addEventListener('abort', this.#onAbort, { once: true })
    }
    this.#pump()
  }

  #onAbort = null
  #gate

  /** Stops early (the consumer went away): chunks in flight are aborted. */
  stop() {
    if (!this.#settled) this.#fail(new AbortError())
  }

  /** Launches more chunks if the gate (the consumer's backpressure) allows. */
  resume() {
    this.#pump()
  }

  /** How many items the next chunk takes. */
  #chunkSize(remainingHint) {
    if (this.#fixed > 0) return this.#fixed
    if (this.#perItemMs < 0) return PROBE_ITEMS
    let size = Math.max(1, Math.round(TARGET_CHUNK_MS / Math.max(this.#perItemMs, 1e-6)))
    if (remainingHint > 0) size = Math.min(size, Math.max(1, Math.ceil(remainingHint / (this.#slots * CHUNKS_PER_SLOT))))
    return Math.min(size, MAX_CHUNK)
  }

  /** Takes up to `n` items from the source (a promise when it is async). */
  #take(n) {
    const items = []
    if (!this.#async) {
      while (items.length < n) {
        const step = this.#source.next()
        if (step.done) {
          this.#exhausted = true
          break
        }
        items.push(step.value)
      }
      return items
    }
    const more = () => {
      if (items.length >= n) return items
      return Promise.resolve(this.#source.next()).then((step) => {
        if (step.done) {
          this.#exhausted = true
          return items
        }
        items.push(step.value)
        return more()
      })
    }
    return more()
  }

  #pump() {
    if (this.#settled || this.#pulling) return
    while (!this.#settled && !this.#exhausted && this.#inFlight < this.#limit && this.#gate()) {
      // While the cost is unknown, only the probe runs.
      if (this.#fixed === 0 && this.#perItemMs < 0 && this.#next > 0) break
      const size = this.#chunkSize(this.#source.remaining?.() ?? 0)
      const start = this.#next
      const taken = this.#take(size)
      if (typeof taken.then === 'function') {
        this.#pulling = true
        taken.then(
          (items) => {
            this.#pulling = false
            this.#launch(start, items)
            this.#pump()
          },
          (err) => {
            this.#pulling = false
            this.#fail(err)
          },
        )
        this.#next += size // reserved; the async source yields them in order
        return
      }
      this.#next += taken.length
      this.#launch(start, taken)
    }
    this.#maybeDone()
  }

  #launch(start, items) {
    if (items.length === 0) {
      this.#maybeDone()
      return
    }
    if (this.#settled) return
    this.#inFlight++
    const t0 = performance.now()
    this.#runChunk(items, this.#controller.signal).then(
      (results) => {
        this.#inFlight--
        if (this.#settled) return
        const ms = performance.now() - t0
        const per = ms / items.length
        this.#perItemMs = this.#perItemMs < 0 ? per : (this.#perItemMs * 3 + per) / 4
        for (let i = 0; i < results.length; i++) this.#onResult(start + i, results[i])
        this.#pump()
      },
      (err) => {
        this.#inFlight--
        if (err !== null && typeof err === 'object' && typeof err.index === 'number') {
          try {
            err.index += start
          } catch {}
        }
        this.#fail(err)
      },
    )
  }

  #maybeDone() {
    if (!this.#settled && this.#exhausted && !this.#pulling && this.#inFlight === 0) {
      this.#settled = true
      this.#cleanup()
      this.#resolve()
    }
  }

  #fail(err) {
    if (this.#settled) return
    this.#settled = true
    this.#cleanup()
    // Every chunk still in flight is aborted; their rejections are ignored.
    this.#controller.abort(err)
    if (this.#async && typeof this.#source.return === 'function') {
      Promise.resolve()
        .then(() => this.#source.return())
        .catch(() => {})
    }
    this.#reject(err)
  }

  #cleanup() {
    if (this.#onAbort !== null) this.#signal.removeEventListener('abort', this.#onAbort)
  }
}

/** A sync iterator over an array-like with a `remaining()` hint. */
function arraySource(array) {
  let i = 0
  return {
    next: () => (i < array.length ? { done: false, value: array[i++] } : { done: true, value: undefined }),
    remaining: () => array.length - i,
  }
}

/**
 * pool.map(items, options): resolves to one result per item, in input order
 * (`ordered: false`: in the order they finished).
 */
function map(items, opts, env) {
  let array
  if (Array.isArray(items)) array = items
  else if (items != null && typeof items[Symbol.iterator] === 'function') array = Array.from(items)
  else throw invalidArgType('items', 'an iterable', items)
  if (array.length === 0) return Promise.resolve([])
  const results = new Array(array.length)
  let filled = 0
  const feeder = new ChunkFeeder({
    source: arraySource(array),
    isAsync: false,
    runChunk: env.runChunk,
    slots: env.slots,
    limit: opts.concurrency || env.slots * 2,
    chunkSize: opts.chunkSize,
    signal: opts.signal,
    onResult: opts.ordered
      ? (index, value) => {
          results[index] = value
        }
      : (_index, value) => {
          results[filled++] = value
        },
  })
  return feeder.done.then(() => results)
}

/**
 * pool.imap(iterable, options): an async iterator of results; at most a
 * bounded number of chunks in flight (backpressure on the input), results
 * in input order unless `ordered: false`.
 */
function imap(iterable, opts, env) {
  let source
  let isAsync
  if (iterable != null && typeof iterable[Symbol.asyncIterator] === 'function') {
    source = iterable[Symbol.asyncIterator]()
    isAsync = true
  } else if (iterable != null && typeof iterable[Symbol.iterator] === 'function') {
    source = iterable[Symbol.iterator]()
    isAsync = false
  } else {
    throw invalidArgType('iterable', 'an iterable or async iterable', iterable)
  }
  return results(source, isAsync, opts, env)
}

/** The body of imap() once its arguments are checked. */
async function* results(source, isAsync, opts, env) {
  // Results not yet yielded: index → value (ordered) or a FIFO (unordered).
  const ready = new Map()
  const fifo = []
  let nextOut = 0
  let wake = null
  const notify = () => {
    const w = wake
    wake = null
    if (w !== null) w()
  }
  const limit = opts.concurrency || env.slots * 2
  // Backpressure: no chunk is launched (and no item taken from the input)
  // while HIGH_WATER results wait to be consumed; in-flight chunks are
  // capped at `limit` too.
  let buffered = 0
  const feeder = new ChunkFeeder({
    gate: () => buffered < HIGH_WATER,
    source,
    isAsync,
    runChunk: env.runChunk,
    slots: env.slots,
    limit,
    chunkSize: opts.chunkSize,
    signal: opts.signal,
    onResult: (index, value) => {
      buffered++
      if (opts.ordered) ready.set(index, value)
      else fifo.push(value)
      notify()
    },
  })
  let finished = false
  let failure = null
  feeder.done.then(
    () => {
      finished = true
      notify()
    },
    (err) => {
      failure = err
      finished = true
      notify()
    },
  )
  try {
    yield* drainResults()
  } finally {
    // A consumer that stops early (break, return, throw) stops the rest.
    feeder.stop()
  }

  async function* drainResults() {
    for (;;) {
      if (failure !== null) throw failure
      if (opts.ordered) {
        if (ready.has(nextOut)) {
          const v = ready.get(nextOut)
          ready.delete(nextOut++)
          if (--buffered < HIGH_WATER) feeder.resume()
          yield v
          continue
        }
      } else if (fifo.length > 0) {
        const v = fifo.shift()
        if (--buffered < HIGH_WATER) feeder.resume()
        yield v
        continue
      }
      if (finished) {
        if (failure !== null) throw failure
        return
      }
      await new Promise((resolve) => {
        wake = resolve
      })
    }
  }
}

module.exports = { chunkRunner, imap, map, mapOptions, MAX_CHUNK }
