// Hostile input to the exports that are neither Pool, Kernels nor Reactor
// (found by the fuzz suite, __test__/fuzz): every error has a code.
const { AbortError } = require('../..')
const { thrown } = require('../support/thrown')

function revoked(target) {
  const { proxy, revoke } = Proxy.revocable(target, {})
  revoke()
  return proxy
}

function detachedView() {
  const u = new Uint8Array(8)
  structuredClone(u.buffer, { transfer: [u.buffer] })
  return u
}

describe('new AbortError(message, options)', () => {
  test('as Node: the default message, ABORT_ERR, the cause', () => {
    const cause = new Error('why')
    const err = new AbortError(undefined, { cause })
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('AbortError')
    expect(err.code).toBe('ABORT_ERR')
    expect(err.message).toBe('The operation was aborted')
    expect(err.cause).toBe(cause)
    expect(new AbortError('m', null).message).toBe('m')
    expect(new AbortError(42).message).toBe('42')
    expect('cause' in new AbortError('m', {})).toBe(false)
  })

  test('a Symbol as message: ERR_INVALID_ARG_TYPE', () => {
    expect(thrown(() => new AbortError(Symbol('s'))).code).toBe('ERR_INVALID_ARG_TYPE')
  })

  test('a message the engine cannot convert (an array holding a detached view, a revoked Proxy): ERR_INVALID_ARG_VALUE', () => {
    const sparse = []
    sparse.length = 2 ** 32 - 1 // too long for a string: RangeError
    for (const message of [[detachedView()], revoked({}), sparse]) {
      const err = thrown(() => new AbortError(message))
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE')
      expect(['TypeError', 'RangeError']).toContain(err.cause.name) // the engine's, maybe of another realm
    }
  })

  test("a message whose own toString throws: the user's error, unchanged", () => {
    const mine = new Error('mine')
    expect(thrown(() => new AbortError({ toString() { throw mine } }))).toBe(mine)
  })

  test('options not an object: ERR_INVALID_ARG_TYPE, as Node', () => {
    for (const options of [1, 'x', Symbol('s'), () => {}]) {
      expect(thrown(() => new AbortError('m', options)).code).toBe('ERR_INVALID_ARG_TYPE')
    }
  })

  test('a revoked Proxy as options: ERR_INVALID_ARG_VALUE', () => {
    for (const options of [revoked({}), revoked([])]) {
      expect(thrown(() => new AbortError('m', options)).code).toBe('ERR_INVALID_ARG_VALUE')
    }
  })

  test('an inherited cause is not honoured; an own one is read once', () => {
    let reads = 0
    const options = { get cause() { reads++; return 'own' } }
    expect(new AbortError('m', options).cause).toBe('own')
    expect(reads).toBe(1)
    expect('cause' in new AbortError('m', Object.create({ cause: 'inherited' }))).toBe(false)
  })
})
