// Issue 11: spindle's Pool as a drop-in for piscina 5 — the defects found
// (each fails on the old main), then the behaviours a piscina user reaches for.
const os = require('node:os')
const { makePool, destroyAll, worker, rejection, within, Pool } = require('./fixtures/pool-helpers')
const { thrown } = require('./helpers/thrown')

afterEach(destroyAll)

const FILE = worker('piscina-like.js')

describe('defect 1: small binary views nested in a value', () => {
  test('an argument { t: Uint8Array[1, 2] } arrives', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    await expect(pool.run({ t: new Uint8Array([1, 2]) }, { name: 'describeNested' }))
      .resolves.toEqual({ ctor: 'Uint8Array', bytes: [1, 2] })
  })

  test('a result { t: Buffer.from("hi"), u: Uint16Array, d: DataView } comes back', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    const r = await pool.run(null, { name: 'smallViews' })
    expect(Buffer.from(r.t).toString()).toBe('hi')
    expect(Object.prototype.toString.call(r.u)).toBe('[object Uint16Array]')
    expect(Array.from(r.u)).toEqual([1, 2, 3])
    expect(Object.prototype.toString.call(r.d)).toBe('[object DataView]')
    expect(r.d.byteLength).toBe(2)
  })

  test('echo of a typical payload { image, width, height }', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    const image = Buffer.from([9, 8, 7, 6])
    const r = await pool.run({ image, width: 2, height: 2 })
    expect(Array.from(r.image)).toEqual([9, 8, 7, 6])
    expect(r.width * r.height).toBe(4)
  })
})

describe("defect 3: 'drain' and needsDrain", () => {
  test("maxQueue: 0 — needsDrain once every slot is taken; 'drain' when one frees", async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1, maxQueue: 0 })
    const events = []
    pool.on('needsDrain', () => events.push('needsDrain'))
    const drained = new Promise((resolve) => pool.once('drain', () => { events.push('drain'); resolve() }))
    expect(pool.needsDrain).toBe(false)
    const first = pool.run(50, { name: 'sleep' })
    expect(pool.needsDrain).toBe(true)
    expect((await rejection(pool.run(1))).code).toBe('ERR_SPINDLE_QUEUE_FULL')
    await first
    await within(drained, 5_000, "'drain'")
    expect(pool.needsDrain).toBe(false)
    expect(events).toEqual(['needsDrain', 'drain'])
  })

  test("'drain' fires without any run() having been refused", async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1, maxQueue: 1 })
    let drains = 0
    pool.on('drain', () => drains++)
    const tasks = [pool.run(30, { name: 'sleep' }), pool.run(1)]
    expect(pool.needsDrain).toBe(true)
    await Promise.all(tasks)
    await new Promise((resolve) => setImmediate(resolve))
    expect(drains).toBe(1)
  })
})

describe('defect 5: minThreads above the default maxThreads', () => {
  test('raises maxThreads, as piscina does', async () => {
    const n = (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length) + 1
    const pool = makePool({ filename: FILE, minThreads: n })
    expect(pool.stats().threads).toBe(n)
    await expect(pool.run(5)).resolves.toBe(5)
  })

  test('an explicit maxThreads below minThreads is still an error', () => {
    expect(thrown(() => new Pool({ filename: FILE, minThreads: 3, maxThreads: 2 })).code).toBe('ERR_OUT_OF_RANGE')
  })
})

describe('defect 8: one completion that cannot be converted', () => {
  test('rejects its own promise only; the rest of its batch is delivered', async () => {
    const native = require('../lib/native')
    const pool = makePool({ filename: FILE, maxThreads: 1, pollMicros: 0, coalesceMicros: 0 })
    await pool.run(0)
    for (const poll of [false, true]) {
      // Through a wake (call_js), then through polling (port.poll()).
      if (poll) native.pollFor(100_000)
      native.getPort().failNextConversion()
      const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((x) => pool.run(x)))
      const codes = results.filter((r) => r.status === 'rejected').map((r) => r.reason.code)
      expect(codes).toEqual(['ERR_SPINDLE_CONVERSION'])
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5)
    }
    expect(pool.stats().pending).toBe(0)
  })
})

describe('defect 6: SharedArrayBuffers are shared, as postMessage shares them', () => {
  const kind = (x) => Object.prototype.toString.call(x)

  test('a view over one, nested: the worker writes into the caller\'s memory', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    const view = new Int32Array(new SharedArrayBuffer(8))
    const back = await pool.run({ view, value: 42 }, { name: 'writeShared' })
    expect(Atomics.load(view, 0)).toBe(42)
    // The view that came back is over the same memory too.
    Atomics.store(back, 1, 9)
    expect(Atomics.load(view, 1)).toBe(9)
  })

  test('a view over one, at the top level', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    const view = new Int32Array(new SharedArrayBuffer(8))
    await expect(pool.run(view, { name: 'writeTop' })).resolves.toBe('[object SharedArrayBuffer]')
    expect(Atomics.load(view, 0)).toBe(7)
  })

  test('a bare one, both directions', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    const sab = new SharedArrayBuffer(16)
    const back = await pool.run(sab)
    expect(kind(back)).toBe('[object SharedArrayBuffer]')
    Atomics.store(new Int32Array(back), 2, 5)
    expect(Atomics.load(new Int32Array(sab), 2)).toBe(5)
  })

  test('one created in the worker and returned', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    const sab = new SharedArrayBuffer(4)
    const r = await pool.run({ sab }, { name: 'returnShared' })
    expect(kind(r.view)).toBe('[object Int32Array]')
    Atomics.store(r.view, 0, 3)
    expect(Atomics.load(new Int32Array(sab), 0)).toBe(3)
  })

  test('many at once keep their own values; nothing is left behind', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 2 })
    const views = Array.from({ length: 20 }, () => new Int32Array(new SharedArrayBuffer(4)))
    await Promise.all(views.map((view, i) => pool.run({ view, value: i + 1 }, { name: 'writeShared' })))
    expect(views.map((v) => v[0])).toEqual(views.map((_, i) => i + 1))
    expect(pool.stats().pending).toBe(0)
  })
})
