// Async context: the AsyncLocalStorage store active at pool.run() is active
// where the task's promise settles and in its onMessage callbacks — with
// several concurrent runs, each in its own store — and the task is an async
// resource of type 'spindle.Task' to async_hooks (support/fixtures/workers/progress.js).
const { AsyncLocalStorage, createHook, executionAsyncId, AsyncResource } = require('node:async_hooks')
const { makePool, destroyAll, worker, within, rejection } = require('../support/pool-helpers')

afterEach(destroyAll)

function progressPool(options = {}) {
  return makePool({ filename: worker('progress.js'), maxThreads: 2, ...options })
}

describe('AsyncLocalStorage', () => {
  test('the store at run() is the store in .then, after await, and in every onMessage call', async () => {
    const als = new AsyncLocalStorage()
    const pool = progressPool()
    const seen = []
    const { inThen, afterAwait } = await als.run({ id: 'outer' }, async () => {
      let inThen
      const result = await pool.run(5, {
        name: 'count',
        onMessage: () => seen.push(als.getStore()?.id),
      }).then((r) => {
        inThen = als.getStore()?.id
        return r
      })
      expect(result).toBe(5)
      return { inThen, afterAwait: als.getStore()?.id }
    })
    expect(inThen).toBe('outer')
    expect(afterAwait).toBe('outer')
    expect(seen).toEqual(['outer', 'outer', 'outer', 'outer', 'outer'])
    expect(als.getStore()).toBeUndefined()
  })

  test('several concurrent runs, each in its own store', async () => {
    const als = new AsyncLocalStorage()
    const pool = progressPool({ concurrentTasksPerWorker: 4 })
    const ids = Array.from({ length: 12 }, (_, i) => `run-${i}`)
    const runs = ids.map((id, i) => als.run({ id }, async () => {
      const stores = []
      let inThen
      const r = await pool.run(
        i % 2 === 0 ? { tag: id, n: 8 } : 8 + i,
        {
          name: i % 2 === 0 ? 'tagged' : 'count',
          onMessage: () => stores.push(als.getStore()?.id),
        },
      ).then((value) => {
        inThen = als.getStore()?.id
        return value
      })
      return { id, r, stores, inThen, afterAwait: als.getStore()?.id }
    }))
    const results = await within(Promise.all(runs), 30_000, 'concurrent runs')
    results.forEach(({ id, r, stores, inThen, afterAwait }, i) => {
      expect(r).toBe(i % 2 === 0 ? id : 8 + i)
      expect(stores).toHaveLength(i % 2 === 0 ? 8 : 8 + i)
      expect(stores.every((s) => s === id)).toBe(true)
      expect(inThen).toBe(id)
      expect(afterAwait).toBe(id)
    })
  })

  test('a rejection settles in the store too', async () => {
    const als = new AsyncLocalStorage()
    const pool = progressPool({ maxThreads: 1 })
    const seen = []
    const out = await als.run('failing', async () => {
      let inCatch
      const err = await rejection(pool.run(3, {
        name: 'postThenThrow',
        onMessage: () => seen.push(als.getStore()),
      }).catch((e) => {
        inCatch = als.getStore()
        throw e
      }))
      return { code: err.code, inCatch, afterAwait: als.getStore() }
    })
    expect(out).toEqual({ code: 'E_AFTER', inCatch: 'failing', afterAwait: 'failing' })
    expect(seen).toEqual(['failing', 'failing', 'failing'])
  })

  test('onMessage runs in the store of its own run, even when another run is in a different store', async () => {
    // The listener is the same function for both runs; only the store tells them apart.
    const als = new AsyncLocalStorage()
    const pool = progressPool({ maxThreads: 2 })
    const byStore = { A: [], B: [] }
    const listener = (m) => byStore[als.getStore()].push(m.tag)
    await Promise.all([
      als.run('A', () => pool.run({ tag: 'A', n: 10 }, { name: 'tagged', onMessage: listener })),
      als.run('B', () => pool.run({ tag: 'B', n: 10 }, { name: 'tagged', onMessage: listener })),
    ])
    expect(byStore.A).toEqual(Array(10).fill('A'))
    expect(byStore.B).toEqual(Array(10).fill('B'))
  })
})

describe('async_hooks', () => {
  /** Records the hook events of 'spindle.Task' resources while `fn` runs. */
  async function traced(fn) {
    const tasks = new Map() // asyncId → { triggerAsyncId, before, after, destroy }
    const hook = createHook({
      init(asyncId, type, triggerAsyncId) {
        if (type === 'spindle.Task') tasks.set(asyncId, { triggerAsyncId, before: 0, after: 0, destroy: 0 })
      },
      before(asyncId) {
        const t = tasks.get(asyncId)
        if (t) t.before++
      },
      after(asyncId) {
        const t = tasks.get(asyncId)
        if (t) t.after++
      },
      destroy(asyncId) {
        const t = tasks.get(asyncId)
        if (t) t.destroy++
      },
    })
    hook.enable()
    try {
      await fn()
      // emitDestroy is delivered asynchronously (on a later tick).
      await new Promise((resolve) => setTimeout(resolve, 20))
    } finally {
      hook.disable()
    }
    return tasks
  }

  test("init sees type 'spindle.Task' once per run, triggered by the caller's execution context", async () => {
    const pool = progressPool()
    const callers = []
    const tasks = await traced(async () => {
      const runs = []
      for (let i = 0; i < 5; i++) {
        callers.push(executionAsyncId())
        runs.push(pool.run(2, { name: 'count' }))
      }
      await Promise.all(runs)
    })
    expect(tasks.size).toBe(5)
    for (const [asyncId, t] of tasks) {
      expect(asyncId).toBeGreaterThan(0)
      expect(callers).toContain(t.triggerAsyncId)
    }
  })

  test('a run inside another async resource is triggered by that resource', async () => {
    const pool = progressPool({ maxThreads: 1 })
    const outer = new AsyncResource('test.Outer')
    let outerId = -1
    const tasks = await traced(async () => {
      await outer.runInAsyncScope(() => {
        outerId = executionAsyncId()
        return pool.run(1, { name: 'count' })
      })
    })
    outer.emitDestroy()
    expect(outerId).toBe(outer.asyncId())
    expect(tasks.size).toBe(1)
    const [t] = tasks.values()
    expect(t.triggerAsyncId).toBe(outer.asyncId())
  })

  test('the task resource is entered to settle and for each message, and destroyed once', async () => {
    const pool = progressPool({ maxThreads: 1 })
    const idsInListener = []
    const tasks = await traced(async () => {
      await pool.run(4, { name: 'count', onMessage: () => idsInListener.push(executionAsyncId()) })
    })
    expect(tasks.size).toBe(1)
    const [[asyncId, t]] = [...tasks]
    // Each onMessage call runs with the task as the current execution context.
    expect(idsInListener).toEqual([asyncId, asyncId, asyncId, asyncId])
    // 4 messages + the settle, each a before/after pair.
    expect(t.before).toBe(5)
    expect(t.after).toBe(5)
    expect(t.destroy).toBe(1)
  })

  test('a rejected or aborted run is destroyed once too', async () => {
    const pool = progressPool({ maxThreads: 1 })
    const tasks = await traced(async () => {
      await rejection(pool.run(2, { name: 'postThenThrow' }))
      const ac = new AbortController()
      const p = pool.run({ tag: 'x', n: 100, delay: 10 }, { name: 'tagged', signal: ac.signal })
      setTimeout(() => ac.abort(), 30)
      const err = await rejection(p)
      expect(err.name).toBe('AbortError')
    })
    expect(tasks.size).toBe(2)
    for (const t of tasks.values()) {
      expect(t.destroy).toBe(1)
    }
  })
})
