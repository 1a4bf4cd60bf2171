// Issue 10, the Pool's items: never hang, never spin, never run what the
// caller did not ask for, and every failure has a code. The cases that could
// hang, spin or kill the process run in a child process of their own, with a
// generous kill timeout: each must exit by itself, with code 0 and no signal.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { ROOT, makePool, destroyAll, worker, rejection, sleep, within, Pool } = require('../support/pool-helpers')
const { thrown } = require('../support/thrown')

afterEach(destroyAll)

let dir
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-pool-hostile-'))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/**
 * Runs `source` (with `spindle`, `worker(file)` and `report(value)` in scope)
 * in a child process; returns what it reported. `ulimit`: its descriptor limit.
 */
function child(source, { ulimit } = {}) {
  const file = path.join(dir, `child-${Math.random().toString(36).slice(2)}.js`)
  fs.writeFileSync(file, `'use strict'
const spindle = require(${JSON.stringify(ROOT)})
const path = require('node:path')
const worker = (f) => path.join(${JSON.stringify(path.join(ROOT, '__test__', 'support', 'fixtures', 'workers'))}, f)
const report = (v) => process.stdout.write(JSON.stringify(v) + '\\n')
process.stdout; process.stderr // created before a test pollutes Object.prototype
;(async () => {
${source}
})().catch((err) => { console.error(err); process.exitCode = 1 })
`)
  const cmd = ulimit ? 'bash' : process.execPath
  const args = ulimit ? ['-c', `ulimit -n ${ulimit} && exec "$0" "$1"`, process.execPath, file] : [file]
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' })
  const lines = r.stdout.trim().split('\n').filter(Boolean)
  return { status: r.status, signal: r.signal, stderr: r.stderr, reports: lines.map((l) => JSON.parse(l)) }
}

function expectClean(r) {
  if (r.status !== 0) console.error(r.stderr)
  expect(r.signal).toBe(null)
  expect(r.status).toBe(0)
}

describe('a worker that fails to start (item 5)', () => {
  test('process.exit() while loading: run() rejects with a code; the pool backs off; the process exits', () => {
    const r = child(`
      const loads = new SharedArrayBuffer(4)
      const pool = new spindle.Pool({ filename: worker('exit-on-load.js'), minThreads: 0, maxThreads: 2, workerData: loads })
      const errs = await Promise.all([pool.run(1), pool.run(2)].map((p) => p.then(() => null, (e) => e)))
      const startsAtReject = Atomics.load(new Int32Array(loads), 0)
      await new Promise((r) => setTimeout(r, 500))
      report({ codes: errs.map((e) => e && e.code), startsAtReject, startsLater: Atomics.load(new Int32Array(loads), 0), threads: pool.stats().threads })
      // A later run() tries again (bounded), and rejects again.
      const again = await pool.run(3).then(() => null, (e) => e.code)
      report({ again, starts: Atomics.load(new Int32Array(loads), 0) })
    `)
    expectClean(r)
    const [first, second] = r.reports
    expect(first.codes).toEqual(['ERR_SPINDLE_WORKER_START_FAILED', 'ERR_SPINDLE_WORKER_START_FAILED'])
    expect(first.startsAtReject).toBeGreaterThan(0)
    expect(first.startsAtReject).toBeLessThanOrEqual(8)
    expect(first.startsLater).toBe(first.startsAtReject) // no respawns once it gave up
    expect(first.threads).toBe(0)
    expect(second.again).toBe('ERR_SPINDLE_WORKER_START_FAILED')
    expect(second.starts - first.startsLater).toBeLessThanOrEqual(8)
  })

  test('resourceLimits too small to start: run() rejects with the cause', () => {
    const r = child(`
      const pool = new spindle.Pool({ filename: worker('basic.js'), minThreads: 0, maxThreads: 1,
        resourceLimits: { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 1, codeRangeSizeMb: 1 } })
      const err = await pool.run(4, { name: 'square' }).then(() => null, (e) => e)
      report({ code: err && err.code, cause: err && err.cause && err.cause.code })
    `)
    expectClean(r)
    expect(r.reports[0]).toEqual({ code: 'ERR_SPINDLE_WORKER_START_FAILED', cause: 'ERR_WORKER_OUT_OF_MEMORY' })
  })
})

describe('an old generation too small for any Node to start a thread in', () => {
  test('is refused with ERR_OUT_OF_RANGE (Node 22+ would abort the whole process)', () => {
    for (const mb of [0, 1, 2, 3.5]) {
      const err = thrown(() => new Pool({ filename: worker('basic.js'), resourceLimits: { maxOldGenerationSizeMb: mb } }))
      expect(err.code).toBe('ERR_OUT_OF_RANGE')
    }
  })
})

describe('descriptors exhausted (item 7)', () => {
  test('a pool that must start a worker backs off and rejects with the EMFILE cause, then recovers', () => {
    const r = child(`
      const fs = require('node:fs')
      const held = []
      try { for (;;) held.push(fs.openSync('/dev/null', 'r')) } catch (e) { if (e.code !== 'EMFILE') throw e }
      let creates = 0
      const pool = new spindle.Pool({ filename: worker('basic.js'), minThreads: 0, maxThreads: 1 })
      const err = await pool.run(5, { name: 'square' }).then(() => null, (e) => e)
      report({ code: err && err.code, cause: String(err && err.cause && err.cause.message) })
      for (const fd of held) fs.closeSync(fd)
      report({ after: await pool.run(5, { name: 'square' }) })
      await pool.close()
    `, { ulimit: 64 })
    expectClean(r)
    expect(r.reports[0].code).toBe('ERR_SPINDLE_WORKER_START_FAILED')
    expect(r.reports[0].cause).toMatch(/EMFILE/)
    expect(r.reports[1]).toEqual({ after: 25 })
  })
})

describe('Worker options that Worker refuses (item 6)', () => {
  test('minThreads: 0 with a bad execArgv throws at construction, with its code', () => {
    const err = thrown(() => new Pool({ filename: worker('basic.js'), minThreads: 0, maxThreads: 1, execArgv: ['--no-such-flag'] }))
    expect(err.code).toBe('ERR_WORKER_INVALID_EXEC_ARGV')
  })

  test('minThreads: 0 with uncloneable workerData throws at construction, with a code', () => {
    const err = thrown(() => new Pool({ filename: worker('basic.js'), minThreads: 0, maxThreads: 1, workerData: { f() {} } }))
    expect(err.code).toBe('ERR_SPINDLE_UNCLONEABLE')
  })

  test('the process still exits by itself after such a pool was refused', () => {
    const r = child(`
      for (const o of [{ execArgv: ['--no-such-flag'] }, { workerData: () => 1 }]) {
        try { new spindle.Pool({ filename: worker('basic.js'), minThreads: 0, maxThreads: 1, ...o }); report('constructed') }
        catch (e) { report(e.code) }
      }
    `)
    expectClean(r)
    expect(r.reports).toEqual(['ERR_WORKER_INVALID_EXEC_ARGV', 'ERR_SPINDLE_UNCLONEABLE'])
  })
})

describe('ctx.run(arg, { signal }) stops a CPU-bound subtask (item 8)', () => {
  test('the abort settles the parent every time; the spinning worker is replaced', () => {
    const r = child(`
      const pool = new spindle.Pool({ filename: worker('hostile.js'), maxThreads: 2 })
      const outcomes = []
      for (let i = 0; i < 6; i++) outcomes.push(await pool.run(30, { name: 'abortSpinningChild' }))
      report(outcomes)
      report(await Promise.all([1, 2, 3].map((x) => pool.run(x))))
      await pool.destroy()
    `)
    expectClean(r)
    expect(r.reports[0]).toEqual(Array(6).fill('ABORT_ERR'))
    expect(r.reports[1]).toEqual([1, 2, 3])
  })
})

describe('options through own properties only (item 9)', () => {
  test('inherited name, env, execArgv, maxThreads and run options are ignored', () => {
    const r = child(`
      process.env.SPINDLE_HOSTILE = 'parent'
      Object.prototype.name = 'env'
      Object.prototype.env = { SPINDLE_HOSTILE: 'polluted' }
      Object.prototype.execArgv = ['--no-such-flag']
      Object.prototype.maxThreads = 'x'
      Object.prototype.eval = true
      Object.prototype.stdout = true
      Object.prototype.transferList = 'x'
      const pool = new spindle.Pool({ filename: worker('hostile.js'), maxThreads: 1 })
      report(await pool.run('SPINDLE_HOSTILE'))
      report(await pool.run('SPINDLE_HOSTILE', { name: 'env' }))
      report(await pool.run('x', {}))
      await pool.close()
    `)
    expectClean(r)
    expect(r.reports).toEqual(['SPINDLE_HOSTILE', 'parent', 'x'])
  })

  test('a getter option is read once', async () => {
    let reads = 0
    const options = { filename: worker('basic.js'), maxThreads: 1 }
    Object.defineProperty(options, 'idleTimeout', { enumerable: true, get: () => (++reads === 1 ? 1000 : -1) })
    const pool = makePool(options)
    expect(reads).toBe(1)
    let runReads = 0
    const runOptions = {}
    Object.defineProperty(runOptions, 'name', { enumerable: true, get: () => (++runReads === 1 ? 'square' : 'constructor') })
    await expect(pool.run(3, runOptions)).resolves.toBe(9)
    expect(runReads).toBe(1)
  })

  test('null-prototype options objects work', async () => {
    const pool = makePool({ __proto__: null, filename: worker('basic.js'), maxThreads: 1 })
    await expect(pool.run(4, { __proto__: null, name: 'square' })).resolves.toBe(16)
  })
})

describe('only the module\'s own exported functions run (item 10)', () => {
  test.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'call', 'bind'])('%s rejects with ERR_SPINDLE_UNKNOWN_EXPORT', async (name) => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1 })
    const err = await rejection(pool.run('return 1', { name }))
    expect(err.code).toBe('ERR_SPINDLE_UNKNOWN_EXPORT')
    await expect(pool.run(3, { name: 'square' })).resolves.toBe(9)
  })

  test('an ESM module: inherited names are refused too', async () => {
    const pool = makePool({ filename: worker('esm.mjs'), maxThreads: 1 })
    const err = await rejection(pool.run(1, { name: 'constructor' }))
    expect(err.code).toBe('ERR_SPINDLE_UNKNOWN_EXPORT')
  })

  test('a missing export has the code too', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1 })
    const err = await rejection(pool.run(1, { name: 'nope' }))
    expect(err.code).toBe('ERR_SPINDLE_UNKNOWN_EXPORT')
    expect(err.message).toContain('nope')
  })
})

describe('durations of 2^31 ms or more (item 12)', () => {
  test('idleTimeout 2^31 is clamped to 2^31 - 1: the worker stays, not retired after 1 ms', async () => {
    const pool = makePool({ filename: worker('basic.js'), minThreads: 0, maxThreads: 1, idleTimeout: 2 ** 31 })
    await expect(pool.run(2, { name: 'square' })).resolves.toBe(4)
    await sleep(300)
    expect(pool.stats().threads).toBe(1)
  })

  test('idleTimeout: Number.MAX_SAFE_INTEGER is accepted (clamped); a non-integer is still refused', () => {
    makePool({ filename: worker('basic.js'), minThreads: 0, maxThreads: 1, idleTimeout: Number.MAX_SAFE_INTEGER })
    expect(thrown(() => new Pool({ filename: worker('basic.js'), idleTimeout: 2 ** 31 + 0.5 })).code).toBe('ERR_OUT_OF_RANGE')
  })
})

describe('env: SHARE_ENV (item 15)', () => {
  test('is accepted, and workers see the parent\'s later changes', () => {
    // In a child process: jest's process.env is not the real environment.
    const r = child(`
            const pool = new spindle.Pool({ filename: worker('hostile.js'), maxThreads: 1, env: require('node:worker_threads').SHARE_ENV })
      process.env.SPINDLE_SHARED_ENV_TEST = 'shared'
      report(await pool.run('SPINDLE_SHARED_ENV_TEST', { name: 'env' }))
      await pool.close()
    `)
    expectClean(r)
    expect(r.reports).toEqual(['shared'])
  })

  test('env values that are Symbols are refused with a code', () => {
    expect(thrown(() => new Pool({ filename: worker('basic.js'), env: { A: Symbol('x') } })).code).toBe('ERR_INVALID_ARG_TYPE')
  })
})

describe('a thrown value that cannot be cloned nor stringified (item 16)', () => {
  test.each(['throwProxy', 'rejectProxy'])('%s rejects its own task only (concurrentTasksPerWorker: 2)', async (name) => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1, concurrentTasksPerWorker: 2 })
    const bystander = pool.run(300, { name: 'slow' })
    const threadId = (await pool.run(0, { name: 'slow' }))
    const err = await rejection(pool.run(0, { name }))
    expect(err.code).toBe('ERR_SPINDLE_UNCLONEABLE')
    await expect(bystander).resolves.toBe(threadId)
    await expect(pool.run(0, { name: 'slow' })).resolves.toBe(threadId) // the same worker: not replaced
  })
})

describe('a thrown value that cannot be sent faithfully (fuzz)', () => {
  const uncloneable = [
    ['arrow', 'function', '() => {}'],
    ['class', 'class', 'class K {}'],
    ['symbol', 'symbol', 'Symbol(Symbol.iterator)'],
    ['thenable', 'Object, thenable', '[object Object]'],
    ['detachedArrayBuffer', 'ArrayBuffer', '[object ArrayBuffer]'],
    ['detachedView', 'Float64Array', '[object Float64Array]'],
    ['revokedProxy', 'revoked Proxy', undefined],
  ]
  test.each(uncloneable)('throwing %s rejects with ERR_SPINDLE_UNCLONEABLE naming its type', async (kind, type, text) => {
    const pool = makePool({ filename: worker('throws-hostile.js'), maxThreads: 1 })
    for (const name of ['throwValue', 'rejectValue']) {
      const err = await rejection(pool.run(kind, { name }))
      expect(err).toBeInstanceOf(Error)
      expect(err.code).toBe('ERR_SPINDLE_UNCLONEABLE')
      expect(err.message).toBe(`The task threw a value that could not be cloned (${type})${text === undefined ? '' : `: ${text}`}`)
    }
  })

  test('it fails its own task only (concurrentTasksPerWorker: 2)', async () => {
    const pool = makePool({ filename: worker('throws-hostile.js'), maxThreads: 1, concurrentTasksPerWorker: 2 })
    const slow = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const bystander = slow.run(100, { name: 'slow' })
    const results = await Promise.allSettled(['arrow', 'symbol', 'byteOffset'].map((k) => pool.run(k, { name: 'rejectValue' })))
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected'])
    await expect(bystander).resolves.toEqual(expect.any(Number))
  })

  test.each(['byteLength', 'byteOffset', 'buffer'])("a view whose own %s lies arrives as a clone of its real bytes", async (kind) => {
    const pool = makePool({ filename: worker('throws-hostile.js'), maxThreads: 1 })
    const got = await rejection(pool.run(kind, { name: 'throwValue' }))
    expect(Object.prototype.toString.call(got)).toBe('[object Uint8Array]')
    expect(Array.from(got)).toEqual(Array.from({ length: 64 }, (_, i) => i))
  })

  test("an Error whose cause cannot be cloned keeps its own code; the cause becomes a coded error", async () => {
    const pool = makePool({ filename: worker('throws-hostile.js'), maxThreads: 1 })
    const err = await rejection(pool.run('errorWithFunctionCause', { name: 'throwValue' }))
    expect(err.message).toBe('outer')
    expect(err.code).toBe('E_OUTER')
    expect(err.cause.code).toBe('ERR_SPINDLE_UNCLONEABLE')
    expect(err.cause.message).toMatch(/\(function\): \(\) => 1$/)
  })

  test.each(['revokedProxy', 'revokedArray'])('returning a %s rejects with ERR_SPINDLE_UNCLONEABLE; the worker goes on', async (kind) => {
    const pool = makePool({ filename: worker('throws-hostile.js'), maxThreads: 1 })
    const err = await rejection(pool.run(kind, { name: 'returnValue' }))
    expect(err.code).toBe('ERR_SPINDLE_UNCLONEABLE')
    expect(err.cause.name).toBe('TypeError')
    expect(Array.from(await pool.run('byteLength', { name: 'returnValue' }))).toHaveLength(64)
  })
})

describe('views whose own properties lie cross as their real bytes (fuzz)', () => {
  test.each(['byteLength', 'byteOffset', 'buffer'])('a returned view whose own %s lies', async (kind) => {
    const pool = makePool({ filename: worker('throws-hostile.js'), maxThreads: 1 })
    const got = await pool.run(kind, { name: 'returnValue' })
    expect(Object.prototype.toString.call(got)).toBe('[object Uint8Array]')
    expect(Array.from(got)).toEqual(Array.from({ length: 64 }, (_, i) => i))
  })

  test('an argument whose own buffer lies; a detached one behind a lying buffer is refused with a code', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 }) // its default export echoes
    const rab = new ArrayBuffer(8, { maxByteLength: 16 })
    const view = new Uint8Array(rab)
    view.set([1, 2, 3, 4, 5, 6, 7, 8])
    Object.defineProperty(view, 'buffer', { value: new ArrayBuffer(8) })
    expect(Array.from(await pool.run(view))).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    const detached = new Uint8Array(8)
    structuredClone(detached.buffer, { transfer: [detached.buffer] })
    Object.defineProperty(detached, 'buffer', { value: new ArrayBuffer(8) })
    expect((await rejection(pool.run(detached))).code).toBe('ERR_SPINDLE_UNCLONEABLE')
  })
})

test('a resizable ArrayBuffer crosses as structuredClone gives it: still resizable (fuzz)', async () => {
  const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
  const rab = new ArrayBuffer(8, { maxByteLength: 32 })
  new Uint8Array(rab).set([1, 2, 3])
  const got = await pool.run(rab)
  expect([got.resizable, got.maxByteLength, Array.from(new Uint8Array(got))]).toEqual([true, 32, [1, 2, 3, 0, 0, 0, 0, 0]])
})

describe('second fuzz pass (seed 3)', () => {
  const revokedArray = () => { const r = Proxy.revocable([], {}); r.revoke(); return r.proxy }

  test('ctx.run(arg, { signal: a revoked Proxy }) inside a task rejects with ERR_INVALID_ARG_TYPE (a promise API rejects)', async () => {
    const pool = makePool({ filename: require('node:path').join(__dirname, '..', 'fuzz', 'worker.js'), maxThreads: 1 })
    const r = await pool.run({ method: 'run', pos: '1.signal', value: 'proxy:revokedArray' }, { name: 'nested' })
    expect([r.outcome, r.error.code]).toEqual(['rejected', 'ERR_INVALID_ARG_TYPE'])
  })

  test('close(a revoked Proxy) rejects with ERR_INVALID_ARG_VALUE', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    expect((await rejection(pool.close(revokedArray()))).code).toBe('ERR_INVALID_ARG_VALUE')
  })

  test('a transferList that is a huge sparse array, or whose length lies, rejects with ERR_OUT_OF_RANGE', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const sparse = []
    sparse.length = 2 ** 32 - 1
    const lying = new Proxy([], { get: (t, k) => (k === 'length' ? 2 ** 32 - 1 : t[k]) })
    for (const transferList of [sparse, lying]) {
      expect((await rejection(pool.run(1, { transferList }))).code).toBe('ERR_OUT_OF_RANGE')
    }
  })

  test('a stackSizeMb or codeRangeSizeMb past 1 TiB is refused with ERR_OUT_OF_RANGE (Worker would abort the process)', () => {
    const r = child(`
      for (const resourceLimits of [{ stackSizeMb: Number.MAX_VALUE }, { stackSizeMb: Infinity }, { codeRangeSizeMb: 2 ** 31 }]) {
        for (const minThreads of [0, 1]) {
          try { new spindle.Pool({ filename: worker('basic.js'), minThreads, maxThreads: 1, resourceLimits }); report('constructed') }
          catch (e) { report(e.code) }
        }
      }
    `)
    expectClean(r)
    expect(r.reports).toEqual(Array(6).fill('ERR_OUT_OF_RANGE'))
  })
})

describe('argv and execArgv are read defensively (fuzz)', () => {
  const revokedProxy = () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy }
  const deep = () => { let v = []; for (let i = 0; i < 20000; i++) v = [v]; return v }
  test.each([
    ['argv holding a revoked Proxy', () => ({ argv: [revokedProxy()] }), 'ERR_INVALID_ARG_VALUE'],
    ['argv nested too deep to become a string', () => ({ argv: deep() }), 'ERR_INVALID_ARG_VALUE'],
    ['argv: a revoked Proxy', () => ({ argv: revokedProxy() }), 'ERR_INVALID_ARG_VALUE'],
    ['argv: a sparse array of length 2^32 - 1', () => ({ argv: Object.assign([], { length: 2 ** 32 - 1 }) }), 'ERR_OUT_OF_RANGE'],
  ])('%s throws %s at construction', (_, opts, code) => {
    for (const minThreads of [0, 1]) {
      const err = thrown(() => new Pool({ filename: worker('basic.js'), minThreads, maxThreads: 1, ...opts() }))
      expect(err.code).toBe(code)
    }
  })

  test('argv entries become strings once, as Worker makes them', async () => {
    let reads = 0
    const entry = { toString() { reads++; return 'once' } }
    const pool = makePool({ filename: worker('env.js'), maxThreads: 1, argv: [entry, 3] })
    expect(reads).toBe(1)
    expect((await pool.run(null)).argv).toEqual(['once', '3'])
  })

  test('an argv or execArgv whose length lies (a Proxy) is refused at once: no spin', () => {
    const r = child(`
      const lying = () => new Proxy(['x'], { get: (t, k) => (k === 'length' ? 2 ** 32 - 1 : t[k]) })
      for (const key of ['argv', 'execArgv']) {
        for (const minThreads of [0, 1]) {
          try { new spindle.Pool({ filename: worker('basic.js'), minThreads, maxThreads: 1, [key]: lying() }); report('constructed') }
          catch (e) { report(e.code) }
        }
      }
    `)
    expectClean(r)
    expect(r.reports).toEqual(Array(4).fill('ERR_OUT_OF_RANGE'))
  })
})

describe('every failure has a code', () => {
  const uncloneable = [
    ['a function', () => () => 1],
    ['a Symbol', () => Symbol('s')],
    ['a Proxy', () => new Proxy({}, {})],
    ['a revoked Proxy', () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy }],
    ['a WeakMap', () => new WeakMap()],
    ['a nested function', () => ({ a: [{ f() {} }] })],
    ['a detached TypedArray', () => { const u = new Uint8Array(8); structuredClone(u.buffer, { transfer: [u.buffer] }); return u }],
    ['a detached TypedArray, nested', () => { const u = new Uint8Array(8); structuredClone(u.buffer, { transfer: [u.buffer] }); return { u } }],
    ['a detached ArrayBuffer', () => { const b = new ArrayBuffer(8); structuredClone(b, { transfer: [b] }); return b }],
    ['nesting too deep to serialize', () => { let v = []; for (let i = 0; i < 200_000; i++) v = [v]; return v }],
  ]
  test.each(uncloneable)('run(%s) rejects with ERR_SPINDLE_UNCLONEABLE', async (_, make) => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const err = await rejection(pool.run(make()))
    expect(err.code).toBe('ERR_SPINDLE_UNCLONEABLE')
    expect(pool.stats().pending).toBe(0)
  })

  test.each(['function', 'symbol', 'proxy', 'weakmap', 'nested-function'])('a result that is a %s rejects with ERR_SPINDLE_UNCLONEABLE', async (kind) => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const err = await rejection(pool.run(kind, { name: 'returns' }))
    expect(err.code).toBe('ERR_SPINDLE_UNCLONEABLE')
  })

  test('a duplicate transferList entry rejects before the task is queued: it never runs', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const buf = new ArrayBuffer(8)
    const err = await rejection(pool.run(null, { name: 'count', transferList: [buf, buf] }))
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(buf.byteLength).toBe(8) // not detached
    await expect(pool.run(null, { name: 'count' })).resolves.toBe(1) // the refused one did not run
  })

  test('a detached ArrayBuffer or a non-object in transferList rejects with a code', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const b = new ArrayBuffer(8)
    structuredClone(b, { transfer: [b] })
    expect((await rejection(pool.run(1, { transferList: [b] }))).code).toBe('ERR_INVALID_ARG_VALUE')
    expect((await rejection(pool.run(1, { transferList: [1] }))).code).toBe('ERR_INVALID_ARG_TYPE')
  })

  const revoked = () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy }
  test.each([
    ['options: a revoked Proxy', () => revoked()],
    ['options: a Symbol', () => Symbol('o')],
    ['options.name: a revoked Proxy', () => ({ name: revoked() })],
    ['options.name: a Symbol', () => ({ name: Symbol('n') })],
    ['options.signal: a revoked Proxy', () => ({ signal: revoked() })],
    ['options.transferList: a revoked Proxy', () => ({ transferList: revoked() })],
    ['options: a Proxy whose ownKeys trap throws a TypeError', () => new Proxy({}, { ownKeys() { throw new TypeError('no') } })],
  ])('run() with %s rejects with a code', async (_, make) => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const err = await rejection(pool.run(1, make()))
    expect(typeof err.code).toBe('string')
    expect(err.code).toMatch(/^ERR_/)
  })

  test.each([
    ['a revoked Proxy', () => revoked()],
    ['a Symbol', () => Symbol('o')],
    ['filename: a revoked Proxy', () => ({ filename: revoked() })],
    ['name: a Symbol', () => ({ filename: worker('basic.js'), name: Symbol('n') })],
    ['env: a revoked Proxy', () => ({ filename: worker('basic.js'), env: revoked() })],
    ['execArgv: a revoked Proxy', () => ({ filename: worker('basic.js'), execArgv: revoked() })],
    ['resourceLimits: a revoked Proxy', () => ({ filename: worker('basic.js'), resourceLimits: revoked() })],
    ['resourceLimits.maxOldGenerationSizeMb: a Symbol', () => ({ filename: worker('basic.js'), resourceLimits: { maxOldGenerationSizeMb: Symbol('x') } })],
  ])('new Pool(%s) throws with a code', (_, make) => {
    const err = thrown(() => new Pool(make()))
    expect(typeof err.code).toBe('string')
    expect(err.code).toMatch(/^ERR_/)
  })
})

describe('values read through intrinsics, never lying properties (fuzz findings)', () => {
  const lying = () => {
    const u = new Uint8Array([5, 6, 7])
    Object.defineProperty(u, 'byteOffset', { value: 1 << 20 })
    Object.defineProperty(u, 'byteLength', { value: 1 << 30 })
    Object.defineProperty(u, 'buffer', { value: new ArrayBuffer(1) })
    Object.defineProperty(u, Symbol.toStringTag, { value: 'Float64Array' })
    return u
  }

  test('an argument view whose buffer/byteOffset/byteLength lie arrives with its real bytes, top level and nested', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    await expect(pool.run(lying(), { name: 'viewInfo' })).resolves.toEqual({ tag: '[object Uint8Array]', bytes: [5, 6, 7] })
    const back = await pool.run({ v: lying() })
    expect(Array.from(back.v)).toEqual([5, 6, 7])
  })

  test('a thrown view whose properties lie arrives as itself', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const err = await rejection(pool.run(null, { name: 'throwLyingView' }))
    expect(Object.prototype.toString.call(err)).toBe('[object Uint8Array]')
    expect(Array.from(err)).toEqual([1, 2, 3, 4])
  })

  test('a thrown Symbol rejects with ERR_SPINDLE_UNCLONEABLE', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const err = await rejection(pool.run(null, { name: 'throwSymbol' }))
    expect(err.code).toBe('ERR_SPINDLE_UNCLONEABLE')
    expect(err.message).toContain('Symbol(thrown)')
  })

  test('a returned Proxy whose traps throw rejects with ERR_SPINDLE_UNCLONEABLE', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const err = await rejection(pool.run(null, { name: 'returnThrowingProxy' }))
    expect(err.code).toBe('ERR_SPINDLE_UNCLONEABLE')
    await expect(pool.run(1)).resolves.toBe(1)
  })
})

describe('more fuzz findings', () => {
  test('resourceLimits that would make V8 abort the process are refused with ERR_OUT_OF_RANGE', () => {
    for (const v of [2 ** 53, Infinity, -1, NaN]) {
      expect(thrown(() => new Pool({ filename: worker('basic.js'), minThreads: 0, resourceLimits: { stackSizeMb: v } })).code).toBe('ERR_OUT_OF_RANGE')
    }
    expect(thrown(() => new Pool({ filename: worker('basic.js'), minThreads: 0, resourceLimits: { maxOldGenerationSizeMb: Infinity } })).code).toBe('ERR_OUT_OF_RANGE')
  })

  test('a thrown array whose length lies settles with a code, at once', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const err = await within(rejection(pool.run(null, { name: 'throwLyingLength' })), 20_000, 'the task')
    expect(err.code).toBe('ERR_SPINDLE_UNCLONEABLE')
  })

  test('a transferList, argv or execArgv whose length is huge or lies is refused, not iterated', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const lying = new Proxy([], { get: (t, k) => (k === 'length' ? 2 ** 32 - 1 : t[k]) })
    const sparse = []
    sparse.length = 2 ** 32 - 1
    for (const list of [lying, sparse]) {
      expect((await rejection(pool.run(1, { transferList: list }))).code).toBe('ERR_OUT_OF_RANGE')
      expect(thrown(() => new Pool({ filename: worker('basic.js'), minThreads: 0, argv: list })).code).toBe('ERR_OUT_OF_RANGE')
      expect(thrown(() => new Pool({ filename: worker('basic.js'), minThreads: 0, execArgv: list })).code).toBe('ERR_OUT_OF_RANGE')
    }
  })

  test('argv entries are made strings at construction: a revoked Proxy among them is refused there', () => {
    const r = Proxy.revocable({}, {})
    r.revoke()
    expect(thrown(() => new Pool({ filename: worker('basic.js'), minThreads: 0, argv: ['a', r.proxy] })).code).toBe('ERR_INVALID_ARG_VALUE')
  })

  test('a thrown Buffer arrives as the Uint8Array postMessage would give', async () => {
    const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
    const err = await rejection(pool.run(null, { name: 'throwBuffer' }))
    expect(Object.prototype.toString.call(err)).toBe('[object Uint8Array]')
    expect(Buffer.isBuffer(err)).toBe(false)
    expect(Buffer.from(err).toString()).toBe('hi')
  })

  test.each([['revoked', 'rejected ERR_INVALID_ARG_VALUE'], ['revokedSignal', 'rejected ERR_INVALID_ARG_TYPE']])(
    'ctx.run with options %s rejects with a code', async (kind, expected) => {
      const pool = makePool({ filename: worker('hostile.js'), maxThreads: 2 })
      await expect(pool.run(kind, { name: 'ctxRunWith' })).resolves.toBe(expected)
    })
})

test('a resizable ArrayBuffer crosses as one (maxByteLength kept), as postMessage clones it', async () => {
  const pool = makePool({ filename: worker('hostile.js'), maxThreads: 1 })
  const rab = new ArrayBuffer(8, { maxByteLength: 64 })
  new Uint8Array(rab).set([1, 2, 3])
  const back = await pool.run(rab)
  expect(back.resizable).toBe(true)
  expect(back.maxByteLength).toBe(64)
  expect(Array.from(new Uint8Array(back))).toEqual([1, 2, 3, 0, 0, 0, 0, 0])
})

describe("the worker's native calls, made where no worker is attached", () => {
  // The per-task calls of a worker (src/pool/worker.rs) act on a state in a
  // thread-local of the worker's own thread. Made from another thread, or
  // twice, they answer with an error or "parked": never a crash.
  test('on the main thread: take parks, the others throw; a second attach is refused', () => {
    const r = child(`
      const { binding, getPort } = require(${JSON.stringify(path.join(ROOT, 'lib', 'native.js'))})
      const caught = (f) => { try { return { value: f() } } catch (e) { return { error: e.message } } }
      const out = {}
      out.take = binding.poolWorkerTake()
      out.parked = binding.TakeSignal.Parked
      out.arg = caught(() => binding.poolWorkerArg())
      out.name = caught(() => binding.poolWorkerName())
      out.complete = caught(() => binding.poolWorkerComplete(3, false, 1))
      // The raw function reads its own arguments: wrong ones are errors too.
      out.badSlot = caught(() => binding.poolWorkerComplete('x', false, 1))
      out.badFailed = caught(() => binding.poolWorkerComplete(3, 'no', 1))
      out.noArgs = caught(() => binding.poolWorkerComplete())
      out.badValue = caught(() => binding.poolWorkerComplete(3, false, {}))
      out.cancel = caught(() => binding.poolWorkerCancel(1))
      const native = new binding.NativePool(getPort(), false)
      const first = new binding.PoolWorker(native.handle, getPort(), 0, 0, 0, 0)
      out.second = caught(() => new binding.PoolWorker(native.handle, getPort(), 0, 0, 0, 0))
      out.takeAttached = binding.poolWorkerTake()
      first.detach()
      first.detach() // twice is harmless
      out.afterDetach = binding.poolWorkerTake()
      const again = new binding.PoolWorker(native.handle, getPort(), 0, 0, 0, 0) // attachable again
      again.detach()
      native.close()
      report(out)
    `)
    expectClean(r)
    const [out] = r.reports
    expect(out.take).toBe(out.parked)
    for (const k of ['arg', 'name', 'complete', 'cancel']) expect(out[k].error).toMatch(/no pool worker is attached/)
    expect(out.badSlot.error).toMatch(/slot must be a number/)
    expect(out.badFailed.error).toMatch(/failed must be a boolean/)
    expect(out.noArgs.error).toMatch(/slot must be a number/)
    expect(out.badValue.error).toBeTruthy()
    expect(out.second.error).toMatch(/already attached/)
    expect(out.takeAttached).toBe(out.parked) // nothing queued: parks
    expect(out.afterDetach).toBe(out.parked)
  })
})
