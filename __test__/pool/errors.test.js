// A task that fails rejects with what it threw: an Error keeps its name,
// message, stack (from the worker), cause and own properties; a thrown
// non-Error value rejects with that value; a result that cannot be cloned
// rejects with a DataCloneError-like error. The pool goes on working.
//
// The rebuilt errors come from another realm than jest's, so their type is
// checked with Object.prototype.toString and `name`, never instanceof.
const { makePool, destroyAll, worker, rejection } = require('../support/pool-helpers')

const kind = (x) => Object.prototype.toString.call(x)
let pool

beforeAll(() => {
  pool = makePool({ filename: worker('errors.js'), maxThreads: 2 })
})
afterAll(destroyAll)

describe('a task that throws an Error', () => {
  test('keeps name, message, and a stack from the worker file', async () => {
    const err = await rejection(pool.run({ message: 'bad thing' }, { name: 'throwError' }))
    expect(kind(err)).toBe('[object Error]')
    expect(err.name).toBe('RangeError')
    expect(err.message).toBe('bad thing')
    expect(typeof err.stack).toBe('string')
    expect(err.stack).toContain('bad thing')
    expect(err.stack).toContain('errors.js')
    expect(err.stack).toContain('throwError')
  })

  test('keeps own properties such as code, with structured values', async () => {
    const err = await rejection(pool.run({ message: 'x' }, { name: 'throwError' }))
    expect(err.code).toBe('E_TASK')
    expect(err.detail).toEqual({ n: 1 })
  })

  test('keeps its cause, itself an Error with message and stack', async () => {
    const err = await rejection(pool.run({ message: 'x' }, { name: 'throwError' }))
    expect(err.cause).toBeDefined()
    expect(kind(err.cause)).toBe('[object Error]')
    expect(err.cause.message).toBe('the cause')
    expect(err.cause.stack).toContain('errors.js')
  })

  test('a subclass keeps its custom name, and a non-Error cause is kept as is', async () => {
    const err = await rejection(pool.run(null, { name: 'throwCustom' }))
    expect(err.name).toBe('CustomError')
    expect(err.message).toBe('custom')
    expect(err.code).toBe('E_CUSTOM')
    expect(err.cause).toBe('a string cause')
    expect(err.stack).toContain('errors.js')
  })

  test('an async function that rejects', async () => {
    const err = await rejection(pool.run(null, { name: 'rejectAsync' }))
    expect(err.name).toBe('TypeError')
    expect(err.message).toBe('async failure')
    expect(err.code).toBe('E_ASYNC')
    expect(err.stack).toContain('errors.js')
  })
})

describe('a thrown value that is not an Error rejects with that value', () => {
  test('a string', async () => {
    await expect(pool.run(null, { name: 'throwString' })).rejects.toBe('a thrown string')
  })

  test('a plain object', async () => {
    const thrown = await rejection(pool.run(null, { name: 'throwObject' }))
    expect(thrown).toEqual({ reason: 'plain object', n: 42 })
    expect(kind(thrown)).toBe('[object Object]')
  })

  test('a plain object that has a message property stays a plain object', async () => {
    const thrown = await rejection(pool.run(null, { name: 'throwMessageObject' }))
    expect(kind(thrown)).toBe('[object Object]')
    expect(thrown).toEqual({ message: 'looks like an error', code: 'E_PLAIN' })
  })

  test('a number', async () => {
    await expect(pool.run(null, { name: 'throwNumber' })).rejects.toBe(7)
  })

  test('null', async () => {
    await expect(pool.run(null, { name: 'throwNull' })).rejects.toBeNull()
  })
})

describe('a result that cannot be cloned', () => {
  test.each([
    ['a function', 'returnFunction'],
    ['an object holding a function', 'returnObjectWithFunction'],
    ['a symbol', 'returnSymbol'],
  ])('%s rejects with a DataCloneError-like error', async (_, name) => {
    const err = await rejection(pool.run(null, { name }))
    expect(kind(err)).toBe('[object Error]')
    expect(err.message).toMatch(/could not be cloned|clone/i)
    expect(err.name === 'DataCloneError' || err.name === 'Error').toBe(true)
  })
})

test('after failures the pool still runs tasks, and counts them as failed', async () => {
  const before = pool.stats().failed
  const outcomes = await Promise.allSettled([
    pool.run({ message: 'a' }, { name: 'throwError' }),
    pool.run(1, { name: 'ok' }),
    pool.run(null, { name: 'throwString' }),
    pool.run(null, { name: 'returnFunction' }),
    pool.run(2, { name: 'ok' }),
  ])
  expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'rejected', 'fulfilled'])
  expect(outcomes[1].value).toBe(1)
  expect(outcomes[4].value).toBe(2)
  expect(pool.stats().failed - before).toBe(3)
  expect(pool.stats().threads).toBe(2)
})
