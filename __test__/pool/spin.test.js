// The adaptive spin (src/scheduler/spin.rs): a worker spins briefly after a
// task for the next one, and the pool stops spinning (and polling) for a
// while when most spins come up empty. These tests check what holds on any
// machine, loaded or not: the counters of stats().spin, that a pool fed
// seldom stops spinning, and that results do not depend on any of it. The
// rule's arithmetic is covered by the Rust unit tests of spin.rs.
const { makePool, destroyAll, worker } = require('../support/pool-helpers')

afterEach(destroyAll)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

test('stats().spin has its counters, consistent with each other', async () => {
  const pool = makePool({ filename: worker('basic.js'), maxThreads: 1 })
  const fresh = pool.stats().spin
  expect(fresh).toEqual({ spins: 0, found: 0, holds: 0, held: false })
  for (let i = 0; i < 50; i++) expect(await pool.run(i, { name: 'inc' })).toBe(i + 1)
  const spin = pool.stats().spin
  // The first spin follows the first task; a hold needs dozens of empty spins.
  expect(spin.spins).toBeGreaterThan(0)
  expect(spin.spins).toBeLessThanOrEqual(50)
  expect(spin.found).toBeLessThanOrEqual(spin.spins)
  expect(typeof spin.held).toBe('boolean')
})

test('spinMicros: 0 never spins, and results are the same', async () => {
  const pool = makePool({ filename: worker('basic.js'), maxThreads: 2, spinMicros: 0 })
  const out = []
  for (let i = 0; i < 50; i++) out.push(await pool.run(i, { name: 'inc' }))
  expect(out).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
  expect(pool.stats().spin).toMatchObject({ spins: 0, found: 0, holds: 0 })
})

test('a pool fed every few milliseconds stops spinning after a few dozen tasks', async () => {
  // Each spin (50 µs) comes up empty: the next task comes a timer tick later.
  // The pool holds after about 45 such spins and renews the hold with a few
  // more each time, so most of 150 tasks start without a spin.
  const N = 150
  const pool = makePool({ filename: worker('basic.js'), maxThreads: 1, spinMicros: 50 })
  for (let i = 0; i < N; i++) {
    expect(await pool.run(i, { name: 'inc' })).toBe(i + 1)
    await sleep(1)
  }
  const spin = pool.stats().spin
  expect(spin.holds).toBeGreaterThan(0)
  expect(spin.spins).toBeLessThan(N * 0.75)
  expect(spin.found).toBeLessThan(spin.spins / 4)
})
