// Bad arguments throw synchronously, before any work starts, with Node-style
// codes. Errors are checked by name and code, not instanceof (jest runs tests
// in a separate context).
const spindle = require('../..')
const { thrown } = require('../support/thrown')

function expectThrow(fn, name, code) {
  const err = thrown(fn)
  expect({ name: err.name, code: err.code }).toEqual({ name, code })
  expect(typeof err.message).toBe('string')
  expect(err.message.length).toBeGreaterThan(0)
  return err
}

const typeError = (fn) => expectThrow(fn, 'TypeError', 'ERR_INVALID_ARG_TYPE')
const valueError = (fn) => expectThrow(fn, 'TypeError', 'ERR_INVALID_ARG_VALUE')
const rangeError = (fn) => expectThrow(fn, 'RangeError', 'ERR_OUT_OF_RANGE')

function detached(make) {
  const view = make()
  const buffer = view instanceof ArrayBuffer ? view : view.buffer
  structuredClone(buffer, { transfer: [buffer] })
  expect(buffer.byteLength).toBe(0) // really detached
  return view
}

const NOT_ARRAYS = [
  ['a plain array', [3, 1, 2]],
  ['a number', 42],
  ['a string', 'abc'],
  ['null', null],
  ['undefined', undefined],
  ['an object', { length: 2, 0: 1, 1: 2 }],
  ['a DataView', new DataView(new ArrayBuffer(8))],
  ['an ArrayBuffer', new ArrayBuffer(8)],
  ['a function', () => {}],
  ['a bigint', 5n],
  ['an object posing as a Float64Array', { [Symbol.toStringTag]: 'Float64Array', length: 0 }],
  ['a Float64Array-like Proxy', new Proxy({}, { getPrototypeOf: () => Float64Array.prototype })],
]

describe.each([
  ['sort', (a, o) => spindle.sort(a, o)],
  ['stats', (a, o) => spindle.stats(a, o)],
])('%s', (name, call) => {
  test.each(NOT_ARRAYS)('rejects %s with ERR_INVALID_ARG_TYPE', (_, value) => {
    const err = typeError(() => call(value))
    expect(err.message).toContain('"array" argument')
  })
  test('a missing argument', () => {
    typeError(() => (name === 'sort' ? spindle.sort() : spindle.stats()))
  })
  test('detached buffers', () => {
    for (const make of [() => new Float64Array(16), () => new Uint8Array(3), () => new BigInt64Array(2)]) {
      const err = valueError(() => call(detached(make)))
      expect(err.message).toContain('detached')
    }
  })
  test('resizable buffers (a shrink under a running kernel would crash the process)', () => {
    const ab = new ArrayBuffer(64, { maxByteLength: 128 })
    for (const view of [new Float64Array(ab), new Int32Array(ab, 8, 4)]) {
      const err = valueError(() => call(view))
      expect(err.message).toContain('resizable')
    }
  })
  test('a growable SharedArrayBuffer is accepted (it never shrinks)', async () => {
    const sab = new SharedArrayBuffer(16, { maxByteLength: 64 })
    const a = new Float64Array(sab)
    a[0] = 2
    a[1] = -1
    await call(a)
    expect(a.length).toBe(2)
  })
  test('options must be an object with known names', () => {
    const a = new Float64Array([2, 1])
    typeError(() => call(a, 5))
    typeError(() => call(a, 'signal'))
    typeError(() => call(a, null))
    typeError(() => call(a, [1]))
    const err = valueError(() => call(a, { signl: AbortSignal.timeout(1000) }))
    expect(err.message).toContain('signl')
    valueError(() => call(a, { encoding: 'hex' })) // not an option of sort/stats
    expect(Array.from(a)).toEqual([2, 1]) // nothing ran
  })
  test('a signal that is not an AbortSignal', () => {
    const a = new Float64Array([2, 1])
    const halfSignal = { aborted: false, addEventListener() {} } // no removeEventListener
    for (const signal of [{}, 'abort', 1, null, true, new EventTarget(), halfSignal]) {
      const err = typeError(() => call(a, { signal }))
      expect(err.message).toContain('options.signal')
    }
  })
})

describe('hash', () => {
  const data = Buffer.from('abc')
  test.each([
    ['a plain array', [1, 2, 3]],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an object', { byteLength: 3 }],
    ['a boolean', true],
    ['a bigint', 1n],
  ])('rejects %s as data with ERR_INVALID_ARG_TYPE', (_, value) => {
    const err = typeError(() => spindle.hash(value, 'sha256'))
    expect(err.message).toContain('"data" argument')
  })
  test('missing or non-string algorithm', () => {
    typeError(() => spindle.hash(data))
    typeError(() => spindle.hash(data, undefined))
    typeError(() => spindle.hash(data, null))
    typeError(() => spindle.hash(data, 256))
    typeError(() => spindle.hash(data, { algorithm: 'sha256' }))
    typeError(() => spindle.hash())
  })
  test('unknown algorithm', () => {
    for (const algo of ['md5', 'sha1', 'sha-256', '', 'blake2b']) {
      const err = valueError(() => spindle.hash(data, algo))
      expect(err.message).toContain('algorithm')
    }
  })
  test('unknown encoding and unknown option names', () => {
    for (const encoding of ['utf8', 'latin1', 'HEX', '', 5, null]) {
      valueError(() => spindle.hash(data, 'sha256', { encoding }))
    }
    const err = valueError(() => spindle.hash(data, 'sha256', { encodng: 'hex' }))
    expect(err.message).toContain('encodng')
    typeError(() => spindle.hash(data, 'sha256', 'hex'))
    typeError(() => spindle.hash(data, 'sha256', { signal: {} }))
  })
  test('detached inputs of every kind', () => {
    const makers = [
      () => new Uint8Array(8),
      () => Buffer.alloc(8).subarray(0), // a Buffer over its own (non-pooled) memory
      () => new Float64Array(4),
      () => new DataView(new ArrayBuffer(8)),
      () => new ArrayBuffer(8),
    ]
    for (const make of makers) {
      const input = detached(make)
      const err = valueError(() => spindle.hash(input, 'sha256'))
      expect(err.message).toContain('detached')
    }
  })
  test('resizable buffers, as a view or as the buffer itself', () => {
    const ab = new ArrayBuffer(8, { maxByteLength: 16 })
    for (const input of [ab, new Uint8Array(ab), new DataView(ab), new Float32Array(ab)]) {
      const err = valueError(() => spindle.hash(input, 'sha256'))
      expect(err.message).toContain('resizable')
    }
    valueError(() => spindle.hashMany(['ok', ab], 'sha256'))
  })
})

describe('hashMany', () => {
  test('the list must be an array', () => {
    for (const list of ['abc', Buffer.from('x'), null, undefined, 5, { length: 1, 0: 'a' }, new Set(['a'])]) {
      typeError(() => spindle.hashMany(list, 'sha256'))
    }
  })
  test('every item is checked, and the error names its index', () => {
    const err = typeError(() => spindle.hashMany(['a', Buffer.from('b'), 5], 'sha256'))
    expect(err.message).toContain('list[2]')
    typeError(() => spindle.hashMany([null], 'sha256'))
    typeError(() => spindle.hashMany([[1, 2]], 'sha256'))
  })
  test('holes in the list are missing items, not a late rejection', () => {
    const err = typeError(() => spindle.hashMany(new Array(3), 'sha256'))
    expect(err.message).toContain('list[0]')
    // eslint-disable-next-line no-sparse-arrays
    typeError(() => spindle.hashMany(['a', , 'c'], 'sha256'))
  })
  test('detached items', () => {
    const err = valueError(() => spindle.hashMany(['a', detached(() => new Uint8Array(4))], 'sha256'))
    expect(err.message).toContain('list[1]')
  })
  test('algorithm, encoding and options', () => {
    typeError(() => spindle.hashMany(['a']))
    valueError(() => spindle.hashMany(['a'], 'md5'))
    valueError(() => spindle.hashMany(['a'], 'sha256', { encoding: 'utf16le' }))
    valueError(() => spindle.hashMany(['a'], 'sha256', { sigal: null }))
    typeError(() => spindle.hashMany(['a'], 'sha256', { signal: 'x' }))
  })
})

describe('configure', () => {
  const before = spindle.internals().threads
  afterAll(() => {
    spindle.configure({ threads: before })
  })
  test('threads must be an integer from 1 to 1024', () => {
    rangeError(() => spindle.configure({ threads: 0 }))
    rangeError(() => spindle.configure({ threads: -1 }))
    rangeError(() => spindle.configure({ threads: 1.5 }))
    rangeError(() => spindle.configure({ threads: NaN }))
    rangeError(() => spindle.configure({ threads: Infinity }))
    rangeError(() => spindle.configure({ threads: 1025 }))
    typeError(() => spindle.configure({ threads: 'x' }))
    typeError(() => spindle.configure({ threads: '2' }))
    typeError(() => spindle.configure({ threads: null }))
    typeError(() => spindle.configure({ threads: 2n }))
    expect(spindle.internals().threads).toBe(before) // nothing changed
  })
  test('options must be an object with known names', () => {
    typeError(() => spindle.configure())
    typeError(() => spindle.configure(2))
    typeError(() => spindle.configure(null))
    valueError(() => spindle.configure({ thread: 2 }))
  })
  test('valid values are applied and reported', () => {
    expect(spindle.configure({ threads: 1 })).toEqual({ threads: 1 })
    expect(spindle.internals().threads).toBe(1)
    expect(spindle.configure({})).toEqual({ threads: 1 })
    expect(spindle.configure({ threads: 2 })).toEqual({ threads: 2 })
  })
})

test('valid calls still work after all of the above', async () => {
  const a = new Int32Array([3, -1, 2])
  await spindle.sort(a)
  expect(Array.from(a)).toEqual([-1, 2, 3])
  expect(await spindle.hash('abc', 'SHA256')).toBe(
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  expect(spindle.internals().outstanding).toBe(0)
})
