// Process and worker lifecycles, each in a real child process: natural exit
// with no close call, staying alive while work is outstanding,
// process.exit() with work in flight, the addon in several worker threads,
// and a worker terminated while its kernels run.
//
// The only timing assertions are generous "did not hang" bounds, scaled to
// how busy the machine is (support/timing.js).
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..')
const { hangBound } = require('../support/timing')

const HANG = 5_000 // ms: "exits promptly" means well under this (on a quiet machine; see support/timing.js)
let dir
let counter = 0

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-lifecycle-'))
})
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

/**
 * Runs `source` as a script file in a fresh node process; `spindle` is in
 * scope. Resolves with the exit code, signal, output and the time it exited.
 */
function run(source, { timeout = 90_000, env = {} } = {}) {
  const file = path.join(dir, `script-${++counter}.js`)
  fs.writeFileSync(file, `'use strict'\nconst spindle = require(${JSON.stringify(ROOT)})\n${source}\n`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let exitedAt = 0
    let killed = false
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      killed = true
      child.kill('SIGKILL')
    }, timeout)
    child.on('error', reject)
    child.on('exit', () => (exitedAt = Date.now()))
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (killed) reject(new Error(`script hung for ${timeout} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
      else resolve({ code, signal, stdout, stderr, exitedAt })
    })
  })
}

/** The value printed on a line `TAG <json>` by the child. */
function line(stdout, tag) {
  const found = stdout.split('\n').find((l) => l.startsWith(`${tag} `))
  if (found === undefined) throw new Error(`no ${tag} line in:\n${stdout}`)
  return JSON.parse(found.slice(tag.length + 1))
}

function expectClean(r, code = 0, { panicked = false } = {}) {
  if (r.code !== code || r.signal !== null) {
    throw new Error(`exit code ${r.code}, signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  }
  // The deliberate test panic prints Rust's panic message; nothing else may.
  const stderr = panicked ? r.stderr.replace(/^thread .* panicked at .*$/gm, '') : r.stderr
  expect(stderr).not.toMatch(/panicked|Segmentation|Abort|FATAL|napi_/i)
}

// Shared by the scripts: a checked sort, hash and stats.
const HELPERS = `
const crypto = require('node:crypto')
function doubles(n, seed) {
  const a = new Float64Array(n)
  let s = seed
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; a[i] = s / 2147483648 - 0.5 }
  return a
}
function isSorted(a) {
  for (let i = 1; i < a.length; i++) if (a[i - 1] > a[i]) return false
  return true
}
async function checkedWork(seed) {
  const a = doubles(200000 + seed, seed)
  await spindle.sort(a)
  const buf = Buffer.from(a.buffer)
  const digest = await spindle.hash(buf, 'sha256')
  const s = await spindle.stats(Int32Array.from([seed, 2, 3]))
  return isSorted(a) && digest === crypto.createHash('sha256').update(buf).digest('hex') &&
    s.sum === seed + 5
}
`

describe('natural exit', () => {
  test('exits with code 0, promptly, after its kernels complete, with no close call', async () => {
    const r = await run(`${HELPERS}
      ;(async () => {
        const oks = await Promise.all([1, 2, 3].map(checkedWork))
        const many = await spindle.hashMany(Array.from({ length: 100 }, (_, i) => 'x' + i), 'blake3')
        console.log('OK ' + JSON.stringify(oks.every(Boolean) && many.length === 100))
        console.log('INTERNALS ' + JSON.stringify(spindle.internals()))
        console.log('DONE ' + Date.now())
      })()
    `)
    expectClean(r)
    expect(line(r.stdout, 'OK')).toBe(true)
    const internals = line(r.stdout, 'INTERNALS')
    expect(internals.outstanding).toBe(0)
    expect(internals.inflight).toBe(0)
    expect(r.exitedAt - line(r.stdout, 'DONE')).toBeLessThan(hangBound(HANG))
  })

  test('a process that loads spindle and never calls it exits at once', async () => {
    const r = await run(`console.log('DONE ' + Date.now())`)
    expectClean(r)
    expect(r.exitedAt - line(r.stdout, 'DONE')).toBeLessThan(hangBound(HANG))
  })

  test('exits after kernels that were aborted, and after a panic', async () => {
    const r = await run(`
      const ac = new AbortController()
      const big = new Float64Array(1 << 22).map(Math.random)
      const p = spindle.sort(big, { signal: ac.signal })
      setTimeout(() => ac.abort(), 5)
      const panic = require(${JSON.stringify(path.join(ROOT, 'lib/kernels'))}).triggerPanic()
      Promise.allSettled([p, panic]).then((s) => {
        console.log('CODES ' + JSON.stringify(s.map((x) => x.reason && x.reason.code)))
        console.log('DONE ' + Date.now())
      })
    `)
    expectClean(r, 0, { panicked: true })
    expect(line(r.stdout, 'CODES')).toEqual(['ABORT_ERR', 'ERR_SPINDLE_PANIC'])
    expect(r.exitedAt - line(r.stdout, 'DONE')).toBeLessThan(hangBound(HANG))
  })
})

describe('outstanding work keeps the process alive', () => {
  test('a kernel with nothing else holding the loop still delivers its result', async () => {
    // No timers, no I/O: only the outstanding sort keeps this process alive.
    const r = await run(`${HELPERS}
      const a = doubles(1 << 22, 5)
      spindle.sort(a).then((res) => console.log('SORTED ' + JSON.stringify(res === a && isSorted(a))))
    `)
    expectClean(r)
    expect(line(r.stdout, 'SORTED')).toBe(true)
  })

  test('a chain of kernels, each started from the previous result (0 -> 1 -> 0 -> 1 outstanding)', async () => {
    const r = await run(`${HELPERS}
      let n = 0
      function step() {
        spindle.hash(Buffer.alloc(1 << 20, n), 'sha512').then((d) => {
          if (d.length !== 128) throw new Error('bad digest')
          if (++n < 20) step()
          else console.log('STEPS ' + n)
        })
      }
      step()
    `)
    expectClean(r)
    expect(line(r.stdout, 'STEPS')).toBe(20)
  })

  test('SPINDLE_THREADS sizes the kernel pool; unset or invalid, the available parallelism', async () => {
    const source = `console.log('THREADS ' + JSON.stringify([spindle.internals().threads,
      require('node:os').availableParallelism()]))`
    const cases = [['3', 3], ['1', 1], ['0', null], ['many', null], ['', null]]
    for (const [value, expected] of cases) {
      const r = await run(source, { env: { SPINDLE_THREADS: value } })
      expectClean(r)
      const [threads, available] = line(r.stdout, 'THREADS')
      expect(threads).toBe(expected ?? available)
    }
    const env = { ...process.env }
    delete env.SPINDLE_THREADS
    const file = path.join(dir, 'threads.js')
    fs.writeFileSync(file, `const spindle = require(${JSON.stringify(ROOT)})\n${source}\n`)
    const out = require('node:child_process').execFileSync(process.execPath, [file], { env, encoding: 'utf8' })
    const [threads, available] = line(out, 'THREADS')
    expect(threads).toBe(available)
  })
})

describe('process.exit() with work in flight', () => {
  test.each([
    ['a big sort running', `
      const a = new Float64Array(1 << 24).map(Math.random)
      spindle.sort(a).then(() => console.log('SORT FINISHED'))
      setTimeout(() => { console.log('EXITING ' + Date.now()); process.exit(7) }, 20)
    `],
    ['a big sort and a queue of kernels behind it', `
      spindle.configure({ threads: 1 })
      const a = new Float64Array(1 << 24).map(Math.random)
      spindle.sort(a)
      const buf = Buffer.alloc(64 << 20, 1)
      for (let i = 0; i < 50; i++) spindle.hash(buf, 'sha256')
      setTimeout(() => { console.log('EXITING ' + Date.now()); process.exit(7) }, 20)
    `],
    ['process.exit() in the same tick as the call', `
      spindle.sort(new Float64Array(1 << 24).map(Math.random))
      console.log('EXITING ' + Date.now())
      process.exit(7)
    `],
  ])('%s: exits with the given code, no crash', async (_, source) => {
    const r = await run(source)
    expectClean(r, 7)
    expect(r.stdout).not.toContain('SORT FINISHED')
    expect(r.exitedAt - line(r.stdout, 'EXITING')).toBeLessThan(hangBound(HANG))
  })

  test('an uncaught exception with a sort in flight exits with code 1, no crash', async () => {
    const r = await run(`
      spindle.sort(new Float64Array(1 << 24).map(Math.random))
      setTimeout(() => { throw new Error('boom') }, 20)
    `)
    expect(r.code).toBe(1)
    expect(r.signal).toBeNull()
    expect(r.stderr).toContain('boom')
    expect(r.stderr).not.toMatch(/panicked|Segmentation|FATAL/)
  })
})

describe('worker threads', () => {
  test('4 workers load the addon concurrently, each with its own completion queue', async () => {
    const r = await run(`${HELPERS}
      const { Worker } = require('node:worker_threads')
      const workerSource = ${JSON.stringify(`
        const { parentPort, workerData } = require('node:worker_threads')
        const spindle = require(${JSON.stringify(ROOT)})
        ;(async () => {
          const before = spindle.internals()
          const n = 10 + workerData.index * 5
          const a = Float64Array.from({ length: 50000 }, (_, i) => ((i * 7919) % 50021) - workerData.index)
          const expected = a.slice().sort()
          const results = await Promise.all(Array.from({ length: n }, (_, i) =>
            i === 0 ? spindle.sort(a) : spindle.hash('w' + workerData.index + ':' + i, 'sha256')))
          const crypto = require('node:crypto')
          let ok = results[0] === a && Buffer.from(a.buffer).equals(Buffer.from(expected.buffer))
          for (let i = 1; i < n; i++) {
            ok = ok && results[i] === crypto.createHash('sha256').update('w' + workerData.index + ':' + i).digest('hex')
          }
          const burst = await Promise.all(Array.from({ length: 5000 }, (_, i) => spindle.stats(Int8Array.of(i & 63))))
          ok = ok && burst.every((s, i) => s.sum === (i & 63))
          const after = spindle.internals()
          parentPort.postMessage({ ok, n, completions: after.completions - before.completions,
            total: after.completions, burstWakes: after.wakes - before.wakes, outstanding: after.outstanding })
        })()
      `)}
      const mainBefore = spindle.internals().completions
      const workers = [0, 1, 2, 3].map((index) => new Worker(workerSource, { eval: true, workerData: { index } }))
      const messages = workers.map((w) => new Promise((resolve, reject) => {
        w.once('message', resolve)
        w.once('error', reject)
      }))
      const exits = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)))
      ;(async () => {
        // The main thread works at the same time.
        const mainOk = (await Promise.all([1, 2, 3].map(checkedWork))).every(Boolean)
        const mainCompletions = spindle.internals().completions - mainBefore
        const results = await Promise.all(messages)
        // Each worker exits on its own once idle: nothing holds its loop.
        const codes = await Promise.all(exits)
        console.log('RESULT ' + JSON.stringify({ mainOk, mainCompletions, results, codes }))
      })()
    `)
    expectClean(r)
    const { mainOk, mainCompletions, results, codes } = line(r.stdout, 'RESULT')
    expect(mainOk).toBe(true)
    expect(mainCompletions).toBe(9) // 3 x (sort, hash, stats): none of the workers'
    expect(codes).toEqual([0, 0, 0, 0])
    results.forEach((w, index) => {
      expect(w.ok).toBe(true)
      expect(w.n).toBe(10 + index * 5)
      // Only its own completions: its n kernels and its 5000 stats.
      expect(w.completions).toBe(w.n + 5000)
      expect(w.total).toBe(w.n + 5000)
      expect(w.burstWakes).toBeLessThan(w.completions / 10)
      expect(w.outstanding).toBe(0)
    })
  })

  test('workers terminated while their kernels run or wait: no crash, the main thread is undisturbed', async () => {
    const r = await run(`${HELPERS}
      const { Worker } = require('node:worker_threads')
      const workerSource = ${JSON.stringify(`
        const { parentPort, workerData } = require('node:worker_threads')
        const spindle = require(${JSON.stringify(ROOT)})
        const a = new Float64Array(1 << 24).map(Math.random)
        const buf = Buffer.alloc(128 << 20, 3)
        spindle.sort(a).then(() => parentPort.postMessage('sort finished'))
        spindle.hash(buf, 'sha512').then(() => parentPort.postMessage('hash finished'))
        spindle.hashMany([buf, buf], 'sha256')
        for (let i = 0; i < 100; i++) spindle.stats(a)
        parentPort.postMessage('started')
        // Keep the worker busy in JavaScript too.
        const until = Date.now() + workerData.spin
        while (Date.now() < until);
      `)}
      async function terminateAfter(delay, spin) {
        const w = new Worker(workerSource, { eval: true, workerData: { spin } })
        const seen = []
        w.on('message', (m) => seen.push(m))
        await new Promise((resolve) => w.once('message', resolve))
        await new Promise((resolve) => setTimeout(resolve, delay))
        const code = await w.terminate()
        return { code, seen }
      }
      ;(async () => {
        const before = await checkedWork(7)
        const terminations = []
        for (const [delay, spin] of [[0, 0], [30, 0], [150, 0], [0, 100]]) {
          // Main-thread kernels run while each worker is torn down.
          const [t, ok] = await Promise.all([terminateAfter(delay, spin), checkedWork(delay + 1)])
          terminations.push({ ...t, ok })
        }
        // Several at once.
        const many = await Promise.all([0, 10, 20, 40].map((d) => terminateAfter(d, 0)))
        const after = await Promise.all([11, 12, 13].map(checkedWork))
        const internals = spindle.internals()
        console.log('RESULT ' + JSON.stringify({ before, terminations, many: many.map((m) => m.code), after, internals }))
        console.log('DONE ' + Date.now())
      })()
    `, { timeout: 180_000 })
    expectClean(r)
    const { before, terminations, many, after, internals } = line(r.stdout, 'RESULT')
    expect(before).toBe(true)
    for (const t of terminations) {
      expect(t.code).toBe(1) // terminate() resolves with exit code 1
      expect(t.ok).toBe(true)
      expect(t.seen).not.toContain('sort finished')
    }
    expect(many).toEqual([1, 1, 1, 1])
    expect(after).toEqual([true, true, true])
    expect(internals.outstanding).toBe(0)
    expect(internals.inflight).toBe(0)
    expect(r.exitedAt - line(r.stdout, 'DONE')).toBeLessThan(hangBound(HANG))
  })
})
