// Pool basics: default and named exports, the pool-level `name`, async
// functions, concurrentTasksPerWorker, ES module workers, many tasks, and the
// counters of stats().
//
// The only timing assertion is a generous bound that a serial run could not
// meet (concurrency); everything else is checked through results and counters.
const { makePool, destroyAll, worker, control, waitFor, rejection } = require('../support/pool-helpers')

afterEach(destroyAll)

describe('running functions', () => {
  test('the default export', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 2 })
    await expect(pool.run({ a: 4, b: 6 })).resolves.toBe(10)
    await expect(pool.run({ a: -1, b: 0.5 })).resolves.toBe(-0.5)
  })

  test('runs in a worker thread, not on the main thread', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1 })
    const { threadId, isMainThread } = await pool.run(null, { name: 'where' })
    expect(isMainThread).toBe(false)
    expect(threadId).toBeGreaterThan(0)
  })

  test('a named export chosen by { name }', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 2 })
    await expect(pool.run(7, { name: 'square' })).resolves.toBe(49)
    await expect(pool.run(7, { name: 'negate' })).resolves.toBe(-7)
    // Without a name, the default export again.
    await expect(pool.run({ a: 1, b: 2 })).resolves.toBe(3)
  })

  test('named and default tasks submitted in the same tick each run their own function', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 2 })
    const results = await Promise.all([
      pool.run(3, { name: 'square' }),
      pool.run({ a: 3, b: 3 }),
      pool.run(3, { name: 'inc' }),
      pool.run(3, { name: 'square' }),
      pool.run(3, { name: 'negate' }),
      pool.run({ a: 1, b: 1 }),
    ])
    expect(results).toEqual([9, 6, 4, 9, -3, 2])
  })

  test('the pool-level name option selects the function; run({ name }) overrides it', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1, name: 'square' })
    await expect(pool.run(5)).resolves.toBe(25)
    await expect(pool.run(5, { name: 'inc' })).resolves.toBe(6)
    await expect(pool.run(6)).resolves.toBe(36)
  })

  test('async functions: the promise is awaited in the worker', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 2 })
    const results = await Promise.all([1, 2, 3, 4, 5].map((x) => pool.run(x, { name: 'asyncDouble' })))
    expect(results).toEqual([2, 4, 6, 8, 10])
    const threadId = await pool.run(5, { name: 'sleep' })
    expect(typeof threadId).toBe('number')
  })

  test('an ES module worker (.mjs): default export', async () => {
    const pool = makePool({ filename: worker('esm.mjs'), maxThreads: 2 })
    await expect(pool.run({ a: 6, b: 7 })).resolves.toBe(42)
  })

  test('an ES module worker (.mjs): named exports, sync and async', async () => {
    const pool = makePool({ filename: worker('esm.mjs'), maxThreads: 2 })
    await expect(pool.run(5, { name: 'negate' })).resolves.toBe(-5)
    const r = await pool.run('x', { name: 'later' })
    expect(r.x).toBe('x')
    expect(r.threadId).toBeGreaterThan(0)
  })

  test('an ES module worker given as a file: URL', async () => {
    const { pathToFileURL } = require('node:url')
    const pool = makePool({ filename: pathToFileURL(worker('esm.mjs')).href, maxThreads: 1 })
    await expect(pool.run({ a: 2, b: 3 })).resolves.toBe(6)
  })

  test('10,000 tasks in flight all complete with the right results', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 2 })
    const n = 10_000
    const promises = []
    for (let i = 0; i < n; i++) promises.push(pool.run(i, { name: 'inc' }))
    const results = await Promise.all(promises)
    expect(results.length).toBe(n)
    for (let i = 0; i < n; i++) {
      if (results[i] !== i + 1) throw new Error(`task ${i} returned ${results[i]}`)
    }
    expect(pool.stats().completed).toBe(n)
  })

  test('10,000 object tasks (structured clone path) all complete correctly', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 2 })
    const n = 10_000
    const promises = []
    for (let i = 0; i < n; i++) promises.push(pool.run({ a: i, b: 2 * i }))
    const results = await Promise.all(promises)
    for (let i = 0; i < n; i++) {
      if (results[i] !== 3 * i) throw new Error(`task ${i} returned ${results[i]}`)
    }
  })
})

describe('concurrentTasksPerWorker', () => {
  test('4 async tasks on one thread run at once (deterministic: all start before any finishes)', async () => {
    const c = control()
    const pool = makePool({
      filename: worker('control.js'),
      maxThreads: 1,
      concurrentTasksPerWorker: 4,
      workerData: { sab: c.sab },
    })
    const runs = [0, 1, 2, 3].map((i) => pool.run(i, { name: 'asyncBlock' }))
    await waitFor(() => c.started() === 4, { what: '4 tasks started on one thread' })
    c.open()
    await expect(Promise.all(runs)).resolves.toEqual([0, 1, 2, 3])
  })

  test('the limit holds: with the default (1), a second async task waits for the first', async () => {
    const c = control()
    const pool = makePool({ filename: worker('control.js'), maxThreads: 1, workerData: { sab: c.sab } })
    const runs = [0, 1, 2].map((i) => pool.run(i, { name: 'asyncBlock' }))
    await waitFor(() => c.started() >= 1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(c.started()).toBe(1)
    c.open()
    await expect(Promise.all(runs)).resolves.toEqual([0, 1, 2])
  })

  test('4 sleeping tasks of 250 ms on one thread sleep at the same time', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1, concurrentTasksPerWorker: 4 })
    await pool.run(0, { name: 'sleep' }) // warm up: the worker has loaded
    const spans = await Promise.all([0, 1, 2, 3].map(() => pool.run(250, { name: 'sleepSpan' })))
    expect(new Set(spans.map((s) => s.threadId)).size).toBe(1) // one thread ran them all
    // Serially, each would start after the one before it ended (≥ 1000 ms in
    // all); an ordering, so a busy machine cannot make it fail.
    expect(Math.max(...spans.map((s) => s.start))).toBeLessThan(Math.min(...spans.map((s) => s.end)))
  })
})

describe('stats()', () => {
  test('has numeric threads, queued, running, completed, failed and stolen', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 2 })
    const s = pool.stats()
    for (const key of ['threads', 'queued', 'running', 'completed', 'failed', 'stolen']) {
      expect(typeof s[key]).toBe('number')
      expect(Number.isInteger(s[key])).toBe(true)
      expect(s[key]).toBeGreaterThanOrEqual(0)
    }
    expect(s.threads).toBe(2)
    expect(s.completed).toBe(0)
    expect(s.failed).toBe(0)
  })

  test('completed counts each finished task exactly once; failed counts throws', async () => {
    const pool = makePool({ filename: worker('errors.js'), maxThreads: 2 })
    await Promise.all(Array.from({ length: 25 }, (_, i) => pool.run(i, { name: 'ok' })))
    expect(pool.stats().completed).toBe(25)
    expect(pool.stats().failed).toBe(0)
    await rejection(pool.run({ message: 'x' }, { name: 'throwError' }))
    await rejection(pool.run(null, { name: 'throwString' }))
    expect(pool.stats().failed).toBe(2)
    await pool.run(1, { name: 'ok' })
    expect(pool.stats().completed).toBe(26)
  })

  test('queued and running reflect a blocked worker and its queue', async () => {
    const c = control()
    const pool = makePool({ filename: worker('control.js'), maxThreads: 1, workerData: { sab: c.sab } })
    const blocked = pool.run({ i: 0 }, { name: 'block' })
    await waitFor(() => c.started() === 1)
    const queued = [1, 2, 3].map((i) => pool.run(i))
    await new Promise((resolve) => setImmediate(resolve)) // let the batch be submitted
    const s = pool.stats()
    expect(s.running).toBe(1)
    expect(s.queued).toBe(3)
    c.open()
    await expect(blocked).resolves.toBe(0)
    await expect(Promise.all(queued)).resolves.toEqual([1, 2, 3])
    const after = pool.stats()
    expect(after.running).toBe(0)
    expect(after.queued).toBe(0)
    expect(after.completed).toBe(4)
  })
})
