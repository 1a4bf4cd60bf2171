// pool.stats(): run-time and wait-time histograms (microseconds: p50, p90,
// p99, max, count), utilization, and stolen counts. Tasks with known
// durations busy-wait (support/fixtures/workers/basic.js `busy`); every timing bound
// is generous (a loaded 2-core machine), but tight enough to catch a wrong
// unit (nanoseconds or milliseconds instead of microseconds).
const { makePool, destroyAll, worker, within } = require('../support/pool-helpers')

afterEach(destroyAll)

const MS = 1000 // microseconds per millisecond

function busyPool(options = {}) {
  return makePool({ filename: worker('basic.js'), maxThreads: 2, ...options })
}

function expectLatencyShape(h) {
  expect(Object.keys(h).sort()).toEqual(['count', 'max', 'p50', 'p90', 'p99'])
  for (const k of ['p50', 'p90', 'p99', 'max', 'count']) {
    expect(typeof h[k]).toBe('number')
    expect(Number.isFinite(h[k])).toBe(true)
    expect(h[k]).toBeGreaterThanOrEqual(0)
  }
  expect(h.p50).toBeLessThanOrEqual(h.p90)
  expect(h.p90).toBeLessThanOrEqual(h.p99)
  expect(h.p99).toBeLessThanOrEqual(h.max)
}

test('a fresh pool: empty histograms, zero utilization, nothing stolen', () => {
  const pool = busyPool()
  const s = pool.stats()
  expectLatencyShape(s.waitTime)
  expectLatencyShape(s.runTime)
  expect(s.waitTime.count).toBe(0)
  expect(s.runTime.count).toBe(0)
  expect(s.waitTime.max).toBe(0)
  expect(s.runTime.max).toBe(0)
  expect(s.utilization).toBe(0)
  expect(s.stolen).toBe(0)
  expect(Array.isArray(s.stolenByWorker)).toBe(true)
  expect(s.stolenByWorker.every((n) => n === 0)).toBe(true)
})

test('after N tasks of ~5 ms: N samples of each, p50 of run time >= ~4 ms, in microseconds', async () => {
  const pool = busyPool()
  const N = 20
  const t0 = performance.now()
  await within(Promise.all(Array.from({ length: N }, () => pool.run(5, { name: 'busy' }))), 30_000, 'busy tasks')
  const wallUs = (performance.now() - t0) * MS
  const s = pool.stats()
  expectLatencyShape(s.runTime)
  expectLatencyShape(s.waitTime)
  expect(s.runTime.count).toBe(N)
  expect(s.waitTime.count).toBe(N)
  expect(s.runTime.p50).toBeGreaterThanOrEqual(4 * MS)
  expect(s.runTime.p50).toBeLessThanOrEqual(s.runTime.max)
  expect(s.runTime.max).toBeGreaterThanOrEqual(5 * MS * 0.99)
  // microseconds, not nanoseconds: a 5 ms task does not read as 5,000,000,
  // nor longer than all the tasks took together
  expect(s.runTime.p50).toBeLessThanOrEqual(wallUs)
  expect(s.utilization).toBeGreaterThan(0)
  expect(s.utilization).toBeLessThanOrEqual(1)
})

test('the histograms are updated by the time each promise settles', async () => {
  const pool = busyPool({ maxThreads: 1 })
  for (let i = 1; i <= 5; i++) {
    await pool.run(1, { name: 'busy' })
    const s = pool.stats()
    expect(s.runTime.count).toBe(i)
    expect(s.waitTime.count).toBe(i)
  }
})

test('10 tasks of ~20 ms queued on 1 thread: the last waited >= ~150 ms', async () => {
  const pool = busyPool({ maxThreads: 1 })
  const t0 = performance.now()
  await within(Promise.all(Array.from({ length: 10 }, () => pool.run(20, { name: 'busy' }))), 30_000, 'queued busy tasks')
  const wallUs = (performance.now() - t0) * MS
  const s = pool.stats()
  expectLatencyShape(s.waitTime)
  expect(s.waitTime.count).toBe(10)
  expect(s.runTime.count).toBe(10)
  expect(s.waitTime.max).toBeGreaterThanOrEqual(150 * MS)
  expect(s.waitTime.max).toBeLessThanOrEqual(wallUs) // no task waited longer than they all took
  expect(s.runTime.p50).toBeGreaterThanOrEqual(19 * MS)
  // One thread, 200 ms busy since the pool started: clearly above zero.
  expect(s.utilization).toBeGreaterThan(0.05)
  expect(s.utilization).toBeLessThanOrEqual(1)
})

test('percentiles reflect the distribution: 18 short tasks and 2 long ones', async () => {
  const pool = busyPool({ maxThreads: 1 })
  const ms = [...Array(18).fill(1), 60, 60]
  for (const m of ms) await pool.run(m, { name: 'busy' })
  const s = pool.stats()
  expectLatencyShape(s.runTime)
  expect(s.runTime.count).toBe(20)
  expect(s.runTime.p99).toBeGreaterThanOrEqual(55 * MS)
  expect(s.runTime.max).toBeGreaterThanOrEqual(59 * MS)
  // Against the long tasks as measured (a busy machine stretches every
  // task): the median is a short one.
  expect(s.runTime.p50).toBeLessThan(s.runTime.max / 2)
  // Run one after another: nothing queued behind a long task, which would
  // have waited about as long as that task ran.
  expect(s.waitTime.p50).toBeLessThan(s.runTime.max / 2)
})

test('utilization stays at most 1 with every thread busy, and rises with work', async () => {
  const pool = busyPool({ maxThreads: 2 })
  await Promise.all([pool.run(1, { name: 'busy' }), pool.run(1, { name: 'busy' })])
  const u0 = pool.stats().utilization
  await within(Promise.all(Array.from({ length: 16 }, () => pool.run(25, { name: 'busy' }))), 30_000, 'busy tasks')
  const u1 = pool.stats().utilization
  expect(u1).toBeGreaterThan(u0)
  expect(u1).toBeLessThanOrEqual(1)
})

test('stolenByWorker has one entry per worker slot and sums to stolen', async () => {
  const pool = busyPool({ maxThreads: 2 })
  await within(Promise.all(Array.from({ length: 40 }, () => pool.run(2, { name: 'busy' }))), 30_000, 'busy tasks')
  const s = pool.stats()
  expect(s.stolenByWorker.length).toBeGreaterThanOrEqual(1)
  expect(s.stolenByWorker.length).toBeLessThanOrEqual(2)
  expect(s.stolenByWorker.reduce((a, b) => a + b, 0)).toBe(s.stolen)
})
