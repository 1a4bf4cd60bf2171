// Progress messages: ctx.postMessage in a task reaches the caller's
// `pool.run(arg, { onMessage })`, in order, all before the task's promise
// settles (support/fixtures/workers/progress.js). Structured values, concurrent
// tasks, postMessage after the task finished, a listener that throws (in a
// child process, where its uncaught report can be observed without failing
// jest), and subtask-free edge cases.
const { execFile } = require('node:child_process')
const { makePool, destroyAll, worker, within, rejection } = require('../support/pool-helpers')

afterEach(destroyAll)

const kind = (x) => Object.prototype.toString.call(x)

function progressPool(options = {}) {
  return makePool({ filename: worker('progress.js'), maxThreads: 2, ...options })
}

/** Runs `name` with `arg`; resolves to { result, messages, atSettle }. */
async function collect(pool, name, arg) {
  const messages = []
  let atSettle = -1
  const result = await pool.run(arg, { name, onMessage: (m) => messages.push(m) }).then((r) => {
    atSettle = messages.length
    return r
  })
  return { result, messages, atSettle }
}

test('1,000 messages arrive in order, all before the promise settles', async () => {
  const pool = progressPool({ maxThreads: 1 })
  const { result, messages, atSettle } = await collect(pool, 'count', 1000)
  expect(result).toBe(1000)
  expect(atSettle).toBe(1000)
  expect(messages).toEqual(Array.from({ length: 1000 }, (_, i) => i))
})

test('messages posted across awaits arrive in order, before the promise settles', async () => {
  const pool = progressPool()
  const { result, messages, atSettle } = await collect(pool, 'tagged', { tag: 'a', n: 30 })
  expect(result).toBe('a')
  expect(atSettle).toBe(30)
  expect(messages).toEqual(Array.from({ length: 30 }, (_, i) => ({ tag: 'a', i })))
})

test('the listener is called with each message before the promise is settled (not only before .then runs)', async () => {
  const pool = progressPool({ maxThreads: 1 })
  let settled = false
  const late = []
  const p = pool.run(200, {
    name: 'count',
    onMessage: (m) => {
      if (settled) late.push(m)
    },
  })
  p.then(() => {
    settled = true
  })
  await p
  expect(late).toEqual([])
})

test('require(<repo root>).current.postMessage reaches the same listener', async () => {
  const pool = progressPool({ maxThreads: 1 })
  const { result, messages, atSettle } = await collect(pool, 'viaCurrent', 50)
  expect(result).toBe(50)
  expect(atSettle).toBe(50)
  expect(messages).toEqual(Array.from({ length: 50 }, (_, i) => i))
})

test('structured values as messages: Map, Set, typed arrays, nested objects, Date, BigInt', async () => {
  const pool = progressPool({ maxThreads: 1 })
  const { result, messages } = await collect(pool, 'structured', null)
  expect(result).toBe('done')
  expect(messages).toHaveLength(11)
  const [map, set, f64, u8, big64, obj, str, num, nul, undef, image] = messages
  expect(kind(map)).toBe('[object Map]')
  expect([...map]).toEqual([['a', 1], ['b', { deep: [1, 2, 3] }]])
  expect(kind(set)).toBe('[object Set]')
  expect([...set]).toEqual(['x', 'y'])
  expect(kind(f64)).toBe('[object Float64Array]')
  expect(f64[0]).toBe(1.5)
  expect(Object.is(f64[1], -0)).toBe(true)
  expect(f64[2]).toBeNaN()
  expect(f64[3]).toBe(Infinity)
  expect(kind(u8)).toBe('[object Uint8Array]')
  expect([...u8]).toEqual([1, 2, 255])
  expect(kind(big64)).toBe('[object BigInt64Array]')
  expect([...big64]).toEqual([-(2n ** 63n), 2n ** 63n - 1n])
  expect(obj.nested.list).toEqual([1, 'two', null, true])
  expect(kind(obj.nested.when)).toBe('[object Date]')
  expect(obj.nested.when.getTime()).toBe(0)
  expect(obj.big).toBe(10n ** 20n)
  expect(str).toBe('a string')
  expect(num).toBe(42)
  expect(nul).toBeNull()
  expect(undef).toBeUndefined()
  expect(image.width).toBe(1024)
  expect(kind(image.image)).toBe('[object Uint8Array]')
  expect(image.image.length).toBe(1 << 20)
  expect(image.image.every((b) => b === 9)).toBe(true)
})

test('messages from concurrent tasks reach their own callers, each in order', async () => {
  const pool = progressPool({ maxThreads: 2, concurrentTasksPerWorker: 3 })
  const tags = ['a', 'b', 'c', 'd', 'e', 'f']
  const runs = tags.map((tag) => collect(pool, 'tagged', { tag, n: 20 }))
  const results = await within(Promise.all(runs), 30_000, 'concurrent tagged tasks')
  results.forEach(({ result, messages, atSettle }, k) => {
    expect(result).toBe(tags[k])
    expect(atSettle).toBe(20)
    expect(messages).toEqual(Array.from({ length: 20 }, (_, i) => ({ tag: tags[k], i })))
  })
})

test('many concurrent synchronous tasks: no message is lost or misdelivered', async () => {
  const pool = progressPool({ maxThreads: 2 })
  const runs = Array.from({ length: 50 }, (_, k) => collect(pool, 'count', 20 + k))
  const results = await within(Promise.all(runs), 30_000, '50 counting tasks')
  results.forEach(({ result, messages, atSettle }, k) => {
    expect(result).toBe(20 + k)
    expect(atSettle).toBe(20 + k)
    expect(messages).toEqual(Array.from({ length: 20 + k }, (_, i) => i))
  })
})

test('a task without onMessage may post: the messages are dropped, the result arrives', async () => {
  const pool = progressPool({ maxThreads: 1 })
  await expect(pool.run(500, { name: 'count' })).resolves.toBe(500)
  // and a later task's listener does not receive them
  const { messages } = await collect(pool, 'count', 3)
  expect(messages).toEqual([0, 1, 2])
})

test('postMessage returns true while the task runs and false after it finished', async () => {
  const pool = progressPool({ maxThreads: 1 })
  const first = await collect(pool, 'keep', null)
  expect(first.result).toBe(true)
  expect(first.messages).toEqual(['during'])
  const second = await collect(pool, 'postStale', null)
  expect(second.result).toBe(false)
  // The stale message went nowhere: not to the finished task's caller, not to this one.
  expect(second.messages).toEqual([])
  expect(first.messages).toEqual(['during'])
})

test('postMessage from a timer after the task returned returns false and is not delivered', async () => {
  const pool = progressPool({ maxThreads: 1 })
  const { result, messages } = await collect(pool, 'postLater', null)
  expect(result).toBe('returned')
  let report = null
  const end = Date.now() + 10_000
  while (report === null && Date.now() < end) {
    report = await pool.run(null, { name: 'readLater' })
    if (report === null || report.result === undefined) {
      report = null
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  expect(report).toEqual({ result: false })
  expect(messages).toEqual(['first'])
})

test('messages posted before a task throws arrive before its rejection', async () => {
  const pool = progressPool({ maxThreads: 1 })
  const messages = []
  let atSettle = -1
  const err = await rejection(pool.run(25, {
    name: 'postThenThrow',
    onMessage: (m) => messages.push(m),
  }).catch((e) => {
    atSettle = messages.length
    throw e
  }))
  expect(err.message).toBe('after messages')
  expect(err.code).toBe('E_AFTER')
  expect(atSettle).toBe(25)
  expect(messages).toEqual(Array.from({ length: 25 }, (_, i) => i))
})

test('onMessage must be a function (run() rejects)', async () => {
  const pool = progressPool({ maxThreads: 1 })
  await expect(pool.run(1, { name: 'count', onMessage: 'nope' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' })
})

test('a throwing listener loses no other message and not the result; its error is reported as uncaught', async () => {
  // In a child process: the error is rethrown on process.nextTick as an
  // uncaught exception, which inside jest would fail the test itself.
  const script = worker('throwing-listener.js')
  const { stdout, stderr } = await new Promise((resolve, reject) => {
    execFile(process.execPath, [script, '10', '3'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }))
      else resolve({ stdout, stderr })
    })
  })
  expect(stderr).toBe('')
  const out = JSON.parse(stdout)
  expect(out.seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 'second:0', 'second:1'])
  expect(out.outcome).toEqual({ result: 'posted 10' })
  expect(out.second).toBe('posted 2')
  expect(out.uncaught).toEqual([{ message: 'listener failed at 3', code: 'E_LISTENER' }])
})
