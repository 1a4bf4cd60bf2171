// Arguments and results have structured-clone semantics (what postMessage
// accepts), in both directions; transferList detaches the sender's buffers.
//
// Objects deserialized by the pool come from another realm than jest's test
// context, so types are checked with Object.prototype.toString,
// ArrayBuffer.isView and toEqual, never instanceof.
const { makePool, destroyAll, worker, rejection } = require('../support/pool-helpers')

const kind = (x) => Object.prototype.toString.call(x)
let pool

beforeAll(() => {
  pool = makePool({ filename: worker('values.js'), maxThreads: 2 })
})
afterAll(destroyAll)

const echo = (x, options) => pool.run(x, options)
const describeInWorker = (x) => pool.run(x, { name: 'describe' })

describe('primitives, both ways', () => {
  test.each([
    ['undefined', undefined],
    ['null', null],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['an integer', 42],
    ['a negative integer', -7],
    ['a large integer', 2 ** 53 - 1],
    ['a fraction', 0.1 + 0.2],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['the empty string', ''],
    ['an ASCII string', 'hello'],
    ['a string with a NUL', 'a\u0000b'],
    ['a string with accents, CJK and emoji', 'héllo wörld — 中文 🌍👩‍👩‍👧'],
    ['a long string', 'x'.repeat(100_000) + '🌍'],
  ])('%s', async (_, value) => {
    const result = await echo(value)
    expect(typeof result).toBe(typeof value)
    expect(Object.is(result, value)).toBe(true)
  })

  test('NaN', async () => {
    expect(Number.isNaN(await echo(NaN))).toBe(true)
  })

  test('-0 keeps its sign', async () => {
    expect(Object.is(await echo(-0), -0)).toBe(true)
  })

  test('a string with lone surrogates is not altered', async () => {
    const s = 'a\uD800b\uDC00c\uD83D'
    const result = await echo(s)
    expect(result.length).toBe(s.length)
    expect([...result].map((c) => c.codePointAt(0))).toEqual([...s].map((c) => c.codePointAt(0)))
  })

  test('BigInt', async () => {
    const big = 2n ** 100n + 1n
    await expect(echo(big)).resolves.toBe(big)
    await expect(echo(-5n)).resolves.toBe(-5n)
    expect(await describeInWorker(big)).toMatchObject({ kind: '[object BigInt]', bigint: big.toString() })
  })

  test('primitives inside objects: undefined, NaN, -0 and unicode survive', async () => {
    const r = await echo({ u: undefined, n: null, nan: NaN, negZero: -0, s: 'ü🌍', list: [undefined, -0, NaN] })
    expect('u' in r).toBe(true)
    expect(r.u).toBeUndefined()
    expect(r.n).toBeNull()
    expect(Number.isNaN(r.nan)).toBe(true)
    expect(Object.is(r.negZero, -0)).toBe(true)
    expect(r.s).toBe('ü🌍')
    expect(r.list.length).toBe(3)
    expect(Object.is(r.list[1], -0)).toBe(true)
    expect(Number.isNaN(r.list[2])).toBe(true)
  })
})

describe('objects, both ways', () => {
  test('Map', async () => {
    const m = new Map([[1, 'one'], ['two', { n: 2 }], [3n, [3]]])
    const r = await echo(m)
    expect(kind(r)).toBe('[object Map]')
    expect(r).toEqual(m)
    expect((await describeInWorker(m)).entries).toEqual([...m.entries()])
  })

  test('Set', async () => {
    const s = new Set([1, 'a', 2n])
    const r = await echo(s)
    expect(kind(r)).toBe('[object Set]')
    expect([...r]).toEqual([1, 'a', 2n])
    const d = await describeInWorker(s)
    expect(d.kind).toBe('[object Set]')
    expect(d.values).toEqual([1, 'a', 2n])
  })

  test('Date', async () => {
    const date = new Date(Date.UTC(2020, 1, 29, 12, 34, 56, 789))
    const r = await echo(date)
    expect(kind(r)).toBe('[object Date]')
    expect(r.getTime()).toBe(date.getTime())
    expect(await describeInWorker(date)).toMatchObject({ kind: '[object Date]', time: date.getTime() })
  })

  test('RegExp', async () => {
    const re = /a+(b|c)?\u{1F30D}/giu
    const r = await echo(re)
    expect(kind(r)).toBe('[object RegExp]')
    expect(r.source).toBe(re.source)
    expect(r.flags).toBe(re.flags)
    expect(await describeInWorker(re)).toMatchObject({ kind: '[object RegExp]', source: `${re.source}/${re.flags}` })
  })

  test.each([
    ['Int8Array', () => Int8Array.from([-128, 0, 127])],
    ['Uint8Array', () => Uint8Array.from([0, 1, 255])],
    ['Uint8ClampedArray', () => Uint8ClampedArray.from([0, 128, 255])],
    ['Int16Array', () => Int16Array.from([-32768, 32767])],
    ['Uint16Array', () => Uint16Array.from([65535, 1])],
    ['Int32Array', () => Int32Array.from([-(2 ** 31), 2 ** 31 - 1])],
    ['Uint32Array', () => Uint32Array.from([2 ** 32 - 1, 0])],
    ['Float32Array', () => Float32Array.from([1.5, -0, NaN, Infinity])],
    ['Float64Array', () => Float64Array.from([Math.PI, -0, NaN, -Infinity])],
    ['BigInt64Array', () => BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n])],
    ['BigUint64Array', () => BigUint64Array.from([2n ** 64n - 1n, 0n])],
  ])('%s', async (name, make) => {
    const a = make()
    const r = await echo(a)
    expect(ArrayBuffer.isView(r)).toBe(true)
    expect(kind(r)).toBe(`[object ${name}]`)
    expect(r.length).toBe(a.length)
    expect(Buffer.from(r.buffer, r.byteOffset, r.byteLength)).toEqual(Buffer.from(a.buffer, a.byteOffset, a.byteLength))
    const d = await describeInWorker(a)
    expect(d.ctor).toBe(name)
    expect(d.length).toBe(a.length)
  })

  test('a typed array view with an offset into a larger buffer', async () => {
    const big = Uint8Array.from({ length: 32 }, (_, i) => i)
    const view = new Uint16Array(big.buffer, 4, 3)
    const r = await echo(view)
    expect(kind(r)).toBe('[object Uint16Array]')
    expect(Array.from(r)).toEqual(Array.from(view))
  })

  test('DataView and ArrayBuffer', async () => {
    const ab = Uint8Array.from([9, 8, 7, 6]).buffer
    const rab = await echo(ab)
    expect(kind(rab)).toBe('[object ArrayBuffer]')
    expect(Array.from(new Uint8Array(rab))).toEqual([9, 8, 7, 6])
    expect(ab.byteLength).toBe(4) // not transferred: still the sender's
    const dv = await echo(new DataView(ab, 1, 2))
    expect(kind(dv)).toBe('[object DataView]')
    expect(dv.getUint8(0)).toBe(8)
    expect(dv.byteLength).toBe(2)
  })

  test('Buffer: the same bytes come back as a Uint8Array view', async () => {
    const buf = Buffer.from('spindle ✓ bytes')
    const r = await echo(buf)
    expect(ArrayBuffer.isView(r)).toBe(true)
    expect(Buffer.from(r.buffer, r.byteOffset, r.byteLength).toString()).toBe('spindle ✓ bytes')
    const d = await describeInWorker(buf)
    expect(d.bytes).toEqual([...buf])
  })

  test('a large binary payload (4 MiB) round trip is intact', async () => {
    const a = new Uint8Array(4 * 1024 * 1024)
    for (let i = 0; i < a.length; i++) a[i] = (i * 31) & 255
    const r = await echo(a)
    expect(r.length).toBe(a.length)
    expect(Buffer.compare(Buffer.from(r.buffer, r.byteOffset, r.byteLength), Buffer.from(a.buffer))).toBe(0)
  })

  test('nested objects and arrays, with sparse entries', async () => {
    const value = {
      a: [1, [2, [3, [4, { deep: 'yes' }]]]],
      b: { c: { d: { e: new Map([['k', new Set([new Date(0)])]]) } } },
      sparse: [1, , 3], // eslint-disable-line no-sparse-arrays
    }
    const r = await echo(value)
    expect(r.a).toEqual(value.a)
    expect(r.b.c.d.e.get('k').size).toBe(1)
    expect([...r.b.c.d.e.get('k')][0].getTime()).toBe(0)
    expect(r.sparse.length).toBe(3)
    expect(1 in r.sparse).toBe(false)
  })

  test('cyclic objects as an argument keep their cycles in the worker', async () => {
    const o = { inner: {}, list: [] }
    o.self = o
    o.list.push(o)
    o.inner.parent = o
    await expect(pool.run(o, { name: 'cyclic' })).resolves.toBe(true)
  })

  test('cyclic objects as a result keep their cycles', async () => {
    const r = await pool.run(null, { name: 'makeCyclic' })
    expect(r.self).toBe(r)
    expect(r.inner.parent).toBe(r)
    expect(r.name).toBe('root')
  })

  test('cyclic objects round trip (echo)', async () => {
    const o = { name: 'o' }
    o.self = o
    const m = new Map()
    m.set('me', m)
    o.map = m
    const r = await echo(o)
    expect(r.self).toBe(r)
    expect(r.map.get('me')).toBe(r.map)
  })

  test('shared references stay shared', async () => {
    const shared = { n: 1 }
    const r = await echo({ x: shared, y: shared, list: [shared] })
    expect(r.x).toBe(r.y)
    expect(r.list[0]).toBe(r.x)
  })

  test('Error objects as values (not thrown) keep name, message and stack', async () => {
    const err = new TypeError('as a value')
    const r = await echo(err)
    expect(kind(r)).toBe('[object Error]')
    expect(r.name).toBe('TypeError')
    expect(r.message).toBe('as a value')
    expect(typeof r.stack).toBe('string')
    const inObject = await echo({ errors: [new RangeError('r'), new Error('e')] })
    expect(inObject.errors.map((e) => [e.name, e.message])).toEqual([['RangeError', 'r'], ['Error', 'e']])
    expect((await describeInWorker(new Error('x'))).isError).toBe(true)
  })

  test('class instances arrive as plain objects with their own data', async () => {
    class Point {
      constructor() {
        this.x = 1
        this.y = 2
      }

      sum() {
        return this.x + this.y
      }
    }
    const r = await echo(new Point())
    expect(r).toEqual({ x: 1, y: 2 })
    expect(r.sum).toBeUndefined()
  })
})

describe('values that cannot be cloned', () => {
  // postMessage throws a DataCloneError for these; the pool rejects (or throws).
  async function outcome(fn) {
    try {
      return await fn()
    } catch (err) {
      return err
    }
  }

  test.each([
    ['a function', () => () => 1],
    ['an object holding a function', () => ({ f() {} })],
    ['a symbol', () => Symbol('s')],
    ['a WeakMap', () => new WeakMap()],
  ])('%s as an argument fails with a DataCloneError-like error', async (_, make) => {
    const err = await outcome(() => pool.run(make()))
    expect(kind(err)).toBe('[object Error]')
    expect(err.message).toMatch(/clone/i)
  })
})

describe('transferList', () => {
  test('the sender\'s ArrayBuffer is detached after run(), and the worker gets the data', async () => {
    const buffer = new ArrayBuffer(1024)
    new Uint8Array(buffer).fill(3)
    const promise = pool.run({ buffer }, { name: 'sumBytes', transferList: [buffer] })
    const lengthAfterRun = buffer.byteLength // postMessage detaches synchronously
    const result = await promise
    expect(lengthAfterRun).toBe(0)
    expect(result).toEqual({ kind: '[object ArrayBuffer]', byteLength: 1024, sum: 3 * 1024 })
  })

  test('a top-level ArrayBuffer in transferList is detached after run()', async () => {
    const buffer = Uint8Array.from([5, 6, 7]).buffer
    const promise = pool.run(buffer, { name: 'describe', transferList: [buffer] })
    const lengthAfterRun = buffer.byteLength
    const result = await promise
    expect(lengthAfterRun).toBe(0)
    expect(result.bytes).toEqual([5, 6, 7])
  })

  test('a typed array\'s buffer in transferList detaches the view', async () => {
    const view = Uint8Array.from([1, 2, 3, 4])
    const promise = pool.run({ buffer: view.buffer }, { name: 'sumBytes', transferList: [view.buffer] })
    const lengthAfterRun = view.length
    const result = await promise
    expect(lengthAfterRun).toBe(0)
    expect(result).toMatchObject({ byteLength: 4, sum: 10 })
  })

  test('several buffers are all detached (eventually, at the latest when the task settles)', async () => {
    const a = new ArrayBuffer(8)
    const b = new ArrayBuffer(8)
    const r = await pool.run({ a, b }, { transferList: [a, b] })
    expect(a.byteLength).toBe(0)
    expect(b.byteLength).toBe(0)
    expect(r.a.byteLength).toBe(8)
    expect(r.b.byteLength).toBe(8)
  })

  test('without transferList the sender keeps its buffer', async () => {
    const buffer = new ArrayBuffer(16)
    new Uint8Array(buffer).fill(1)
    await expect(pool.run({ buffer }, { name: 'sumBytes' })).resolves.toMatchObject({ byteLength: 16, sum: 16 })
    expect(buffer.byteLength).toBe(16)
  })

  test('a failed clone does not detach the transferred buffer', async () => {
    const buffer = new ArrayBuffer(8)
    const err = await rejection(Promise.resolve().then(() => pool.run({ buffer, f() {} }, { transferList: [buffer] })))
    expect(err.message).toMatch(/clone/i)
    expect(buffer.byteLength).toBe(8)
  })
})

describe('the argument is captured when run() is called', () => {
  // postMessage clones synchronously: changing the value after run() returns
  // must not change what the worker sees.
  test('an object changed after run()', async () => {
    const o = { n: 1, list: [1] }
    const promise = pool.run(o)
    o.n = 2
    o.list.push(2)
    await expect(promise).resolves.toEqual({ n: 1, list: [1] })
  })

  test('a top-level typed array changed after run()', async () => {
    const a = Uint8Array.from([1, 2, 3])
    const promise = pool.run(a)
    a[0] = 99
    const r = await promise
    expect(Array.from(r)).toEqual([1, 2, 3])
  })

  test('a top-level Buffer changed after run()', async () => {
    const b = Buffer.from('abc')
    const promise = pool.run(b)
    b.write('xyz')
    const r = await promise
    expect(Buffer.from(r.buffer, r.byteOffset, r.byteLength).toString()).toBe('abc')
  })
})

describe('large binary values nested in objects travel beside the serialized bytes', () => {
  const MiB = 1024 * 1024
  const bytesOf = (v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)

  test('every view type, large and small, keeps its type, bytes and identity', async () => {
    const big = new Uint8Array(MiB).map((_, i) => i % 251)
    const f64 = new Float64Array(new ArrayBuffer(MiB + 8), 8, MiB / 8).map((_, i) => i / 3) // at an offset
    const input = {
      big,
      again: big, // the same object twice
      f64,
      i16: new Int16Array(70_000).fill(-3),
      u64: new BigUint64Array(10_000).fill(2n ** 63n),
      dv: new DataView(new ArrayBuffer(100_000), 1000, 90_000),
      buf: Buffer.alloc(200_000, 'ab'),
      small: Uint8Array.from([1, 2, 3]),
      smallBuf: Buffer.from('tiny'),
      list: [{ deep: big }],
      map: new Map([['k', f64]]),
    }
    const out = await echo(input)
    expect(kind(out.big)).toBe('[object Uint8Array]')
    expect(bytesOf(out.big).equals(bytesOf(big))).toBe(true)
    expect(out.again).toBe(out.big)
    expect(out.list[0].deep).toBe(out.big)
    expect(kind(out.f64)).toBe('[object Float64Array]')
    expect(Array.from(out.f64.subarray(0, 4))).toEqual([0, 1 / 3, 2 / 3, 1])
    expect(out.f64.length).toBe(MiB / 8)
    expect(out.map.get('k')).toBe(out.f64)
    expect(kind(out.i16)).toBe('[object Int16Array]')
    expect(out.i16.every((x) => x === -3)).toBe(true)
    expect(kind(out.u64)).toBe('[object BigUint64Array]')
    expect(out.u64[9999]).toBe(2n ** 63n)
    expect(kind(out.dv)).toBe('[object DataView]')
    expect(out.dv.byteLength).toBe(90_000)
    expect(Buffer.isBuffer(out.buf)).toBe(true)
    expect(out.buf.equals(input.buf)).toBe(true)
    expect(Array.from(out.small)).toEqual([1, 2, 3])
    expect(Buffer.isBuffer(out.smallBuf)).toBe(true)
    expect(out.smallBuf.toString()).toBe('tiny')
  })

  test('copied once per direction: bytesCopied grows by twice the payload plus the small serialized rest', async () => {
    const p = makePool({ filename: worker('values.js'), maxThreads: 1 })
    await p.run(1)
    const payload = { a: new Uint8Array(2 * MiB).fill(1), b: Buffer.alloc(MiB, 2), label: 'x' }
    const before = p.stats().bytesCopied
    const out = await p.run(payload)
    expect(out.a[2 * MiB - 1]).toBe(1)
    expect(out.b[0]).toBe(2)
    const copied = p.stats().bytesCopied - before
    expect(copied).toBeGreaterThanOrEqual(2 * 3 * MiB)
    expect(copied).toBeLessThan(2 * 3 * MiB + 4096)
  })

  test('the argument is captured at run(): changing a nested large view afterwards changes nothing', async () => {
    const big = new Uint8Array(MiB).fill(4)
    const promise = pool.run({ big })
    big.fill(9)
    const r = await promise
    expect(r.big[0]).toBe(4)
    expect(r.big[MiB - 1]).toBe(4)
  })

  test('transferList: a nested large view\'s buffer is detached and its data arrives', async () => {
    const big = new Uint8Array(MiB).fill(6)
    const promise = pool.run({ big }, { transferList: [big.buffer] })
    expect(big.length).toBe(0)
    const r = await promise
    expect(r.big.length).toBe(MiB)
    expect(r.big[123]).toBe(6)
  })
})

describe('SharedArrayBuffer', () => {
  // Task values holding a SharedArrayBuffer travel by postMessage, which
  // shares it (issue 11 defect 6: see pool-piscina.test.js); workerData does too.
  test('in a task value, it is shared, not copied', async () => {
    const sab = new SharedArrayBuffer(8)
    const r = await pool.run({ sab })
    expect(Object.prototype.toString.call(r.sab)).toBe('[object SharedArrayBuffer]')
    Atomics.store(new Int32Array(r.sab), 0, 11)
    expect(Atomics.load(new Int32Array(sab), 0)).toBe(11)
  })

  test('shared through workerData, it is the same memory in the worker', async () => {
    const sab = new SharedArrayBuffer(64)
    const p = makePool({ filename: worker('control.js'), maxThreads: 1, workerData: { sab } })
    await p.run(3)
    const counts = new Int32Array(sab)
    expect(Atomics.load(counts, 0)).toBe(1) // written by the worker
    expect(Atomics.load(counts, 5)).toBe(1)
  })
})
