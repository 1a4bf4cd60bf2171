// Pool options: minThreads/maxThreads, idleTimeout, maxQueue with its
// 'drain' event, workerData, and the Worker options passed through (env,
// argv, execArgv, resourceLimits).
//
// Blocking tasks are held with Atomics (support/fixtures/workers/control.js) so that
// "how many run at once" is read from counters, not from timings.
const os = require('node:os')
const spindle = require('../..')
const { makePool, destroyAll, worker, control, waitFor, within, rejection, sleep } = require('../support/pool-helpers')

afterEach(destroyAll)

describe('minThreads and maxThreads', () => {
  test('maxThreads defaults to the available parallelism', () => {
    const pool = makePool({ filename: worker('basic.js') })
    const expected = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
    expect(pool.stats().threads).toBe(expected)
  })

  test('with only maxThreads, that many threads start', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 3 })
    expect(pool.stats().threads).toBe(3)
    await pool.run({ a: 1, b: 1 })
    expect(pool.stats().threads).toBe(3)
  })

  test('maxThreads tasks run at once, and no more', async () => {
    const c = control()
    const pool = makePool({ filename: worker('control.js'), maxThreads: 3, workerData: { sab: c.sab } })
    const runs = [0, 1, 2, 3, 4].map((i) => pool.run({ i }, { name: 'block' }))
    await waitFor(() => c.started() === 3, { what: '3 tasks running' })
    await sleep(200)
    expect(c.started()).toBe(3)
    c.open()
    await expect(Promise.all(runs)).resolves.toEqual([0, 1, 2, 3, 4])
  })

  test('minThreads threads start; under load the pool grows to maxThreads', async () => {
    const c = control()
    const pool = makePool({
      filename: worker('control.js'),
      minThreads: 1,
      maxThreads: 3,
      workerData: { sab: c.sab },
    })
    expect(pool.stats().threads).toBe(1)
    const runs = [0, 1, 2].map((i) => pool.run({ i, timeoutMs: 10_000 }, { name: 'block' }))
    let grew = true
    try {
      await waitFor(() => c.started() === 3, { timeout: 5_000, what: '3 tasks running at once' })
    } catch {
      grew = false
    }
    const threads = pool.stats().threads
    c.open()
    await Promise.all(runs)
    expect({ grew, threads }).toEqual({ grew: true, threads: 3 })
  })
})

describe('idleTimeout', () => {
  test('threads above minThreads retire after being idle; the pool still works afterwards', async () => {
    const c = control()
    const pool = makePool({
      filename: worker('control.js'),
      minThreads: 1,
      maxThreads: 2,
      idleTimeout: 100,
      workerData: { sab: c.sab },
    })
    const runs = [0, 1].map((i) => pool.run({ i, timeoutMs: 10_000 }, { name: 'block' }))
    // Both tasks must run at once, on 2 threads, before the idle phase means anything.
    const grown = await waitFor(() => c.started() === 2, { timeout: 5_000 }).then(() => true, () => false)
    const threadsUnderLoad = pool.stats().threads
    c.open()
    await Promise.all(runs)
    expect({ grown, threadsUnderLoad }).toEqual({ grown: true, threadsUnderLoad: 2 })
    await waitFor(() => pool.stats().threads === 1, { timeout: 5_000, what: 'threads back to minThreads' })
    await expect(within(pool.run(5), 5_000, 'a task after retirement')).resolves.toBe(5)
  })

  test('with minThreads: 0 every thread may retire, and a later task still runs', async () => {
    const pool = makePool({ filename: worker('basic.js'), minThreads: 0, maxThreads: 1, idleTimeout: 50 })
    await expect(within(pool.run(2, { name: 'square' }), 5_000, 'the first task')).resolves.toBe(4)
    await waitFor(() => pool.stats().threads === 0, { timeout: 5_000, what: 'all threads retired' })
    await expect(within(pool.run(3, { name: 'square' }), 5_000, 'a task after every thread retired')).resolves.toBe(9)
  })

  test('threads at minThreads never retire, including a replacement for one that died', async () => {
    const pool = makePool({ filename: worker('die.js'), minThreads: 2, maxThreads: 2, idleTimeout: 50 })
    await rejection(pool.run(1, { name: 'exit' }))
    await waitFor(() => pool.stats().threads === 2, { what: 'the dead worker replaced' })
    await sleep(500)
    expect(pool.stats().threads).toBe(2)
    await expect(pool.run(7)).resolves.toBe(7)
  })

  test('without idleTimeout, idle threads stay', async () => {
    const pool = makePool({ filename: worker('basic.js'), minThreads: 1, maxThreads: 2 })
    await pool.run(1, { name: 'inc' })
    await sleep(300)
    expect(pool.stats().threads).toBeGreaterThanOrEqual(1)
  })
})

describe('maxQueue', () => {
  test('a full queue rejects with ERR_SPINDLE_QUEUE_FULL, and \'drain\' fires when there is room', async () => {
    const c = control()
    const pool = makePool({ filename: worker('control.js'), maxThreads: 1, maxQueue: 2, workerData: { sab: c.sab } })
    const running = pool.run({ i: 0 }, { name: 'block' })
    await waitFor(() => c.started() === 1)
    const queued = [pool.run(1), pool.run(2)]
    const err = await rejection(pool.run(3))
    expect(err.code).toBe('ERR_SPINDLE_QUEUE_FULL')
    expect(err.message).toMatch(/queue/i)
    expect(c.ran(3)).toBe(0)
    const drained = new Promise((resolve) => pool.once('drain', resolve))
    c.open()
    await within(drained, 5_000, "the 'drain' event")
    await expect(Promise.all([running, ...queued])).resolves.toEqual([0, 1, 2])
    await expect(pool.run(4)).resolves.toBe(4)
    expect(c.ran(3)).toBe(0)
  })

  test('maxQueue: 0 accepts only what can run at once', async () => {
    const c = control()
    const pool = makePool({ filename: worker('control.js'), maxThreads: 1, maxQueue: 0, workerData: { sab: c.sab } })
    const running = pool.run({ i: 0 }, { name: 'block' })
    const err = await rejection(pool.run(1))
    expect(err.code).toBe('ERR_SPINDLE_QUEUE_FULL')
    c.open()
    await expect(running).resolves.toBe(0)
    await expect(pool.run(2)).resolves.toBe(2)
  })

  test('the queue-full rejection is a rejected promise, not a synchronous throw', async () => {
    const c = control()
    const pool = makePool({ filename: worker('control.js'), maxThreads: 1, maxQueue: 0, workerData: { sab: c.sab } })
    const running = pool.run({ i: 0 }, { name: 'block' })
    let result
    expect(() => {
      result = pool.run(1)
    }).not.toThrow()
    expect(typeof result.then).toBe('function')
    await rejection(result)
    c.open()
    await running
  })
})

describe('workerData', () => {
  test('is readable in the worker through require(spindle).workerData, structured-cloned', async () => {
    const data = { n: 1, map: new Map([['k', [1, 2]]]), date: new Date(5), big: 7n }
    const pool = makePool({ filename: worker('env.js'), maxThreads: 1, workerData: data })
    const seen = await pool.run(null, { name: 'workerData' })
    expect(seen).toEqual(data)
  })

  test('every worker sees the same workerData', async () => {
    const pool = makePool({ filename: worker('env.js'), maxThreads: 2, concurrentTasksPerWorker: 1, workerData: 'shared' })
    const seen = await Promise.all(Array.from({ length: 20 }, () => pool.run(null, { name: 'workerData' })))
    expect(new Set(seen)).toEqual(new Set(['shared']))
  })

  test('is undefined when not given, and undefined on the main thread', async () => {
    const pool = makePool({ filename: worker('env.js'), maxThreads: 1 })
    await expect(pool.run(null, { name: 'workerData' })).resolves.toBeUndefined()
    expect(spindle.workerData).toBeUndefined()
  })
})

describe('Worker options passed through', () => {
  test('env: the worker\'s process.env is the given object', async () => {
    const pool = makePool({ filename: worker('env.js'), maxThreads: 1, env: { SPINDLE_TEST_ENV: 'from-pool' } })
    const r = await pool.run('SPINDLE_TEST_ENV')
    expect(r.isMainThread).toBe(false)
    expect(r.env).toBe('from-pool')
    await expect(pool.run('PATH')).resolves.toMatchObject({ env: undefined })
  })

  test('without env, the worker sees the parent\'s environment', async () => {
    // (jest gives each spec its own copy of process.env, so a variable set
    // here would not reach the real one: compare one inherited from outside.)
    expect(process.env.PATH).toBeTruthy()
    const pool = makePool({ filename: worker('env.js'), maxThreads: 1 })
    await expect(pool.run('PATH')).resolves.toMatchObject({ env: process.env.PATH })
  })

  test('argv is appended to the worker\'s process.argv', async () => {
    const pool = makePool({ filename: worker('env.js'), maxThreads: 1, argv: ['--alpha', 'beta', 3] })
    const r = await pool.run()
    expect(r.argv).toEqual(['--alpha', 'beta', '3'])
  })

  test('execArgv becomes the worker\'s process.execArgv', async () => {
    const pool = makePool({ filename: worker('env.js'), maxThreads: 1, execArgv: ['--no-deprecation'] })
    const r = await pool.run()
    expect(r.execArgv).toEqual(['--no-deprecation'])
  })

  test('resourceLimits are applied to the worker', async () => {
    const pool = makePool({
      filename: worker('env.js'),
      maxThreads: 1,
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8, stackSizeMb: 2 },
    })
    const r = await pool.run()
    expect(r.resourceLimits.maxOldGenerationSizeMb).toBe(64)
    expect(r.resourceLimits.maxYoungGenerationSizeMb).toBe(8)
    expect(r.resourceLimits.stackSizeMb).toBe(2)
  })
})
