// Pool lifecycle: close() finishes queued and running tasks then stops the
// workers; destroy() rejects everything pending and stops at once;
// Symbol.asyncDispose (and `await using`, compiled by TypeScript since
// Node 20 lacks the syntax); run() after close. Then the three ways a process
// ends, each in a child process: naturally with an idle pool and no close(),
// process.exit() while workers are parked, and after close().
//
// The only timing assertions are generous "did not hang" bounds.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { ROOT, makePool, destroyAll, worker, control, waitFor, within, rejection, sleep } = require('../support/pool-helpers')
const { hangBound } = require('../support/timing')

afterEach(destroyAll)

describe('close()', () => {
  test('finishes running and queued tasks, then stops the workers', async () => {
    const c = control()
    const pool = makePool({ filename: worker('control.js'), maxThreads: 1, workerData: { sab: c.sab } })
    const running = pool.run({ i: 0 }, { name: 'block' })
    await waitFor(() => c.started() === 1)
    const queued = [1, 2, 3].map((i) => pool.run(i))
    let closed = false
    const closing = pool.close().then(() => (closed = true))
    await sleep(100)
    expect(closed).toBe(false) // still waiting for the blocked task
    c.open()
    await expect(Promise.all([running, ...queued])).resolves.toEqual([0, 1, 2, 3])
    await closing
    expect([1, 2, 3].map(c.ran)).toEqual([1, 1, 1])
    expect(pool.stats().threads).toBe(0)
  })

  test('the worker threads have exited once close() resolves', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 2 })
    await pool.run({ a: 1, b: 2 })
    const threads = pool.threads
    expect(threads.length).toBe(2)
    const exits = threads.map((t) => new Promise((resolve) => t.once('exit', resolve)))
    await pool.close()
    await within(Promise.all(exits), 5_000, 'the workers\' exit')
  })

  test('an idle pool closes; a second close() is harmless', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 2 })
    await pool.close()
    await pool.close()
    expect(pool.stats().threads).toBe(0)
  })

  test('run() after close rejects with ERR_SPINDLE_POOL_CLOSED', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1 })
    await pool.close()
    const err = await rejection(pool.run({ a: 1, b: 1 }))
    expect(err.code).toBe('ERR_SPINDLE_POOL_CLOSED')
  })

  test('run() while close() is draining rejects with ERR_SPINDLE_POOL_CLOSED; the drained tasks complete', async () => {
    const c = control()
    const pool = makePool({ filename: worker('control.js'), maxThreads: 1, workerData: { sab: c.sab } })
    const running = pool.run({ i: 0 }, { name: 'block' })
    await waitFor(() => c.started() === 1)
    const closing = pool.close()
    const err = await rejection(pool.run(1))
    expect(err.code).toBe('ERR_SPINDLE_POOL_CLOSED')
    c.open()
    await expect(running).resolves.toBe(0)
    await closing
    expect(c.ran(1)).toBe(0)
  })
})

describe('destroy()', () => {
  test('rejects running and queued tasks with ERR_SPINDLE_POOL_DESTROYED and stops at once', async () => {
    const c = control()
    const pool = makePool({ filename: worker('control.js'), maxThreads: 1, workerData: { sab: c.sab } })
    const BLOCK_MS = 60_000
    const running = pool.run({ i: 0, timeoutMs: BLOCK_MS }, { name: 'block' })
    await waitFor(() => c.started() === 1)
    const queued = [1, 2, 3].map((i) => pool.run(i))
    const outcomes = Promise.allSettled([running, ...queued])
    const start = Date.now()
    await pool.destroy()
    const results = await outcomes
    // Did not wait for the blocked task, which would end on its own only
    // after BLOCK_MS (and would then resolve, not reject).
    expect(Date.now() - start).toBeLessThan(BLOCK_MS)
    for (const r of results) {
      expect(r.status).toBe('rejected')
      expect(r.reason.code).toBe('ERR_SPINDLE_POOL_DESTROYED')
    }
    expect(pool.stats().threads).toBe(0)
    expect([1, 2, 3].map(c.ran)).toEqual([0, 0, 0])
  })

  test('run() after destroy rejects with ERR_SPINDLE_POOL_CLOSED', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1 })
    await pool.destroy()
    const err = await rejection(pool.run({ a: 1, b: 1 }))
    expect(err.code).toBe('ERR_SPINDLE_POOL_CLOSED')
  })

  test('tasks submitted in the same tick as destroy() are rejected too', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1 })
    const p = pool.run({ a: 1, b: 1 })
    const destroyed = pool.destroy()
    const err = await rejection(p)
    expect(err.code).toBe('ERR_SPINDLE_POOL_DESTROYED')
    await destroyed
  })
})

describe('Symbol.asyncDispose', () => {
  test('pool[Symbol.asyncDispose]() closes the pool after its tasks finish', async () => {
    const pool = makePool({ filename: worker('basic.js'), maxThreads: 1 })
    expect(typeof Symbol.asyncDispose).toBe('symbol')
    expect(typeof pool[Symbol.asyncDispose]).toBe('function')
    const task = pool.run(100, { name: 'sleep' })
    await pool[Symbol.asyncDispose]()
    await expect(task).resolves.toEqual(expect.any(Number))
    expect(pool.stats().threads).toBe(0)
    expect((await rejection(pool.run({ a: 1, b: 1 }))).code).toBe('ERR_SPINDLE_POOL_CLOSED')
  })

  test('`await using` (compiled by TypeScript) closes the pool at the end of the block', async () => {
    const ts = require('typescript')
    const source = `
      exports.main = async (Pool, filename) => {
        let escaped
        let value
        {
          await using pool = new Pool({ filename, maxThreads: 1 })
          escaped = pool
          value = await pool.run({ a: 20, b: 22 })
        }
        return { value, pool: escaped }
      }
    `
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS },
    })
    const mod = { exports: {} }
    new Function('exports', 'module', 'require', outputText)(mod.exports, mod, require) // eslint-disable-line no-new-func
    const { Pool } = require('../..')
    const { value, pool } = await mod.exports.main(Pool, worker('basic.js'))
    expect(value).toBe(42)
    expect(pool.stats().threads).toBe(0)
    expect((await rejection(pool.run({ a: 1, b: 1 }))).code).toBe('ERR_SPINDLE_POOL_CLOSED')
  })
})

describe('process endings (child processes)', () => {
  const HANG = 3_000 // ms: "promptly" means well under this (on a quiet machine; see support/timing.js)
  let dir
  let counter = 0

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-pool-lifecycle-'))
  })
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  /** Runs `source` in a fresh node process with `Pool`, `FIXTURES` and `print` in scope. */
  function runScript(source, { timeout = 30_000 } = {}) {
    const file = path.join(dir, `script-${++counter}.js`)
    fs.writeFileSync(file, `'use strict'
const { Pool } = require(${JSON.stringify(ROOT)})
const FIXTURES = ${JSON.stringify(path.join(ROOT, '__test__', 'support', 'fixtures', 'workers'))}
const print = (tag, value) => console.log(tag + ' ' + JSON.stringify(value))
${source}
`)
    const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout, killSignal: 'SIGKILL' })
    const endedAt = Date.now()
    if (r.error && r.error.code === 'ETIMEDOUT') {
      throw new Error(`script hung for ${timeout} ms\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    }
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, endedAt }
  }

  function line(stdout, tag) {
    const found = stdout.split('\n').find((l) => l.startsWith(`${tag} `))
    if (found === undefined) throw new Error(`no ${tag} line in:\n${stdout}`)
    return JSON.parse(found.slice(tag.length + 1))
  }

  function expectExit(r, code) {
    if (r.code !== code || r.signal !== null) {
      throw new Error(`exit code ${r.code}, signal ${r.signal}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    }
    expect(r.stderr).not.toMatch(/panicked|Segmentation|FATAL|napi_|Error/i)
  }

  test('an idle pool with no close() exits on its own, code 0, promptly after the last result', () => {
    const r = runScript(`
      const pool = new Pool({ filename: FIXTURES + '/basic.js', maxThreads: 2 })
      ;(async () => {
        const results = await Promise.all(Array.from({ length: 100 }, (_, i) => pool.run(i, { name: 'inc' })))
        print('OK', results.every((v, i) => v === i + 1))
        print('DONE', Date.now())
      })()
    `)
    expectExit(r, 0)
    expect(line(r.stdout, 'OK')).toBe(true)
    expect(r.endedAt - line(r.stdout, 'DONE')).toBeLessThan(hangBound(HANG))
  })

  test('a pool that never ran a task does not keep the process alive', () => {
    const r = runScript(`
      new Pool({ filename: FIXTURES + '/basic.js', maxThreads: 2 })
      print('DONE', Date.now())
    `)
    expectExit(r, 0)
    expect(r.endedAt - line(r.stdout, 'DONE')).toBeLessThan(hangBound(HANG))
  })

  test('an outstanding task keeps the process alive until its result arrives', () => {
    const r = runScript(`
      const pool = new Pool({ filename: FIXTURES + '/basic.js', maxThreads: 1 })
      pool.run(500, { name: 'sleep' }).then((id) => print('RESULT', typeof id))
    `)
    expectExit(r, 0)
    expect(line(r.stdout, 'RESULT')).toBe('number')
  })

  test('process.exit(3) while workers are parked exits with code 3, promptly', () => {
    const r = runScript(`
      const pool = new Pool({ filename: FIXTURES + '/basic.js', maxThreads: 2 })
      ;(async () => {
        await Promise.all([1, 2, 3, 4].map((x) => pool.run(x, { name: 'square' })))
        setTimeout(() => {
          print('EXIT', Date.now())
          process.exit(3)
        }, 200) // the workers have parked by now
      })()
    `)
    expectExit(r, 3)
    expect(r.endedAt - line(r.stdout, 'EXIT')).toBeLessThan(hangBound(HANG))
  })

  test('process.exit(4) while a task runs a long JavaScript loop exits with code 4, promptly', () => {
    const r = runScript(`
      const pool = new Pool({ filename: FIXTURES + '/basic.js', maxThreads: 1 })
      pool.run(20_000, { name: 'busy' }).catch(() => {})
      setTimeout(() => {
        print('EXIT', Date.now())
        process.exit(4)
      }, 300)
    `)
    expectExit(r, 4)
    expect(r.endedAt - line(r.stdout, 'EXIT')).toBeLessThan(hangBound(HANG))
  })

  test('a pool that is closed exits 0, promptly', () => {
    const r = runScript(`
      const pool = new Pool({ filename: FIXTURES + '/basic.js', maxThreads: 2 })
      ;(async () => {
        print('SUM', await pool.run({ a: 2, b: 3 }))
        await pool.close()
        print('DONE', Date.now())
      })()
    `)
    expectExit(r, 0)
    expect(line(r.stdout, 'SUM')).toBe(5)
    expect(r.endedAt - line(r.stdout, 'DONE')).toBeLessThan(hangBound(HANG))
  })

  test('a destroyed pool exits 0, promptly, with the pending task rejected', () => {
    const r = runScript(`
      const pool = new Pool({ filename: FIXTURES + '/basic.js', maxThreads: 1 })
      const pending = pool.run(60_000, { name: 'busy' }).catch((e) => e.code)
      ;(async () => {
        await new Promise((resolve) => setTimeout(resolve, 200))
        await pool.destroy()
        print('CODE', await pending)
        print('DONE', Date.now())
      })()
    `)
    expectExit(r, 0)
    expect(line(r.stdout, 'CODE')).toBe('ERR_SPINDLE_POOL_DESTROYED')
    expect(r.endedAt - line(r.stdout, 'DONE')).toBeLessThan(hangBound(HANG))
  })

  test('several pools, idle, exit on their own', () => {
    const r = runScript(`
      const pools = [1, 2, 3].map(() => new Pool({ filename: FIXTURES + '/basic.js', maxThreads: 2 }))
      ;(async () => {
        const sums = await Promise.all(pools.map((p, i) => p.run({ a: i, b: 1 })))
        print('SUMS', sums)
        print('DONE', Date.now())
      })()
    `)
    expectExit(r, 0)
    expect(line(r.stdout, 'SUMS')).toEqual([1, 2, 3])
    expect(r.endedAt - line(r.stdout, 'DONE')).toBeLessThan(hangBound(HANG))
  })
})
