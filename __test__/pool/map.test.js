'use strict'
// pool.map() and pool.imap(): a task per item, items crossing threads in
// chunks. Each result is checked against the same function applied on the
// main thread (the reference), for order, errors, abort, backpressure and size.
const fc = require('fast-check')
const { makePool, destroyAll, worker, rejection } = require('../support/pool-helpers')

afterEach(destroyAll)

const double = (x) => x * 2

test('a million items: every result, in input order, as the function gives on this thread', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  const items = Array.from({ length: 1_000_000 }, (_, i) => i)
  const out = await pool.map(items)
  expect(out.length).toBe(items.length)
  let wrong = 0
  for (let i = 0; i < items.length; i++) if (out[i] !== double(items[i])) wrong++
  expect(wrong).toBe(0)
})

test('any list and chunk size: the same results as Array.prototype.map (property)', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: -1e6, max: 1e6 }), { maxLength: 300 }),
      fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
      async (items, chunkSize) => {
        const out = await pool.map(items, { name: 'square', chunkSize })
        expect(out).toEqual(items.map((x) => x * x))
      },
    ),
    { numRuns: 40 },
  )
})

test('values keep their types across threads (structured clone, as run())', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  const items = [new Map([[1, 'a']]), new Date(5), 10n ** 20n, Buffer.from('hi'), new Uint16Array([1, 2]), { a: [1, { b: 2 }] }]
  const out = await pool.map(items, { name: 'echo' })
  expect(out[0]).toEqual(items[0])
  expect(out[1]).toEqual(items[1])
  expect(out[2]).toBe(items[2])
  expect(Buffer.from(out[3]).toString()).toBe('hi')
  expect(Array.from(out[4])).toEqual([1, 2])
  expect(out[5]).toEqual(items[5])
})

test('empty input resolves to [] at once; ordered: false gives every result once', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  expect(await pool.map([])).toEqual([])
  const items = Array.from({ length: 500 }, (_, i) => i)
  const out = await pool.map(items, { name: 'later', ordered: false, chunkSize: 7 })
  expect(out.slice().sort((a, b) => a - b)).toEqual(items.map((x) => x + 1))
})

test('async functions: each item keeps its place', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  const items = Array.from({ length: 200 }, (_, i) => i)
  expect(await pool.map(items, { name: 'later', chunkSize: 9 })).toEqual(items.map((x) => x + 1))
})

test('a failing item rejects the call with its own error and its index in the input', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  const items = Array.from({ length: 5000 }, (_, i) => ({ value: i, bad: 4321 }))
  const err = await rejection(pool.map(items, { name: 'failAt' }))
  expect(err).toBeInstanceOf(Error)
  expect(err.message).toBe('bad 4321')
  expect(err.code).toBe('E_BAD_ITEM')
  expect(err.index).toBe(4321)
  // An error that cannot take an `index` is wrapped, with the original as cause.
  const frozen = await rejection(pool.map([1, 2, 3, 4], { name: 'frozenFailure', chunkSize: 2 }))
  expect(frozen.code).toBe('ERR_SPINDLE_MAP_ITEM_FAILED')
  expect(frozen.index).toBe(2)
  expect(frozen.cause.message).toBe('frozen')
})

test('abort stops every chunk in flight and rejects with AbortError', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  const ac = new AbortController()
  const started = Date.now()
  const p = pool.map(Array.from({ length: 400 }, () => 50), { name: 'sleepy', chunkSize: 1, signal: ac.signal })
  setTimeout(() => ac.abort(), 30)
  const err = await rejection(p)
  expect(err.name).toBe('AbortError')
  expect(err.code).toBe('ABORT_ERR')
  // 400 × 50 ms on 2 threads would take 10 s; stopping leaves nothing queued.
  await pool.run(1)
  expect(Date.now() - started).toBeLessThan(5000)
  expect(await rejection(pool.map([1], { signal: AbortSignal.abort() }))).toMatchObject({ name: 'AbortError' })
})

test('bad arguments reject with coded errors', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 1 })
  expect(await rejection(pool.map(42))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  expect(await rejection(pool.map([1], { chunkSize: 0 }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
  expect(await rejection(pool.map([1], { chunkSize: '3' }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' })
  expect(await rejection(pool.map([1], { ordered: 1 }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' })
  expect(await rejection(pool.map([1], { bogus: true }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
  expect(() => pool.imap(42)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
})

test('imap over an async iterable: results in input order', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  async function* numbers() {
    for (let i = 0; i < 3000; i++) yield i
  }
  const out = []
  for await (const r of pool.imap(numbers(), { name: 'square' })) out.push(r)
  expect(out).toEqual(Array.from({ length: 3000 }, (_, i) => i * i))
})

test('imap backpressure: a slow consumer bounds how far the input is read', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  let pulled = 0
  function* endless() {
    for (;;) {
      pulled++
      yield pulled
    }
  }
  let consumed = 0
  let worstLead = 0
  for await (const r of pool.imap(endless(), { chunkSize: 100 })) {
    expect(r).toBe((consumed + 1) * 2)
    consumed++
    worstLead = Math.max(worstLead, pulled - consumed)
    if (consumed % 1000 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    if (consumed === 20000) break
  }
  // Bounded by the high-water mark plus the chunks in flight, whatever the input's length.
  expect(worstLead).toBeLessThan(4096 + 4 * 100 + 200)
  // Breaking out stopped it: the input is not read on.
  const after = pulled
  await new Promise((resolve) => setTimeout(resolve, 50))
  expect(pulled).toBe(after)
})

test('imap: an error ends the iteration with that error and its index', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2 })
  const items = Array.from({ length: 1000 }, (_, i) => ({ value: i, bad: 777 }))
  const got = []
  const err = await rejection((async () => {
    for await (const r of pool.imap(items, { name: 'failAt', chunkSize: 10 })) got.push(r)
  })())
  expect(err.index).toBe(777)
  expect(got.length).toBeLessThanOrEqual(777)
  expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i))
})

test('chunks spread over the threads', async () => {
  const pool = makePool({ filename: worker('map.js'), maxThreads: 2, minThreads: 2 })
  await pool.run(0)
  // Eight chunks of 20 ms of CPU each: both threads take some.
  const ids = await pool.map(Array.from({ length: 8 }, () => 0), { name: 'whereBusy', chunkSize: 1 })
  expect(ids.length).toBe(8)
  expect(new Set(ids).size).toBe(2)
})
