// Bad arguments to new Pool() throw synchronously, and pool.run() rejects
// (a method returning a promise reports every failure by rejecting), with a
// Node-style code (checked by code and name: instanceof fails across jest's
// contexts). A rejected call leaves the pool usable.
const path = require('node:path')
const { thrown } = require('../support/thrown')
const { makePool, destroyAll, worker, WORKERS, Pool } = require('../support/pool-helpers')

afterEach(destroyAll)

function expectCode(fn, code, name, messagePart) {
  const err = thrown(fn)
  expect(err.code).toBe(code)
  if (name) expect(err.name).toBe(name)
  if (messagePart) expect(err.message).toContain(messagePart)
  return err
}

const FILE = worker('basic.js')

/** What `promise` rejected with, checked like expectCode. */
async function expectRejection(promise, code, name, messagePart) {
  expect(promise).toBeInstanceOf(Promise)
  let err
  await promise.then(() => { throw new Error('expected a rejection') }, (e) => { err = e })
  expect(err.code).toBe(code)
  if (name) expect(err.name).toBe(name)
  if (messagePart) expect(err.message).toContain(messagePart)
  return err
}

describe('new Pool()', () => {
  test('no options: a pool without a filename (as piscina); run() then needs one', async () => {
    const pool = makePool(undefined)
    await expectRejection(pool.run(1), 'ERR_INVALID_ARG_VALUE', 'TypeError', 'filename')
    await expect(pool.run(3, { filename: FILE, name: 'square' })).resolves.toBe(9)
  })

  test.each([
    ['null', null],
    ['a string', FILE],
    ['a number', 1],
    ['an array', [FILE]],
  ])('options that are %s', (_, options) => {
    expectCode(() => new Pool(options), 'ERR_INVALID_ARG_TYPE', 'TypeError', 'options')
  })

  test('no filename ({}) is allowed; run() without one rejects with a code', async () => {
    const pool = makePool({ maxThreads: 1 })
    await expectRejection(pool.run(1), 'ERR_INVALID_ARG_VALUE', 'TypeError', 'filename')
  })

  test('a filename that is not a string', () => {
    expectCode(() => new Pool({ filename: 42 }), 'ERR_INVALID_ARG_TYPE', 'TypeError', 'filename')
  })

  test('a filename of a missing file', () => {
    const missing = path.join(WORKERS, 'does-not-exist.js')
    const err = expectCode(() => new Pool({ filename: missing }), 'ERR_INVALID_ARG_VALUE', 'TypeError', 'filename')
    expect(err.message).toContain('does-not-exist.js')
  })

  test('a filename that names a directory', () => {
    expectCode(() => new Pool({ filename: WORKERS }), 'ERR_INVALID_ARG_VALUE', 'TypeError', 'filename')
  })

  test('an unknown option', () => {
    expectCode(() => new Pool({ filename: FILE, maxThread: 2 }), 'ERR_INVALID_ARG_VALUE', 'TypeError', 'maxThread')
  })

  test.each([
    ['maxThreads', 'x', 'ERR_INVALID_ARG_TYPE'],
    ['maxThreads', 0, 'ERR_OUT_OF_RANGE'],
    ['maxThreads', 1.5, 'ERR_OUT_OF_RANGE'],
    ['maxThreads', -1, 'ERR_OUT_OF_RANGE'],
    ['maxThreads', NaN, 'ERR_OUT_OF_RANGE'],
    ['maxThreads', Infinity, 'ERR_OUT_OF_RANGE'],
    ['maxThreads', null, 'ERR_INVALID_ARG_TYPE'],
    ['minThreads', 'x', 'ERR_INVALID_ARG_TYPE'],
    ['minThreads', -1, 'ERR_OUT_OF_RANGE'],
    ['minThreads', 0.5, 'ERR_OUT_OF_RANGE'],
    ['idleTimeout', 'x', 'ERR_INVALID_ARG_TYPE'],
    ['idleTimeout', -1, 'ERR_OUT_OF_RANGE'],
    ['idleTimeout', 1.5, 'ERR_OUT_OF_RANGE'],
    ['maxQueue', 'x', 'ERR_INVALID_ARG_TYPE'],
    ['maxQueue', -1, 'ERR_OUT_OF_RANGE'],
    ['maxQueue', 2.5, 'ERR_OUT_OF_RANGE'],
    ['concurrentTasksPerWorker', 0, 'ERR_OUT_OF_RANGE'],
    ['concurrentTasksPerWorker', 'x', 'ERR_INVALID_ARG_TYPE'],
    ['concurrentTasksPerWorker', 1.5, 'ERR_OUT_OF_RANGE'],
    ['pollMicros', -1, 'ERR_OUT_OF_RANGE'],
    ['pollMicros', 10_001, 'ERR_OUT_OF_RANGE'],
    ['pollMicros', '5', 'ERR_INVALID_ARG_TYPE'],
    ['coalesceMicros', -1, 'ERR_OUT_OF_RANGE'],
    ['coalesceMicros', 0.5, 'ERR_OUT_OF_RANGE'],
    ['coalesceMicros', true, 'ERR_INVALID_ARG_TYPE'],
    ['spinMicros', 10_001, 'ERR_OUT_OF_RANGE'],
    ['waitMicros', -5, 'ERR_OUT_OF_RANGE'],
    ['name', 5, 'ERR_INVALID_ARG_TYPE'],
    ['argv', 'x', 'ERR_INVALID_ARG_TYPE'],
    ['execArgv', '--no-warnings', 'ERR_INVALID_ARG_TYPE'],
    ['env', 'x', 'ERR_INVALID_ARG_TYPE'],
    ['env', null, 'ERR_INVALID_ARG_TYPE'],
    ['resourceLimits', 'x', 'ERR_INVALID_ARG_TYPE'],
  ])('%s: %p throws %s', (key, value, code) => {
    const err = expectCode(() => new Pool({ filename: FILE, [key]: value }), code)
    expect(err.message).toContain(key)
    expect(err.name).toBe(code === 'ERR_OUT_OF_RANGE' ? 'RangeError' : 'TypeError')
  })

  test('minThreads above maxThreads', () => {
    expectCode(() => new Pool({ filename: FILE, minThreads: 3, maxThreads: 2 }), 'ERR_OUT_OF_RANGE', 'RangeError', 'minThreads')
  })

  test('workerData that cannot be cloned throws synchronously', () => {
    const err = thrown(() => new Pool({ filename: FILE, maxThreads: 1, workerData: { f() {} } }))
    expect(err.message).toMatch(/clone/i)
  })

  test('an execArgv flag that a worker does not accept throws synchronously', () => {
    const err = thrown(() => new Pool({ filename: FILE, maxThreads: 1, execArgv: ['--max-old-space-size=64'] }))
    expect(err.code).toBe('ERR_WORKER_INVALID_EXEC_ARGV')
  })

  test('valid edge values are accepted', async () => {
    const pool = makePool({
      filename: FILE,
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: Infinity,
      maxQueue: Infinity,
      concurrentTasksPerWorker: 1,
      argv: [],
      execArgv: [],
      env: {},
      resourceLimits: {},
    })
    await expect(pool.run({ a: 1, b: 1 })).resolves.toBe(2)
  })
})

describe('pool.run()', () => {
  let pool
  // Not from makePool: afterEach(destroyAll) would destroy it between tests.
  beforeAll(() => {
    pool = new Pool({ filename: FILE, maxThreads: 1 })
  })
  afterAll(() => pool.destroy())
  beforeEach(() => {
    expect(pool.stats().threads).toBe(1)
  })

  test.each([
    ['name: 5', { name: 5 }, 'ERR_INVALID_ARG_TYPE', 'name'],
    ['name: null', { name: null }, 'ERR_INVALID_ARG_TYPE', 'name'],
    ['signal: {}', { signal: {} }, 'ERR_INVALID_ARG_TYPE', 'signal'],
    ['signal: "x"', { signal: 'x' }, 'ERR_INVALID_ARG_TYPE', 'signal'],
    ['signal: null', { signal: null }, 'ERR_INVALID_ARG_TYPE', 'signal'],
    ['transferList: "x"', { transferList: 'x' }, 'ERR_INVALID_ARG_TYPE', 'transferList'],
    ['an unknown option', { nmae: 'square' }, 'ERR_INVALID_ARG_VALUE', 'nmae'],
  ])('%s rejects', async (_, options, code, part) => {
    await expectRejection(pool.run(1, options), code, 'TypeError', part)
  })

  test.each([
    ['a string', 'square'],
    ['a number', 1],
    ['null', null],
    ['an array', []],
  ])('options that are %s reject with ERR_INVALID_ARG_TYPE', async (_, options) => {
    await expectRejection(pool.run(1, options), 'ERR_INVALID_ARG_TYPE', 'TypeError')
  })

  test('after bad calls nothing is pending and the pool still works', async () => {
    for (const options of [{ name: 5 }, { signal: {} }, { bogus: 1 }]) await pool.run(1, options).catch(() => {})
    expect(pool.stats().pending ?? 0).toBe(0)
    await expect(pool.run(6, { name: 'square' })).resolves.toBe(36)
  })
})
