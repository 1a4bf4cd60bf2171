// Cancellation with an AbortSignal: already aborted, aborted while queued,
// aborted while running (blocked in Atomics.wait, or in an endless loop),
// aborted after completion. Whether a task ran is read from counters in a
// SharedArrayBuffer (support/fixtures/workers/control.js), not from timings.
//
// Errors are checked by name and code (instanceof fails across jest's contexts).
const { getEventListeners } = require('node:events')
const { makePool, destroyAll, worker, control, waitFor, within, rejection, sleep } = require('../support/pool-helpers')

afterEach(destroyAll)

async function expectAbortError(promise, reason) {
  const err = await rejection(promise)
  expect(err.name).toBe('AbortError')
  expect(err.code).toBe('ABORT_ERR')
  if (reason !== undefined) expect(err.cause).toBe(reason)
  return err
}

function controlPool(c, options = {}) {
  return makePool({ filename: worker('control.js'), maxThreads: 1, workerData: { sab: c.sab }, ...options })
}

test('an already aborted signal rejects at once, and the task never runs', async () => {
  const c = control()
  const pool = controlPool(c)
  const ac = new AbortController()
  const reason = new Error('no thanks')
  ac.abort(reason)
  await expectAbortError(pool.run(0, { signal: ac.signal }), reason)
  await expect(pool.run(1)).resolves.toBe(1) // the pool works, and has had time to run task 0
  expect(c.ran(0)).toBe(0)
  expect(c.started()).toBe(1)
})

test('a queued task that is aborted rejects and never runs; the others run', async () => {
  const c = control()
  const pool = controlPool(c)
  const running = pool.run({ i: 0 }, { name: 'block' })
  await waitFor(() => c.started() === 1)
  const ac = new AbortController()
  const queued = [1, 2, 3].map((i) => pool.run(i, i === 2 ? { signal: ac.signal } : undefined))
  ac.abort()
  await expectAbortError(queued[1], ac.signal.reason)
  c.open()
  await expect(Promise.all([running, queued[0], queued[2]])).resolves.toEqual([0, 1, 3])
  await pool.run(4)
  expect(c.ran(2)).toBe(0)
  expect([0, 1, 3, 4].map(c.ran)).toEqual([1, 1, 1, 1])
})

test('a queued task aborted in the same tick as run() never runs', async () => {
  const c = control()
  const pool = controlPool(c)
  const ac = new AbortController()
  const p = pool.run(0, { signal: ac.signal })
  ac.abort()
  await expectAbortError(p)
  await expect(pool.run(1)).resolves.toBe(1)
  expect(c.ran(0)).toBe(0)
})

test('aborting half of 200 queued tasks: exactly the others run', async () => {
  const c = control(256)
  const pool = controlPool(c, { maxThreads: 2 })
  const blockers = [pool.run({ i: 200 }, { name: 'block' }), pool.run({ i: 201 }, { name: 'block' })]
  await waitFor(() => c.started() === 2)
  const controllers = []
  const runs = []
  for (let i = 0; i < 200; i++) {
    const ac = new AbortController()
    controllers.push(ac)
    runs.push(pool.run(i, { signal: ac.signal }))
  }
  await sleep(0)
  for (let i = 0; i < 200; i += 2) controllers[i].abort()
  c.open()
  const outcomes = await Promise.allSettled(runs)
  await Promise.all(blockers)
  for (let i = 0; i < 200; i++) {
    if (i % 2 === 0) {
      expect(outcomes[i].status).toBe('rejected')
      expect(outcomes[i].reason.name).toBe('AbortError')
      expect(c.ran(i)).toBe(0)
    } else {
      expect(outcomes[i]).toEqual({ status: 'fulfilled', value: i })
      expect(c.ran(i)).toBe(1)
    }
  }
})

describe('a running task that is aborted', () => {
  test.each([
    ['blocked in Atomics.wait', 'block', (i) => ({ i, timeoutMs: 120_000 })],
    ['in an endless loop', 'spin', (i) => i],
  ])('%s: rejects at once, its worker is replaced, no queued task is lost', async (_, name, arg) => {
    const c = control()
    const pool = controlPool(c, { maxThreads: 1 })
    const firstThread = await pool.run(null, { name: 'threadId' })
    const ac = new AbortController()
    const running = pool.run(arg(0), { name, signal: ac.signal })
    await waitFor(() => c.started() === 1)
    const queued = [1, 2, 3].map((i) => pool.run(i))
    ac.abort()
    await within(expectAbortError(running, ac.signal.reason), 2_000, 'the abort')
    await expect(within(Promise.all(queued), 10_000, 'the queued tasks')).resolves.toEqual([1, 2, 3])
    await waitFor(() => pool.stats().threads === 1, { what: 'the worker replaced' })
    const nextThread = await pool.run(null, { name: 'threadId' })
    expect(nextThread).not.toBe(firstThread)
    await expect(Promise.all([4, 5].map((i) => pool.run(i)))).resolves.toEqual([4, 5])
    expect([1, 2, 3, 4, 5].map(c.ran)).toEqual([1, 1, 1, 1, 1])
  })

  test('on a pool of 2, the other worker\'s task is not disturbed and threads return to 2', async () => {
    const c = control()
    const pool = controlPool(c, { maxThreads: 2 })
    const ac = new AbortController()
    const aborted = pool.run(0, { name: 'spin', signal: ac.signal })
    const other = pool.run({ i: 1 }, { name: 'block' })
    await waitFor(() => c.started() === 2)
    ac.abort()
    await within(expectAbortError(aborted), 2_000, 'the abort')
    c.open()
    await expect(other).resolves.toBe(1)
    await waitFor(() => pool.stats().threads === 2, { what: 'threads back to 2' })
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.run(10 + i)))
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i))
  })

  test('with concurrentTasksPerWorker, another task running on the same worker is not lost', async () => {
    const c = control()
    const pool = controlPool(c, { maxThreads: 1, concurrentTasksPerWorker: 2 })
    const ac = new AbortController()
    const aborted = pool.run(0, { name: 'asyncBlock', signal: ac.signal })
    const sibling = pool.run(1, { name: 'asyncBlock' })
    await waitFor(() => c.started() === 2)
    ac.abort()
    await expectAbortError(aborted)
    c.open()
    await expect(within(sibling, 10_000, 'the sibling task')).resolves.toBe(1)
  })
})

test('aborting after completion changes nothing, and the listener is removed', async () => {
  const c = control()
  const pool = controlPool(c)
  const ac = new AbortController()
  await expect(pool.run(7, { signal: ac.signal })).resolves.toBe(7)
  expect(getEventListeners(ac.signal, 'abort').length).toBe(0)
  ac.abort()
  await expect(pool.run(8)).resolves.toBe(8)
  expect(pool.stats().threads).toBe(1)
})

test('the abort listener is removed when a task fails or is aborted', async () => {
  const c = control()
  const pool = controlPool(c)
  const ac = new AbortController()
  await rejection(pool.run(null, { name: 'nope', signal: ac.signal }))
  expect(getEventListeners(ac.signal, 'abort').length).toBe(0)
  const ac2 = new AbortController()
  const p = pool.run(1, { signal: ac2.signal })
  ac2.abort()
  await rejection(p)
  expect(getEventListeners(ac2.signal, 'abort').length).toBe(0)
})

test('one signal shared by several tasks aborts all of them', async () => {
  const c = control()
  const pool = controlPool(c)
  const running = pool.run({ i: 0 }, { name: 'block' })
  await waitFor(() => c.started() === 1)
  const ac = new AbortController()
  const runs = [1, 2, 3].map((i) => pool.run(i, { signal: ac.signal }))
  ac.abort()
  for (const p of runs) await expectAbortError(p)
  c.open()
  await running
  await pool.run(4)
  expect([1, 2, 3].map(c.ran)).toEqual([0, 0, 0])
})
