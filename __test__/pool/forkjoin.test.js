// Fork–join: tasks that submit subtasks to their own pool and await them
// (support/fixtures/workers/forkjoin.js). A parallel sum over a SharedArrayBuffer,
// a parallel merge sort, and a recursive fib complete with the sequential
// result on 1 and 2 threads, with one task per worker at a time — so every
// worker is waiting on subtasks at some point, and a hang would be a
// deadlock (each run is bounded by a generous "did not hang" timeout).
// Also: stealing by the idle worker, `ctx.run` and `require(root).current.run`,
// subtask errors, named exports, aborted subtasks, and `current` outside tasks.
//
// Errors are checked by name, message and code (instanceof fails across
// jest's contexts); typed arrays by their tag, never instanceof.
const { makePool, destroyAll, worker, within, rejection, ROOT } = require('../support/pool-helpers')

afterEach(destroyAll)

const kind = (x) => Object.prototype.toString.call(x)
const HANG_MS = 60_000

/** A Float64Array of `n` values on a SharedArrayBuffer. */
function sharedArray(n, fill) {
  const sab = new SharedArrayBuffer(8 * n)
  const a = new Float64Array(sab)
  for (let i = 0; i < n; i++) a[i] = fill(i)
  return { sab, a }
}

/** A small deterministic PRNG (so a failure reproduces). */
function prng(seed) {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The same halving recursion as the worker, sequentially: same float result. */
function splitSum(a, lo, hi, threshold) {
  if (hi - lo <= threshold) {
    let s = 0
    for (let i = lo; i < hi; i++) s += a[i]
    return s
  }
  const mid = lo + ((hi - lo) >> 1)
  return splitSum(a, lo, mid, threshold) + splitSum(a, mid, hi, threshold)
}

function fibSeq(n) {
  return n < 2 ? n : fibSeq(n - 1) + fibSeq(n - 2)
}

/** Index of the first element where two arrays differ (Object.is), or -1. */
function firstDifference(x, y) {
  if (x.length !== y.length) return Math.min(x.length, y.length)
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return i
  return -1
}

function forkPool(options = {}) {
  return makePool({ filename: worker('forkjoin.js'), ...options })
}

const CONFIGS = [
  { maxThreads: 1, concurrentTasksPerWorker: 1 },
  { maxThreads: 2, concurrentTasksPerWorker: 1 },
  { maxThreads: 2, concurrentTasksPerWorker: 3 },
]
const label = (c) => `maxThreads ${c.maxThreads}, concurrentTasksPerWorker ${c.concurrentTasksPerWorker}`

describe.each(CONFIGS)('divide and conquer ($maxThreads threads, $concurrentTasksPerWorker per worker)', (config) => {
  test('parallel sum over a shared Float64Array equals the sequential sum', async () => {
    const N = 1_000_000
    const threshold = 20_000 // 64 leaves, 127 tasks
    const rand = prng(1)
    const { sab, a } = sharedArray(N, () => Math.floor(rand() * 1000))
    const pool = forkPool({ ...config, workerData: { sab } })
    let expected = 0
    for (let i = 0; i < N; i++) expected += a[i] // integers: exact in any order
    const got = await within(pool.run({ lo: 0, hi: N, threshold }, { name: 'sum' }), HANG_MS, `sum (${label(config)})`)
    expect(got).toBe(expected)
    // Every subtask completed: 1 root + 126 subtasks, none failed.
    const s = pool.stats()
    expect(s.completed).toBe(127)
    expect(s.failed).toBe(0)
    expect(s.pending).toBe(0)
  })

  test('parallel sum of random floats equals the same split computed sequentially', async () => {
    const N = 300_000
    const threshold = 5_000
    const rand = prng(2)
    const { sab, a } = sharedArray(N, () => (rand() - 0.5) * 1e6)
    const pool = forkPool({ ...config, workerData: { sab } })
    const got = await within(pool.run({ lo: 0, hi: N, threshold }, { name: 'sum' }), HANG_MS, 'float sum')
    expect(got).toBe(splitSum(a, 0, N, threshold))
    let plain = 0
    for (let i = 0; i < N; i++) plain += a[i]
    expect(Math.abs(got - plain)).toBeLessThan(1e-3)
  })

  test('parallel merge sort equals TypedArray.prototype.sort', async () => {
    const N = 200_000
    const rand = prng(3)
    const { sab, a } = sharedArray(N, (i) => {
      // Duplicates, negatives, ±0, ±Infinity and NaN among random values.
      switch (i % 997) {
        case 0: return NaN
        case 1: return -0
        case 2: return 0
        case 3: return Infinity
        case 4: return -Infinity
        default: return i % 7 === 0 ? Math.floor(rand() * 50) : (rand() - 0.5) * 1e9
      }
    })
    const pool = forkPool({ ...config, workerData: { sab } })
    const expected = a.slice().sort()
    const sorted = await within(pool.run({ lo: 0, hi: N, threshold: 4_000 }, { name: 'sort' }), HANG_MS, 'merge sort')
    expect(kind(sorted)).toBe('[object Float64Array]')
    expect(sorted.length).toBe(N)
    expect(firstDifference(sorted, expected)).toBe(-1)
    // The shared input is untouched (subtasks sort copies of their range).
    expect(a[0]).toBeNaN()
  })

  test('recursive fib(27), split above 20, equals the sequential value', async () => {
    const pool = forkPool(config)
    const got = await within(pool.run({ n: 27, cutoff: 20 }, { name: 'fib' }), HANG_MS, 'fib(27)')
    expect(got).toBe(fibSeq(27))
    expect(got).toBe(196418)
  })

  test('several roots at once, so every worker waits on subtasks: no deadlock', async () => {
    const pool = forkPool(config)
    const roots = [22, 23, 24, 25, 21, 24].map((n) => pool.run({ n, cutoff: 12 }, { name: 'fib' }))
    const got = await within(Promise.all(roots), HANG_MS, 'concurrent fib roots')
    expect(got).toEqual([22, 23, 24, 25, 21, 24].map(fibSeq))
    expect(pool.stats().failed).toBe(0)
  })
})

describe('both APIs submit subtasks', () => {
  test('require(<repo root>).current.run works like ctx.run (fib)', async () => {
    const pool = forkPool({ maxThreads: 2 })
    const got = await within(pool.run({ n: 22, cutoff: 15, via: 'current' }, { name: 'fib' }), HANG_MS, 'fib via current')
    expect(got).toBe(fibSeq(22))
  })

  test('require(<repo root>).current.run works like ctx.run (sum)', async () => {
    const N = 100_000
    const { sab, a } = sharedArray(N, (i) => i % 101)
    let expected = 0
    for (let i = 0; i < N; i++) expected += a[i]
    const pool = forkPool({ maxThreads: 1, workerData: { sab } })
    const got = await within(pool.run({ lo: 0, hi: N, threshold: 3_000, via: 'current' }, { name: 'sum' }), HANG_MS, 'sum via current')
    expect(got).toBe(expected)
  })

  test('inside a task, current is the ctx argument, also after an await; null while the module loads', async () => {
    const pool = forkPool({ maxThreads: 1 })
    const info = await pool.run(null, { name: 'currentInfo' })
    expect(info).toEqual({ sync: true, afterAwait: true, atLoad: null, hasPost: true, hasRun: true })
  })

  test('current is null on the main thread, before and while tasks run', async () => {
    const spindle = require(ROOT)
    expect(spindle.current).toBeNull()
    const pool = forkPool({ maxThreads: 1 })
    const p = pool.run({ n: 20, cutoff: 10 }, { name: 'fib' })
    expect(spindle.current).toBeNull()
    await p
    expect(spindle.current).toBeNull()
  })
})

describe('work stealing', () => {
  /** A warm 2-thread pool, then one root forking 200 leaves of ~2 ms each. */
  async function forkOnTwoThreads() {
    const pool = forkPool({ maxThreads: 2 })
    // Both workers loaded before the root is submitted.
    await Promise.all([pool.run({ ms: 1 }, { name: 'spin' }), pool.run({ ms: 1 }, { name: 'spin' })])
    const before = pool.stats()
    const { root, leaves } = await within(pool.run({ count: 200, ms: 2 }, { name: 'forkSpin' }), HANG_MS, 'forkSpin')
    return { pool, before, after: pool.stats(), root, leaves, onOther: leaves.filter((t) => t !== root).length }
  }

  test('the idle worker steals subtasks that one root forked onto its own deque', async () => {
    const { before, after: s, leaves, onOther } = await forkOnTwoThreads()
    expect(leaves).toHaveLength(200)
    // 200 × 2 ms on the root's deque: the other worker must have taken some.
    expect(onOther).toBeGreaterThan(0)
    expect(s.stolen).toBeGreaterThan(before.stolen)
    expect(Array.isArray(s.stolenByWorker)).toBe(true)
    expect(s.stolenByWorker.reduce((x, y) => x + y, 0)).toBe(s.stolen)
    // The per-slot counts show the steals of this fork. (Both slots may have
    // stolen: the root's worker can steal back from the batch the other took.)
    const delta = s.stolenByWorker.map((n, i) => n - (before.stolenByWorker[i] ?? 0))
    expect(delta.some((n) => n > 0)).toBe(true)
    expect(delta.reduce((x, y) => x + y, 0)).toBe(s.stolen - before.stolen)
    expect(s.completed).toBe(2 + 1 + 200)
  })

  test('stolen counts tasks ("Tasks a worker stole"): at least every leaf that ran on the other worker', async () => {
    // The other worker's only source of leaves is the root worker's deque, so
    // each leaf it ran was stolen.
    const { before, after: s, onOther } = await forkOnTwoThreads()
    expect(onOther).toBeGreaterThan(0)
    expect(s.stolen - before.stolen).toBeGreaterThanOrEqual(onOther)
  })

  test('on one thread nothing is stolen', async () => {
    const pool = forkPool({ maxThreads: 1 })
    const { root, leaves } = await within(pool.run({ count: 50, ms: 1 }, { name: 'forkSpin' }), HANG_MS, 'forkSpin')
    expect(leaves.every((t) => t === root)).toBe(true)
    expect(pool.stats().stolen).toBe(0)
  })
})

describe('subtask failures', () => {
  test('a subtask that throws rejects the parent\'s await with the same error', async () => {
    const pool = forkPool({ maxThreads: 2 })
    const r = await pool.run({ name: 'throwCoded', arg: { message: 'bad leaf' } }, { name: 'catchChild' })
    expect(r).toEqual({
      caught: true,
      name: 'RangeError',
      message: 'bad leaf',
      code: 'E_SUBTASK',
      isRangeError: true,
      cause: 'the cause',
    })
  })

  test('an async subtask that rejects rejects the parent\'s await with the same error', async () => {
    const pool = forkPool({ maxThreads: 1 })
    const r = await pool.run({ name: 'rejectCoded', arg: { message: 'async leaf' } }, { name: 'catchChild' })
    expect(r).toMatchObject({ caught: true, name: 'TypeError', message: 'async leaf', code: 'E_ASYNC_SUBTASK' })
  })

  test('a rethrown subtask error reaches the caller of pool.run intact', async () => {
    const pool = forkPool({ maxThreads: 2 })
    const err = await rejection(pool.run({ name: 'throwCoded', arg: { message: 'deep' } }, { name: 'rethrowChild' }))
    expect(err.name).toBe('RangeError')
    expect(err.message).toBe('deep')
    expect(err.code).toBe('E_SUBTASK')
    expect(err.cause?.message).toBe('the cause')
    // The pool goes on working.
    await expect(pool.run({ n: 15, cutoff: 10 }, { name: 'fib' })).resolves.toBe(fibSeq(15))
  })

  test('a subtask that names an unknown export rejects the parent\'s await', async () => {
    const pool = forkPool({ maxThreads: 1 })
    const r = await pool.run({ name: 'noSuchExport', arg: 1 }, { name: 'catchChild' })
    expect(r.caught).toBe(true)
    expect(r.name).toBe('TypeError')
    expect(r.message).toMatch(/noSuchExport/)
  })
})

describe('subtask options', () => {
  test('a subtask with a named export', async () => {
    const pool = forkPool({ maxThreads: 2 })
    await expect(pool.run(6, { name: 'callNamed' })).resolves.toEqual([36, 49])
  })

  test.each(['before', 'queued', 'running'])('a subtask aborted %s rejects with AbortError', async (when) => {
    const pool = forkPool({ maxThreads: 1 })
    const SUBTASK_MS = 5_000
    const r = await within(pool.run({ when, ms: SUBTASK_MS }, { name: 'abortChild' }), 30_000, `abortChild ${when}`)
    expect(r.rejected).toBe(true)
    expect(r.name).toBe('AbortError')
    expect(r.code).toBe('ABORT_ERR')
    // Rejected at the abort, not when the subtask would have finished: it
    // starts after the clock does (abortChild in fixtures/workers/forkjoin.js).
    expect(r.elapsed).toBeLessThan(SUBTASK_MS)
  })

  test('a subtask aborted while queued never blocks its pool: the pool runs the next task', async () => {
    const pool = forkPool({ maxThreads: 1 })
    const r = await within(pool.run({ when: 'queued', ms: 5_000 }, { name: 'abortChild' }), 30_000, 'abortChild queued')
    expect(r.name).toBe('AbortError')
    await expect(within(pool.run(3, { name: 'square' }), 3_000, 'the next task')).resolves.toBe(9)
  })
})

// A task may fork at any point, not only in the synchronous part of its first
// run: after an await, and one subtask after another (await in a loop).
describe.each(CONFIGS)('forking after an await ($maxThreads threads, $concurrentTasksPerWorker per worker)', (config) => {
  test('a subtask forked after `await null` runs', async () => {
    const pool = forkPool(config)
    await expect(within(pool.run(7, { name: 'forkAfterAwait' }), 10_000, 'forkAfterAwait')).resolves.toBe(49)
  })

  test('every worker slot busy with a root that forks after an await: no deadlock', async () => {
    const pool = forkPool(config)
    const roots = config.maxThreads * config.concurrentTasksPerWorker + 1
    const runs = Array.from({ length: roots }, (_, i) => pool.run(i, { name: 'forkAfterAwait' }))
    await expect(within(Promise.all(runs), 20_000, `${roots} forkAfterAwait roots`))
      .resolves.toEqual(Array.from({ length: roots }, (_, i) => i * i))
  })

  test('subtasks awaited one after another all run', async () => {
    const pool = forkPool(config)
    await expect(within(pool.run(5, { name: 'sequentialChildren' }), 10_000, 'sequentialChildren'))
      .resolves.toEqual([0, 1, 4, 9, 16])
  })
})
