// AbortSignal on every kernel: already aborted, aborted while queued, aborted
// while running, aborted after completion. Errors are checked by name and
// code (instanceof fails across jest's contexts).
//
// Whether a kernel ran is read from the completion counter: a job cancelled
// before it started never pushes a completion; a job that ran and saw its
// stop request pushes exactly one (status "aborted").
const { getEventListeners } = require('node:events')
const spindle = require('../..')

const KERNELS = {
  sort: (input, signal) => spindle.sort(input, { signal }),
  stats: (input, signal) => spindle.stats(input, { signal }),
  hash: (input, signal) => spindle.hash(input, 'sha256', { signal }),
  hashMany: (input, signal) => spindle.hashMany([input, input.subarray(1)], 'blake3', { signal }),
}

function randomDoubles(n, seed = 1) {
  const a = new Float64Array(n)
  let s = seed
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648
    a[i] = s / 2147483648 // [0, 1): the sort's key form of these is negative
  }
  return a
}

function input(kind, n = 10_000) {
  const a = randomDoubles(n, n + kind.length)
  return kind === 'hash' || kind === 'hashMany' ? new Uint8Array(a.buffer) : a
}

function same(a, b) {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false
  return true
}

function sortedCopy(a) {
  return Float64Array.from(a).sort()
}

async function expectAbortError(promise, reason) {
  let err = null
  try {
    await promise
  } catch (e) {
    err = e
  }
  expect(err).not.toBeNull()
  expect(err.name).toBe('AbortError')
  expect(err.code).toBe('ABORT_ERR')
  if (reason !== undefined) expect(err.cause).toBe(reason)
  return err
}

const counters = () => spindle.internals()
const ticks = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const initialThreads = spindle.internals().threads
afterEach(() => {
  spindle.configure({ threads: initialThreads })
})
afterAll(() => {
  const c = counters()
  expect(c.outstanding).toBe(0)
  expect(c.inflight).toBe(0)
})

describe('already aborted', () => {
  test.each(Object.keys(KERNELS))('%s rejects at once, runs nothing, touches nothing', async (kind) => {
    const ac = new AbortController()
    const reason = new Error('stop it')
    ac.abort(reason)
    const data = input(kind)
    const before = data.slice()
    const c0 = counters()
    const p = KERNELS[kind](data, ac.signal)
    expect(typeof p.then).toBe('function') // a promise, not a synchronous throw
    // Nothing was submitted: no native job, nothing outstanding.
    expect(counters().inflight).toBe(0)
    expect(counters().outstanding).toBe(c0.outstanding)
    await expectAbortError(p, reason)
    expect(counters().completions).toBe(c0.completions)
    expect(same(data, before)).toBe(true)
  })

  test('the default reason is an AbortError DOMException, kept as the cause', async () => {
    const ac = new AbortController()
    ac.abort()
    const err = await expectAbortError(spindle.sort(new Int8Array([3, 2, 1]), { signal: ac.signal }))
    expect(err.cause).toBe(ac.signal.reason)
    expect(err.cause.name).toBe('AbortError')
  })

  test('AbortSignal.abort() works too', async () => {
    await expectAbortError(spindle.stats(new Float64Array(4), { signal: AbortSignal.abort() }))
  })
})

describe('aborted while queued', () => {
  test('every kernel queued behind a long sort rejects before it finishes, without running', async () => {
    spindle.configure({ threads: 1 })
    const big = randomDoubles(1 << 23, 3)
    let bigDone = false
    const c0 = counters()
    const first = spindle.sort(big).then((r) => {
      bigDone = true
      return r
    })

    const queued = Object.keys(KERNELS).map((kind) => {
      const ac = new AbortController()
      const data = input(kind, 50_000)
      const before = data.slice()
      const promise = KERNELS[kind](data, ac.signal)
      return { kind, ac, data, before, promise }
    })
    expect(counters().inflight).toBe(1 + queued.length)
    await ticks(5)
    for (const q of queued) {
      const reason = new Error(`abort ${q.kind}`)
      q.ac.abort(reason)
      await expectAbortError(q.promise, reason)
      expect(bigDone).toBe(false) // rejected while the sort still ran
      expect(same(q.data, q.before)).toBe(true) // never touched
      expect(getEventListeners(q.ac.signal, 'abort')).toHaveLength(0)
    }
    // The cancelled jobs left the registry at once; only the sort remains
    // (or none: the sort may finish natively just before this look, its
    // result not yet delivered).
    expect(counters().inflight).toBeLessThanOrEqual(1)
    expect(counters().outstanding).toBe(c0.outstanding + 1)

    expect(await first).toBe(big)
    // Exactly one completion arrived: the sort's. The cancelled jobs never ran.
    expect(counters().completions).toBe(c0.completions + 1)
    for (let i = 1; i < big.length; i++) {
      if (big[i - 1] > big[i]) throw new Error(`not sorted at ${i}`)
    }
  })
})

describe('aborted while running', () => {
  test('a sort of 2^24 doubles stops, rejects, and leaves a permutation', async () => {
    const original = randomDoubles(1 << 24, 11)
    const arr = original.slice()
    const ac = new AbortController()
    const c0 = counters()
    const p = spindle.sort(arr, { signal: ac.signal })
    p.catch(() => {})
    // The sort rewrites the values into (negative) radix keys in place when it
    // starts and maps them back when it ends: a negative element proves it runs.
    const deadline = Date.now() + 30_000
    while (!(arr[0] < 0 || arr[arr.length - 1] < 0 || arr[arr.length >> 1] < 0)) {
      if (Date.now() > deadline) throw new Error('the sort never started')
      await ticks(1)
    }
    await ticks(20)
    const reason = new Error('enough')
    ac.abort(reason)
    await expectAbortError(p, reason)
    // It ran and completed as aborted (one completion), not cancelled in the queue.
    expect(counters().completions).toBe(c0.completions + 1)
    expect(counters().inflight).toBe(0)
    // Nothing lost, nothing invented; and it was really cut short.
    expect(same(sortedCopy(arr), sortedCopy(original))).toBe(true)
    let sorted = true
    for (let i = 1; i < arr.length && sorted; i++) sorted = arr[i - 1] <= arr[i]
    expect(sorted).toBe(false)
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
  })

  test.each([
    ['hash sha512 of 256 MiB', (d, signal) => spindle.hash(d, 'sha512', { signal })],
    ['hashMany sha256 of 4 x 64 MiB', (d, signal) => {
      const q = d.length / 4
      return spindle.hashMany([0, 1, 2, 3].map((i) => d.subarray(i * q, (i + 1) * q)), 'sha256', { signal })
    }],
  ])('%s stops and rejects', async (_, run) => {
    spindle.configure({ threads: 1 })
    const data = Buffer.alloc(256 << 20, 0x5a)
    const ac = new AbortController()
    const c0 = counters()
    const p = run(data, ac.signal)
    p.catch(() => {})
    await ticks(20)
    ac.abort()
    await expectAbortError(p)
    expect(counters().completions).toBe(c0.completions + 1) // it ran
    expect(counters().inflight).toBe(0)
  })

  test('stats of 2^25 doubles stops and rejects', async () => {
    spindle.configure({ threads: 1 })
    const data = new Float64Array(1 << 25).fill(1.5)
    const ac = new AbortController()
    const c0 = counters()
    const p = spindle.stats(data, { signal: ac.signal })
    p.catch(() => {})
    await ticks(10)
    ac.abort()
    await expectAbortError(p)
    expect(counters().completions).toBe(c0.completions + 1)
  })
})

describe('aborted after completion', () => {
  test.each(Object.keys(KERNELS))('%s: harmless', async (kind) => {
    const ac = new AbortController()
    const data = input(kind)
    const result = await KERNELS[kind](data, ac.signal)
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
    ac.abort()
    if (kind === 'sort') {
      expect(result).toBe(data)
      expect(same(data, sortedCopy(data))).toBe(true)
    }
    await ticks(5)
    expect(counters().outstanding).toBe(0)
    expect(counters().inflight).toBe(0)
  })

  test('aborted after the kernel finished but before its result was delivered: resolves', async () => {
    const ac = new AbortController()
    const data = Float64Array.from([3, 1, 2])
    const p = spindle.sort(data, { signal: ac.signal })
    // Hold the main thread until the native job is done; its completion is
    // then queued (or about to be) but cannot have been delivered yet.
    const deadline = Date.now() + 30_000
    while (counters().inflight !== 0) {
      if (Date.now() > deadline) throw new Error('the kernel never finished')
    }
    ac.abort()
    expect(await p).toBe(data)
    expect(Array.from(data)).toEqual([1, 2, 3])
  })
})
