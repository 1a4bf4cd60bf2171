// Issue 11: spindle's Pool as a drop-in for piscina 5 — the defects found
// (each fails on the old main), then the behaviours a piscina user reaches for.
const os = require('node:os')
const { makePool, destroyAll, worker, rejection, within, waitFor, Pool } = require('../support/pool-helpers')
const { thrown } = require('../support/thrown')

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
    const native = require('../../lib/native')
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

describe('what a piscina user reaches for', () => {
  const { EventEmitter } = require('node:events')

  test('signal may be an EventEmitter that emits "abort"; its listener is removed when the task settles', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    const ee = new EventEmitter()
    const running = pool.run(5_000, { name: 'sleep', signal: ee })
    const queued = pool.run(1, { signal: ee })
    ee.emit('abort')
    expect((await rejection(running)).code).toBe('ABORT_ERR')
    expect((await rejection(queued)).code).toBe('ABORT_ERR')
    const other = new EventEmitter()
    await pool.run(2, { signal: other })
    expect(other.listenerCount('abort')).toBe(0)
  })

  test('a pool without filename, and per-run filenames, each loaded once per worker', async () => {
    const pool = makePool({ maxThreads: 1 })
    const counts = []
    for (let i = 0; i < 4; i++) counts.push(await pool.run(null, { filename: worker('load-count.js') }))
    expect(counts).toEqual([1, 1, 1, 1])
    await expect(pool.run(4, { filename: worker('basic.js'), name: 'square' })).resolves.toBe(16)
    await expect(pool.run({ a: 1, b: 2 }, { filename: worker('basic.js') })).resolves.toBe(3)
    const err = await rejection(pool.run(1, { filename: worker('no-such-file.js') }))
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE')
  })

  test('a per-run filename beside the pool\'s own; a load error rejects that task only', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    await expect(pool.run(3, { filename: worker('basic.js'), name: 'square' })).resolves.toBe(9)
    const err = await rejection(pool.run(1, { filename: worker('load-throws.js') }))
    expect(err.code).toBe('E_LOAD')
    await expect(pool.run(5)).resolves.toBe(5)
  })

  test('getters: options, minThreads, maxThreads, threads, queueSize, completed, duration, utilization', async () => {
    const pool = makePool({ filename: FILE, minThreads: 1, maxThreads: 1, maxQueue: 'auto' })
    expect(pool.minThreads).toBe(1)
    expect(pool.maxThreads).toBe(1)
    expect(pool.options.maxQueue).toBe(1)
    expect(Object.isFrozen(pool.options)).toBe(true)
    expect(pool.threads).toHaveLength(1)
    expect(pool.queueSize).toBe(0)
    const first = pool.run(50, { name: 'sleep' })
    expect(pool.queueSize).toBe(0)
    const second = pool.run(1)
    expect(pool.queueSize).toBe(1) // at once, not a microtask later
    await Promise.all([first, second])
    expect(pool.queueSize).toBe(0)
    expect(pool.completed).toBe(2)
    const d = pool.duration
    expect(d).toBeGreaterThan(0)
    expect(pool.duration).toBeGreaterThanOrEqual(d)
    expect(pool.utilization).toBeGreaterThan(0)
    expect(pool.utilization).toBeLessThanOrEqual(1)
  })

  test("histogram, runTime and waitTime in piscina's shape (milliseconds)", async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1 })
    await pool.run(20, { name: 'busy' })
    const keys = ['average', 'mean', 'stddev', 'min', 'max', 'p0_001', 'p0_01', 'p0_1', 'p1', 'p2_5',
      'p10', 'p25', 'p50', 'p75', 'p90', 'p97_5', 'p99', 'p99_9', 'p99_99', 'p99_999']
    for (const s of [pool.runTime, pool.waitTime, pool.histogram.runTime, pool.histogram.waitTime]) {
      expect(Object.keys(s).sort()).toEqual([...keys].sort())
    }
    expect(pool.histogram.runTime.max).toBeGreaterThanOrEqual(19)
    pool.histogram.resetRunTime()
    expect(pool.histogram.runTime.max).toBe(0)
    pool.histogram.resetWaitTime()
    expect(pool.waitTime.max).toBe(0)
  })

  test("events: 'workerCreate', 'message', 'error' (a worker dying while idle), 'workerDestroy', 'close'", async () => {
    const created = []
    const destroyed = []
    const pool = new Pool({ filename: FILE, minThreads: 0, maxThreads: 1 })
    pool.on('workerCreate', (w) => created.push(w))
    pool.on('workerDestroy', (w) => destroyed.push(w))
    const messages = []
    pool.on('message', (m) => messages.push(m))
    const errored = new Promise((resolve) => pool.once('error', resolve))
    await expect(pool.run({ hello: 1 }, { name: 'post' })).resolves.toBe('posted')
    expect(created).toHaveLength(1)
    await within(new Promise((resolve) => { const t = setInterval(() => { if (messages.length) { clearInterval(t); resolve() } }, 5) }), 5_000, "'message'")
    expect(messages).toEqual([{ hello: 1 }])
    await pool.run(10, { name: 'dieLater' })
    const err = await within(errored, 10_000, "'error'")
    expect(err.message).toBe('died while idle')
    expect(destroyed).toHaveLength(1)
    expect(destroyed[0]).toBe(created[0])
    const closed = new Promise((resolve) => pool.once('close', resolve))
    await pool.close()
    await within(closed, 5_000, "'close'")
  })

  test('close({ force: true }) rejects queued tasks and waits for running ones', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    const running = pool.run(100, { name: 'sleep' })
    const queued = [pool.run(1), pool.run(2)].map((p) => p.then(() => null, (e) => e))
    await waitFor(() => pool.stats().running === 1, { what: 'the first task started' })
    await pool.close({ force: true })
    await expect(running).resolves.toEqual(expect.any(Number))
    for (const q of queued) expect((await q).code).toBe('ERR_SPINDLE_POOL_CLOSED')
  })

  test('closeTimeout: what is still pending then rejects with a code, and close() resolves', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1, closeTimeout: 50 })
    const stuck = pool.run(60_000, { name: 'sleep' }).then(() => null, (e) => e)
    await within(pool.close(), 10_000, 'close()')
    expect((await stuck).code).toBe('ERR_SPINDLE_CLOSE_TIMEOUT')
  })

  test('an ESM worker whose default export is a Promise of the handler', async () => {
    const pool = makePool({ filename: worker('esm-promise.mjs'), maxThreads: 1 })
    await expect(pool.run(4)).resolves.toBe(12)
    await expect(pool.run(4, { name: 'negate' })).resolves.toBe(-4)
  })

  test('Symbol.dispose starts close(), beside Symbol.asyncDispose', async () => {
    const pool = makePool({ filename: FILE, maxThreads: 1 })
    expect(typeof pool[Symbol.dispose]).toBe('function')
    const closed = new Promise((resolve) => pool.once('close', resolve))
    pool[Symbol.dispose]()
    expect((await rejection(pool.run(1))).code).toBe('ERR_SPINDLE_POOL_CLOSED')
    await within(closed, 5_000, "'close'")
  })
})

describe('differential: the same options and calls on piscina and on spindle', () => {
  const Piscina = require('piscina')
  const { EventEmitter } = require('node:events')

  const options = () => ({
    filename: FILE,
    minThreads: 1,
    maxThreads: 2,
    idleTimeout: 1000,
    maxQueue: 'auto',
    concurrentTasksPerWorker: 1,
    atomics: 'sync',
    closeTimeout: 5000,
    recordTiming: true,
    trackUnmanagedFds: true,
    niceIncrement: 0,
    argv: ['a'],
    execArgv: [],
    env: { SPINDLE_DIFF: '1' },
    resourceLimits: { maxOldGenerationSizeMb: 64 },
    workerData: { x: 1 },
  })

  async function scenario(pool) {
    const out = {}
    out.echo = await pool.run({ a: [1, 2], s: 'x' })
    out.named = typeof (await pool.run(1, { name: 'threadId' }))
    out.perRunFile = await pool.run(3, { filename: worker('basic.js'), name: 'square' })
    const ee = new EventEmitter()
    const aborted = pool.run(2_000, { name: 'sleep', signal: ee }).then(() => 'resolved', (e) => e.name)
    ee.emit('abort')
    out.abort = await aborted
    out.options = [pool.options.maxQueue, pool.minThreads, pool.maxThreads]
    out.needsDrain = pool.needsDrain
    out.counters = [typeof pool.completed, typeof pool.duration, typeof pool.utilization, typeof pool.queueSize]
    out.histogramKeys = Object.keys(pool.histogram.runTime).sort()
    const closed = new Promise((resolve) => pool.once('close', resolve))
    await pool.close()
    await closed
    out.closed = true
    return out
  }

  test('options pass through unchanged and the documented behaviours agree', async () => {
    const theirs = await scenario(new Piscina(options()))
    const ours = await scenario(makePool(options()))
    expect(ours).toEqual(theirs)
  })
})

describe('idleThreads', () => {
  test('counts the live workers running no task, as piscina does', async () => {
    const pool = makePool({ filename: FILE, minThreads: 2, maxThreads: 2 })
    await Promise.all([pool.run(null, { name: 'threadId' }), pool.run(null, { name: 'threadId' })])
    await waitFor(() => pool.threads.length === 2)
    expect(pool.idleThreads).toBe(2)
    const flag = new Int32Array(new SharedArrayBuffer(8))
    const held = pool.run(flag, { name: 'holdUntil' })
    await waitFor(() => Atomics.load(flag, 1) === 1)
    expect(pool.idleThreads).toBe(1)
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    await held
    expect(pool.idleThreads).toBe(2)
  })
})
