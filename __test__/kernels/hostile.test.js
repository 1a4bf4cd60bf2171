// Hostile inputs and races against the kernels (issue 10). Cases that
// crashed the process before their fix (memory written out of bounds, a
// resizable buffer shrunk under a kernel, an input detached and collected
// while in use) each run in their own child process: the test asserts that
// it exits 0, without a signal, having printed what was expected.
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const spindle = require('../..')
const { thrown } = require('../support/thrown')

const ROOT = JSON.stringify(path.resolve(__dirname, '..', '..'))

/** Runs `body` (an async function body) in a fresh node; returns what happened. */
function child(body, { env = {}, args = [] } = {}) {
  const script = `
    const spindle = require(${ROOT})
    const assert = require('node:assert')
    ;(async () => { ${body} })().then(
      () => console.log('CHILD-OK'),
      (err) => { console.error(err); process.exitCode = 1 },
    )`
  const r = spawnSync(process.execPath, [...args, '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 110_000,
  })
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

function expectClean(r) {
  if (r.status !== 0 || r.signal !== null || !r.stdout.includes('CHILD-OK')) {
    throw new Error(`child: status ${r.status}, signal ${r.signal}\n${r.stdout}\n${r.stderr}`)
  }
}

function expectCoded(err, name, code) {
  expect({ name: err.name, code: err.code }).toEqual({ name, code })
}

// Shared by the child scripts: is `a` (a TypedArray) in ascending order?
const IS_SORTED = `
  function isSorted(a) {
    for (let i = 1; i < a.length; i++) if (a[i - 1] > a[i]) return false
    return true
  }`

describe('item 1: an input that changes under the sort never sends a write outside it', () => {
  test('Uint8Array over a SharedArrayBuffer written by another thread during each sort', () => {
    expectClean(child(`
      const { Worker } = require('node:worker_threads')
      const n = 4_000_000, pad = 1 << 16
      const sab = new SharedArrayBuffer(n + 2 * pad)
      const all = new Uint8Array(sab)
      all.fill(0xa5)
      const a = all.subarray(pad, pad + n)
      for (let i = 0; i < n; i++) a[i] = (i * 2654435761) >>> 24
      const stop = new Int32Array(new SharedArrayBuffer(4))
      // The writer flips the last quarter between the smallest and the
      // largest value, so between the sort's counting and its scatter the
      // top bucket can gain up to a million elements.
      const w = new Worker(\`
        const { workerData: { sab, stop, pad, n } } = require('node:worker_threads')
        const a = new Uint8Array(sab, pad, n)
        let s = 1
        while (Atomics.load(stop, 0) === 0) {
          a.fill(0, (3 * n) >> 2)
          a.fill(255, (3 * n) >> 2)
          for (let k = 0; k < 1000; k++) {
            s = (s * 1103515245 + 12345) >>> 0
            a[s % n] = s >>> 24
          }
        }\`, { eval: true, workerData: { sab, stop, pad, n } })
      for (let round = 0; round < 25; round++) await spindle.sort(a)
      Atomics.store(stop, 0, 1)
      await new Promise((r) => w.once('exit', r))
      for (let i = 0; i < pad; i++) assert.strictEqual(all[i], 0xa5)
      for (let i = pad + n; i < all.length; i++) assert.strictEqual(all[i], 0xa5)
    `))
  })

  test('Int16Array written on the main thread while sort() runs', () => {
    expectClean(child(`
      const n = 3_000_000
      for (let round = 0; round < 10; round++) {
        const a = new Int16Array(n)
        for (let i = 0; i < n; i++) a[i] = (i * 2654435761) >> 16
        let done = false
        const p = spindle.sort(a).then(() => { done = true })
        let s = round + 1
        while (!done) {
          a.fill(-32768, (3 * n) >> 2)
          a.fill(32767, (3 * n) >> 2)
          for (let k = 0; k < 1000; k++) {
            s = (s * 1103515245 + 12345) >>> 0
            a[s % n] = s >> 16
          }
          await new Promise(setImmediate)
        }
        await p
      }
    `))
  })

  test('Promise.all([sort(a), sort(a)]) on a 5M array: serialized, so the result is sorted', () => {
    expectClean(child(`${IS_SORTED}
      for (const Type of [Float64Array, Int32Array, Uint16Array]) {
        const a = new Type(5_000_000)
        for (let i = 0; i < a.length; i++) a[i] = ((i * 2654435761) >>> 0) % 100000 - 50000
        const [x, y] = await Promise.all([spindle.sort(a), spindle.sort(a)])
        assert.strictEqual(x, a)
        assert.strictEqual(y, a)
        assert.ok(isSorted(a), Type.name)
      }
    `))
  })

  test('two sorts of overlapping views of one buffer run one after the other', () => {
    expectClean(child(`${IS_SORTED}
      const whole = new Float64Array(3_000_000)
      for (let i = 0; i < whole.length; i++) whole[i] = Math.sin(i) * 1e6
      const inner = whole.subarray(500_000, 2_600_000)
      const bytes = new Float64Array(whole.buffer, 8 * 1_000_000, 1_500_000)
      await Promise.all([spindle.sort(whole), spindle.sort(inner), spindle.sort(bytes)])
      // whole first, then inner and bytes (already sorted): all sorted.
      assert.ok(isSorted(whole))
      // Disjoint views do run together.
      const b = new Float64Array(2_000_000).map((_, i) => Math.cos(i))
      await Promise.all([spindle.sort(b.subarray(0, 1_000_000)), spindle.sort(b.subarray(1_000_000))])
      assert.ok(isSorted(b.subarray(0, 1_000_000)) && isSorted(b.subarray(1_000_000)))
    `))
  })

  test('an aborted sort waiting behind another one never runs, and the next one still does', async () => {
    const a = new Float64Array(2_000_000).map((_, i) => Math.sin(i))
    const ac = new AbortController()
    const first = spindle.sort(a)
    const second = spindle.sort(a, { signal: ac.signal })
    const third = spindle.sort(a.subarray(10))
    ac.abort()
    await expect(second).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
    await first
    await third
    for (let i = 1; i < a.length; i++) if (a[i - 1] > a[i]) throw new Error(`unsorted at ${i}`)
    expect(spindle.internals().inflight).toBe(0)
  })
})

describe('item 2: the real buffer is checked, not the properties the caller can override', () => {
  test('a resizable buffer behind lying properties is refused; shrinking it afterwards is harmless', () => {
    expectClean(child(`
      const n = 4_000_000
      const attempts = []
      const make = () => {
        const rab = new ArrayBuffer(8 * n, { maxByteLength: 16 * n })
        Object.defineProperty(rab, 'resizable', { value: false })
        const f = new Float64Array(rab)
        for (let i = 0; i < n; i++) f[i] = Math.sin(i)
        Object.defineProperty(f, 'buffer', { value: new ArrayBuffer(8) })
        Object.defineProperty(f, 'byteLength', { value: 8 })
        return { rab, f }
      }
      const calls = {
        sort: (f) => spindle.sort(f),
        stats: (f) => spindle.stats(f),
        hashView: (f) => spindle.hash(f, 'sha256'),
        hashBuffer: (f, rab) => spindle.hash(rab, 'sha256'),
        hashDataView: (f, rab) => {
          const dv = new DataView(rab)
          Object.defineProperty(dv, 'buffer', { value: new ArrayBuffer(8) })
          return spindle.hash(dv, 'blake3')
        },
        hashMany: (f, rab) => spindle.hashMany(['x', f], 'blake3'),
      }
      for (const [name, call] of Object.entries(calls)) {
        const { rab, f } = make()
        let err = null
        try {
          const p = call(f, rab)
          rab.resize(0) // were it accepted, the kernel would now read unmapped pages
          await p.catch(() => {})
        } catch (e) {
          err = e
        }
        assert.ok(err, name + ' accepted a resizable buffer')
        assert.strictEqual(err.code, 'ERR_INVALID_ARG_VALUE', name)
        assert.match(err.message, /resizable/, name)
      }
    `))
  })

  test('a lying byteLength, byteOffset or buffer on a DataView or TypedArray changes nothing', async () => {
    const crypto = require('node:crypto')
    const ab = new ArrayBuffer(64)
    new Uint8Array(ab).forEach((_, i, u) => { u[i] = i })
    const dv = new DataView(ab, 8, 16)
    Object.defineProperty(dv, 'byteLength', { value: 1e9 })
    Object.defineProperty(dv, 'byteOffset', { value: -5 })
    Object.defineProperty(dv, 'buffer', { value: new ArrayBuffer(1e6) })
    const expected = crypto.createHash('sha256').update(new Uint8Array(ab, 8, 16)).digest('hex')
    expect(await spindle.hash(dv, 'sha256')).toBe(expected)
    const f = new Uint16Array(ab, 8, 8)
    Object.defineProperty(f, 'byteLength', { value: 1e9 })
    Object.defineProperty(f, 'buffer', { value: new SharedArrayBuffer(8) })
    expect(await spindle.hash(f, 'sha256')).toBe(expected)
    // A detached buffer behind a lying `buffer` is still seen as detached.
    const g = new Float64Array(4)
    Object.defineProperty(g, 'buffer', { value: new ArrayBuffer(32) })
    structuredClone(g.buffer) // (a copy: not this one)
    const real = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'buffer').get.call(g)
    structuredClone(real, { transfer: [real] })
    expectCoded(thrown(() => spindle.sort(g)), 'TypeError', 'ERR_INVALID_ARG_VALUE')
    expectCoded(thrown(() => spindle.hash(g, 'sha256')), 'TypeError', 'ERR_INVALID_ARG_VALUE')
  })

  test('a Symbol.toStringTag or prototype that lies does not make an input', () => {
    const fake = Object.create(Float64Array.prototype)
    expectCoded(thrown(() => spindle.sort(fake)), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    expectCoded(thrown(() => spindle.hash(fake, 'sha256')), 'TypeError', 'ERR_INVALID_ARG_TYPE')
    const posing = { [Symbol.toStringTag]: 'ArrayBuffer', byteLength: 8 }
    expectCoded(thrown(() => spindle.hash(posing, 'sha256')), 'TypeError', 'ERR_INVALID_ARG_TYPE')
  })
})

describe('item 3: options are read before the input is checked and taken', () => {
  const detach = (view) => {
    const b = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'buffer').get.call(view)
    structuredClone(b, { transfer: [b] })
  }
  test('a signal getter that detaches the input: refused as detached, not the digest of nothing', () => {
    const u = new Uint8Array(1000).fill(7)
    const err = thrown(() => spindle.hash(u, 'sha256', {
      get signal() {
        detach(u)
        return undefined
      },
    }))
    expectCoded(err, 'TypeError', 'ERR_INVALID_ARG_VALUE')
    expect(err.message).toContain('detached')
  })
  test('stats and sort: a getter on the options or a trap of the signal detaches the input', () => {
    for (const call of [(a, o) => spindle.stats(a, o), (a, o) => spindle.sort(a, o)]) {
      const a = new Float64Array(100).fill(1)
      expectCoded(thrown(() => call(a, { get signal() { detach(a); return undefined } })), 'TypeError', 'ERR_INVALID_ARG_VALUE')
      const b = new Float64Array(100).fill(1)
      const signal = new Proxy(new AbortController().signal, {
        has(t, k) {
          detach(b)
          return Reflect.has(t, k)
        },
        get: (t, k) => (typeof t[k] === 'function' ? t[k].bind(t) : t[k]),
      })
      expectCoded(thrown(() => call(b, { signal })), 'TypeError', 'ERR_INVALID_ARG_VALUE')
    }
  })
  test('an encoding getter and an addEventListener that detach the input', () => {
    const u = new Uint8Array(100)
    expectCoded(thrown(() => spindle.hash(u, 'sha256', {
      get encoding() {
        detach(u)
        return 'hex'
      },
    })), 'TypeError', 'ERR_INVALID_ARG_VALUE')
    const v = new Uint8Array(100)
    const ac = new AbortController()
    const signal = ac.signal
    const add = signal.addEventListener.bind(signal)
    signal.addEventListener = (...args) => {
      detach(v)
      return add(...args)
    }
    expectCoded(thrown(() => spindle.hash(v, 'sha256', { signal })), 'TypeError', 'ERR_INVALID_ARG_VALUE')
  })
  test('hashMany: an index getter that detaches an item already read', () => {
    const first = new Uint8Array(64)
    const list = [first, 'x']
    Object.defineProperty(list, 1, { get() { detach(first); return 'x' } })
    const err = thrown(() => spindle.hashMany(list, 'sha256'))
    expectCoded(err, 'TypeError', 'ERR_INVALID_ARG_VALUE')
    expect(err.message).toContain('list[0]')
  })
  test('hashMany: a Proxy of an array that lies about its length', () => {
    for (const length of [-1, 1.5, 2 ** 40, 'x', NaN]) {
      const list = new Proxy(['a'], { get: (t, k) => (k === 'length' ? length : t[k]) })
      const err = thrown(() => spindle.hashMany(list, 'sha256'))
      expectCoded(err, 'TypeError', 'ERR_INVALID_ARG_VALUE')
    }
  })
  test('each option is read once, own properties only', async () => {
    let reads = 0
    const opts = { get encoding() { reads++; return 'base64' } }
    expect(await spindle.hash('abc', 'sha256', opts)).toBe('ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=')
    expect(reads).toBe(1)
    const inherited = Object.create({ encoding: 'buffer' })
    expect(typeof await spindle.hash('abc', 'sha256', inherited)).toBe('string')
  })
})

describe('item 4: an input detached (and collected) while its kernel runs', () => {
  test('small inputs are copied: detach + GC at once is harmless, with a defined outcome', () => {
    expectClean(child(`
      const crypto = require('node:crypto')
      const max = spindle.internals().copyMax
      assert.strictEqual(max, 65536)
      for (let round = 0; round < 200; round++) {
        const u = new Uint8Array(max).map((_, i) => i * 7 + round)
        const expected = crypto.createHash('sha256').update(u).digest('hex')
        const u2 = u.slice(1000, 2000)
        const f = new Float64Array(max / 8).map((_, i) => Math.sin(i + round))
        const mean = f.reduce((s, x) => s + x, 0) / f.length
        const s = new Int32Array(max / 4).map((_, i) => (i * 2654435761) | 0)
        const ph = spindle.hash(u, 'sha256')
        const pm = spindle.hashMany([u.subarray(0, 1000), u.subarray(1000, 2000)], 'sha256')
        const pst = spindle.stats(f)
        // Its handler is attached at once: it may reject while the others are awaited.
        const ps = spindle.sort(s).then(() => null, (e) => e)
        for (const b of [u.buffer, f.buffer, s.buffer]) structuredClone(b, { transfer: [b] })
        globalThis.gc()
        assert.strictEqual(await ph, expected) // the data as it was at the call
        assert.strictEqual((await pm)[1], crypto.createHash('sha256').update(u2).digest('hex'))
        assert.ok(Math.abs((await pst).mean - mean) < 1e-9)
        const err = await ps
        assert.strictEqual(err && err.code, 'ERR_INVALID_STATE') // nowhere to write the result
      }
    `, { args: ['--expose-gc'] }))
  })

  test('a large input detached (its memory kept alive elsewhere) while in use: the promise rejects', () => {
    expectClean(child(`
      const keep = []
      const cases = {
        sort: (a) => spindle.sort(a),
        stats: (a) => spindle.stats(a),
        hash: (a) => spindle.hash(a, 'blake3'),
      }
      for (const [name, call] of Object.entries(cases)) {
        const a = new Float64Array(4_000_000).map((_, i) => Math.sin(i))
        const p = call(a)
        keep.push(structuredClone(a.buffer, { transfer: [a.buffer] }))
        const err = await p.then(() => null, (e) => e)
        assert.strictEqual(err && err.code, 'ERR_INVALID_STATE', name)
        assert.match(err.message, /detached/)
      }
      // The clone got the (sorted) memory: nothing was lost.
      const sorted = new Float64Array(keep[0])
      for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i - 1] <= sorted[i])
    `))
  })
})

describe('item 11: NaN sign and payload bits are kept, as by V8', () => {
  function nanPatterns(Type, n, seed) {
    const Bits = Type === Float64Array ? BigUint64Array : Uint32Array
    const a = new Type(n)
    const bits = new Bits(a.buffer)
    let s = seed
    const next = () => {
      s = (s * 1103515245 + 12345) >>> 0
      return s
    }
    for (let i = 0; i < n; i++) {
      const r = next() % 8
      if (Type === Float64Array) {
        const payload = ((BigInt(next()) << 20n) | BigInt(next() & 0xfffff)) & 0xfffffffffffffn
        const nan = 0x7ff0000000000000n | (payload === 0n ? 1n : payload)
        if (r === 0) bits[i] = nan
        else if (r === 1) bits[i] = nan | (1n << 63n)
        else if (r === 2) a[i] = -0
        else if (r === 3) a[i] = 0
        else a[i] = (next() - 2 ** 31) / 1000
      } else {
        const payload = (next() & 0x7fffff) || 1
        if (r === 0) bits[i] = (0x7f800000 | payload) >>> 0
        else if (r === 1) bits[i] = (0xff800000 | payload) >>> 0
        else if (r === 2) a[i] = -0
        else if (r === 3) a[i] = 0
        else a[i] = (next() - 2 ** 31) / 1000
      }
    }
    return { a, bits }
  }

  test.each([
    ['Float64Array', 100, Float64Array],
    ['Float64Array', 300_000, Float64Array],
    ['Float32Array', 100, Float32Array],
    ['Float32Array', 300_000, Float32Array],
  ])('%s of %i elements, a quarter of them NaNs of every sign and payload', async (_, n, Type) => {
    const { a, bits } = nanPatterns(Type, n, n)
    const ref = a.slice()
    const refBits = new bits.constructor(ref.buffer)
    ref.sort() // V8's own
    await spindle.sort(a)
    const firstNaN = ref.findIndex((x) => Number.isNaN(x))
    expect(a.findIndex((x) => Number.isNaN(x))).toBe(firstNaN)
    // Before the NaNs: the same bits in the same places (-0 before +0).
    expect(Array.from(bits.subarray(0, firstNaN))).toEqual(Array.from(refBits.subarray(0, firstNaN)))
    // The NaNs: the same bit patterns (V8 leaves their order unspecified).
    const sortedTail = (b) => Array.from(b.subarray(firstNaN)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
    expect(sortedTail(bits)).toEqual(sortedTail(refBits))
  })
})

describe('item 14: SPINDLE_THREADS follows the rule of configure()', () => {
  const threadsWith = (value) => child(`
    const warnings = []
    process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }))
    const threads = spindle.internals().threads
    await new Promise(setImmediate)
    console.log(JSON.stringify({ threads, warnings, cap: spindle.internals().maxThreads }))
  `, { env: { SPINDLE_THREADS: value } })
  const parse = (r) => {
    expectClean(r)
    return JSON.parse(r.stdout.split('\n')[0])
  }
  test('2000 is clamped to 1024, with a warning', () => {
    const out = parse(threadsWith('2000'))
    expect(out.cap).toBe(1024)
    expect(out.threads).toBe(1024)
    expect(out.warnings).toHaveLength(1)
    expect(out.warnings[0].code).toBe('SPINDLE_THREADS')
    expect(out.warnings[0].message).toContain('1024')
  })
  test('0, -1, 1.5 and words are ignored, with a warning; 3 is used as it is', () => {
    for (const bad of ['0', '-1', '1.5', 'lots']) {
      const out = parse(threadsWith(bad))
      expect(out.threads).toBeGreaterThanOrEqual(1)
      expect(out.threads).toBeLessThanOrEqual(1024)
      expect(out.warnings.map((w) => w.code)).toEqual(['SPINDLE_THREADS'])
    }
    expect(parse(threadsWith('3'))).toEqual({ threads: 3, warnings: [], cap: 1024 })
  })
  test('configure() refuses above the same cap', () => {
    expectCoded(thrown(() => spindle.configure({ threads: spindle.internals().maxThreads + 1 })),
      'RangeError', 'ERR_OUT_OF_RANGE')
  })
})

describe('every error of the kernel exports has a Node-style code', () => {
  test('hostile values in every argument and option position', () => {
    const r = child(`
      const revoked = () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy }
      const detachedArray = () => { const a = new Float64Array(8); structuredClone(a.buffer, { transfer: [a.buffer] }); return a }
      const lying = () => { const a = new Float64Array(8); Object.defineProperty(a, 'length', { value: 1e12 }); Object.defineProperty(a, 'byteLength', { value: -1 }); return a }
      const throwingTag = () => new Proxy(new Float64Array(4), { get() { throw new TypeError('trap') } })
      const HOSTILE = {
        revoked, symbol: () => Symbol('s'), nullProto: () => Object.create(null),
        detachedArray, lying, throwingTag, huge: () => 1e308, bigint: () => 2n ** 70n,
        negative: () => -1, nan: () => NaN, fn: () => function f() {}, string: () => 'x',
        revokedArray: () => { const r = Proxy.revocable([], {}); r.revoke(); return r.proxy },
      }
      const ok = () => new Float64Array([3, 1, 2])
      const positions = {
        'sort(x)': (x) => spindle.sort(x),
        'sort(ok, x)': (x) => spindle.sort(ok(), x),
        'sort(ok, {signal: x})': (x) => spindle.sort(ok(), { signal: x }),
        'stats(x)': (x) => spindle.stats(x),
        'stats(ok, x)': (x) => spindle.stats(ok(), x),
        'hash(x)': (x) => spindle.hash(x, 'sha256'),
        'hash(ok, x)': (x) => spindle.hash('a', x),
        'hash(ok, algo, x)': (x) => spindle.hash('a', 'sha256', x),
        'hash(ok, algo, {encoding: x})': (x) => spindle.hash('a', 'sha256', { encoding: x }),
        'hash(ok, algo, {signal: x})': (x) => spindle.hash('a', 'sha256', { signal: x }),
        'hashMany(x)': (x) => spindle.hashMany(x, 'sha256'),
        'hashMany([x])': (x) => spindle.hashMany([x], 'sha256'),
        'hashMany(ok, x)': (x) => spindle.hashMany(['a'], x),
        'hashMany(ok, algo, x)': (x) => spindle.hashMany(['a'], 'sha256', x),
        'configure(x)': (x) => spindle.configure(x),
        'configure({threads: x})': (x) => spindle.configure({ threads: x }),
        'internals(x)': (x) => spindle.internals(x),
      }
      const bad = []
      for (const [where, call] of Object.entries(positions)) {
        for (const [what, make] of Object.entries(HOSTILE)) {
          let err = null
          try {
            const p = call(make())
            if (p && typeof p.then === 'function') await p.then(() => {}, (e) => { err = e })
          } catch (e) {
            err = e
          }
          if (err === null) continue // accepted (e.g. internals ignores arguments)
          const coded = typeof err.code === 'string' && /^(ERR_[A-Z_]+|ABORT_ERR)$/.test(err.code)
          if (!coded || !(err instanceof TypeError || err instanceof RangeError || err.name === 'AbortError')) {
            bad.push(where + ' <- ' + what + ': ' + err.name + ' ' + err.code + ' ' + err.message)
          }
        }
      }
      spindle.configure({ threads: 2 })
      assert.deepStrictEqual(bad, [])
    `)
    expectClean(r)
  })
})
