// Workers that die and modules that cannot run: process.exit() in a task, an
// uncaught exception in a timer, out of memory under resourceLimits — each
// rejects only its own task with ERR_SPINDLE_WORKER_DIED and a message that
// says what happened; the worker is replaced and no queued task is lost. A
// module that fails to load rejects tasks with the load error and is not
// restarted forever; a missing export is a clear TypeError.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { ROOT, makePool, destroyAll, worker, waitFor, within, rejection, sleep } = require('../support/pool-helpers')
const { hangBound } = require('../support/timing')

let dir
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-pool-failure-'))
})
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})
afterEach(destroyAll)

const kind = (x) => Object.prototype.toString.call(x)

function writeModule(name, source) {
  const file = path.join(dir, name)
  fs.writeFileSync(file, source)
  return file
}

async function expectWorkerDied(promise, pattern) {
  const err = await within(rejection(promise), 30_000, 'the dying task')
  expect(kind(err)).toBe('[object Error]')
  expect(err.code).toBe('ERR_SPINDLE_WORKER_DIED')
  if (pattern) expect(err.message).toMatch(pattern)
  return err
}

describe('a worker that dies', () => {
  test('process.exit() in a task rejects only that task; the others complete; the pool recovers', async () => {
    const pool = makePool({ filename: worker('die.js'), maxThreads: 2 })
    const slow = pool.run({ ms: 300, x: 'slow' }, { name: 'slow' })
    const dying = pool.run(7, { name: 'exit' })
    const after = [1, 2, 3, 4, 5].map((x) => pool.run(x))
    await expectWorkerDied(dying, /exit/i)
    await expect(slow).resolves.toBe('slow')
    await expect(Promise.all(after)).resolves.toEqual([1, 2, 3, 4, 5])
    await waitFor(() => pool.stats().threads === 2, { what: 'the worker replaced' })
    await expect(Promise.all([6, 7].map((x) => pool.run(x)))).resolves.toEqual([6, 7])
  })

  test('the error says the worker exited, with its exit code', async () => {
    const pool = makePool({ filename: worker('die.js'), maxThreads: 1 })
    const err = await expectWorkerDied(pool.run(42, { name: 'exit' }))
    expect(err.message).toMatch(/exit/i)
    expect(err.message).toContain('42')
  })

  test('process.exit(0) in a task is still a failure of that task', async () => {
    const pool = makePool({ filename: worker('die.js'), maxThreads: 1 })
    await expectWorkerDied(pool.run(0, { name: 'exit' }))
    await expect(pool.run('next')).resolves.toBe('next')
  })

  test('on a single thread, every task queued behind the dying one still runs', async () => {
    const pool = makePool({ filename: worker('die.js'), maxThreads: 1 })
    const first = await pool.run(null, { name: 'threadId' })
    const dying = pool.run(1, { name: 'exit' })
    const queued = Array.from({ length: 1000 }, (_, i) => pool.run(i))
    await expectWorkerDied(dying)
    const results = await within(Promise.all(queued), 30_000, 'the queued tasks')
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    expect(await pool.run(null, { name: 'threadId' })).not.toBe(first)
    expect(pool.stats().threads).toBe(1)
  })

  test('several workers dying at once are all replaced and nothing queued is lost', async () => {
    const pool = makePool({ filename: worker('die.js'), maxThreads: 2 })
    const runs = []
    for (let round = 0; round < 5; round++) {
      runs.push(expectWorkerDied(pool.run(1, { name: 'exit' })))
      for (let i = 0; i < 50; i++) runs.push(pool.run(round * 100 + i))
    }
    const results = await within(Promise.all(runs), 60_000, 'all tasks')
    const values = results.filter((r) => typeof r === 'number')
    expect(values.length).toBe(250)
    await waitFor(() => pool.stats().threads === 2, { what: 'threads back to 2' })
    expect(pool.stats().failed).toBe(5)
  })

  test('an uncaught exception in a timer rejects the worker\'s task with that exception\'s message', async () => {
    const pool = makePool({ filename: worker('die.js'), maxThreads: 2 })
    const other = pool.run({ ms: 200, x: 'other' }, { name: 'slow' })
    const dying = pool.run(5, { name: 'timerThrow' })
    await expectWorkerDied(dying, /thrown from a timer/)
    await expect(other).resolves.toBe('other')
    await waitFor(() => pool.stats().threads === 2, { what: 'the worker replaced' })
    await expect(pool.run('after')).resolves.toBe('after')
  })

  test('out of memory under resourceLimits rejects with an error about memory; the pool recovers', async () => {
    const pool = makePool({
      filename: worker('die.js'),
      maxThreads: 2,
      resourceLimits: { maxOldGenerationSizeMb: 16 },
    })
    const other = pool.run({ ms: 200, x: 'other' }, { name: 'slow' })
    const dying = pool.run(null, { name: 'oom' })
    const queued = [1, 2, 3].map((x) => pool.run(x))
    await expectWorkerDied(dying, /memory/i)
    await expect(other).resolves.toBe('other')
    await expect(within(Promise.all(queued), 30_000, 'the queued tasks')).resolves.toEqual([1, 2, 3])
    await waitFor(() => pool.stats().threads === 2, { timeout: 30_000, what: 'the worker replaced' })
    await expect(pool.run('after')).resolves.toBe('after')
  }, 120_000)
})

describe('a module that fails to load', () => {
  /** Samples the pool's worker objects for `ms`: how many distinct ones were seen. */
  async function distinctWorkers(pool, ms) {
    const seen = new Set()
    const end = Date.now() + ms
    while (Date.now() < end) {
      for (const w of pool.threads) seen.add(w)
      await sleep(10)
    }
    return seen.size
  }

  test('throwing at top level: tasks reject with the load error', async () => {
    const pool = makePool({ filename: worker('load-throws.js'), maxThreads: 2 })
    const errs = await within(Promise.all([1, 2, 3].map((x) => rejection(pool.run(x)))), 10_000, 'the tasks')
    for (const err of errs) {
      expect(err.message).toBe('load failed on purpose')
      expect(err.code).toBe('E_LOAD')
      expect(err.stack).toContain('load-throws.js')
    }
    const later = await rejection(pool.run(4))
    expect(later.message).toBe('load failed on purpose')
  })

  test('throwing at top level: workers are not restarted forever, threads settle', async () => {
    const pool = makePool({ filename: worker('load-throws.js'), maxThreads: 2 })
    await rejection(pool.run(1))
    const distinct = await distinctWorkers(pool, 1_000)
    expect(distinct).toBeLessThanOrEqual(2)
    const a = pool.stats().threads
    await sleep(300)
    expect(pool.stats().threads).toBe(a)
    expect(a).toBeLessThanOrEqual(2)
  })

  test('a syntax error: tasks reject with a SyntaxError naming the file', async () => {
    const file = writeModule('syntax-error.js', 'module.exports = (x) => {\n  return x +\n}\n')
    const pool = makePool({ filename: file, maxThreads: 1 })
    const err = await within(rejection(pool.run(1)), 10_000, 'the task')
    expect(err.name).toBe('SyntaxError')
    expect(err.stack).toContain('syntax-error.js')
    expect(await distinctWorkers(pool, 500)).toBeLessThanOrEqual(1)
  })

  test('an ES module that throws at top level: tasks reject with its error', async () => {
    const file = writeModule('throws.mjs', "throw new TypeError('esm load failed')\nexport default () => 1\n")
    const pool = makePool({ filename: file, maxThreads: 1 })
    const err = await within(rejection(pool.run(1)), 10_000, 'the task')
    expect(err.name).toBe('TypeError')
    expect(err.message).toBe('esm load failed')
  })

  test('a module that requires a missing package: tasks reject with MODULE_NOT_FOUND', async () => {
    const file = writeModule('missing-dep.js', "require('./definitely-not-here')\nmodule.exports = () => 1\n")
    const pool = makePool({ filename: file, maxThreads: 1 })
    const err = await within(rejection(pool.run(1)), 10_000, 'the task')
    expect(err.code).toBe('MODULE_NOT_FOUND')
  })

  test('in a child process: tasks reject with the load error and the process exits on its own', () => {
    const script = writeModule('load-error-script.js', `
      const { Pool } = require(${JSON.stringify(ROOT)})
      const pool = new Pool({ filename: ${JSON.stringify(worker('load-throws.js'))}, maxThreads: 2 })
      pool.run(1).then(
        () => console.log('RESOLVED'),
        (err) => { console.log('REJECTED ' + err.message); console.log('DONE ' + Date.now()) },
      )
    `)
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' })
    const endedAt = Date.now()
    if (r.error) throw new Error(`child failed: ${r.error.message}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('REJECTED load failed on purpose')
    const done = Number(r.stdout.split('\n').find((l) => l.startsWith('DONE ')).slice(5))
    expect(endedAt - done).toBeLessThan(hangBound(3_000))
  })
})

describe('a module without the requested export', () => {
  test('no default function: a clear TypeError', async () => {
    const pool = makePool({ filename: worker('named-only.js'), maxThreads: 1 })
    const err = await rejection(pool.run(1))
    expect(err.name).toBe('TypeError')
    expect(err.message).toMatch(/default/)
    expect(err.message).toContain('named-only.js')
  })

  test('a missing named export: a clear TypeError naming it', async () => {
    const pool = makePool({ filename: worker('named-only.js'), maxThreads: 1 })
    const err = await rejection(pool.run(1, { name: 'missing' }))
    expect(err.name).toBe('TypeError')
    expect(err.message).toContain('"missing"')
  })

  test('an export that is not a function: a clear TypeError', async () => {
    const pool = makePool({ filename: worker('named-only.js'), maxThreads: 1 })
    const err = await rejection(pool.run(1, { name: 'notAFunction' }))
    expect(err.name).toBe('TypeError')
    expect(err.message).toContain('notAFunction')
  })

  test('the pool still runs the exports that exist, on the same threads', async () => {
    const pool = makePool({ filename: worker('named-only.js'), maxThreads: 1 })
    const before = pool.threads[0]
    await rejection(pool.run(1, { name: 'missing' }))
    await expect(pool.run(null, { name: 'one' })).resolves.toBe(1)
    expect(pool.threads[0]).toBe(before)
  })
})
