'use strict'
// Pool scenarios (issue 3): spindle.Pool against piscina, tinypool, workerpool
// and poolifier, all with the same number of threads (2, or
// SPINDLE_BENCH_THREADS), plus a raw worker_threads postMessage echo as the
// floor of JavaScript messaging. Each pool is created, warmed up, measured and
// destroyed before the next one starts, so no two pools compete for the CPUs.
//
// If spindle.Pool is not implemented yet, its rows read "skipped: not
// implemented" and the anchors still run (their numbers are this machine's
// baseline).

const path = require('node:path')
const { Worker } = require('node:worker_threads')
const spindle = require('../..')
const h = require('../harness')

const T = h.THREADS
const W = path.join(__dirname, '..', 'workers')
const TASK_FILE = path.join(W, 'task.js')
const MiB = 1024 * 1024

const TINY_N = h.size(100_000, 10_000)
const RT_N = h.size(10_000, 1_000)
const FIB_N = h.size(2_000, 200)
const FIB_ARG = 25
const STEADY_RATE = 10_000 // tasks per second
const STEADY_MS = h.size(3_000, 750)
const IDLE_MS = h.size(5_000, 1_000)
const PAYLOAD = 16 * MiB
const PAYLOAD_ROUNDS = h.size(20, 4)

// fork–join: fib(FJ_N) split in two until n <= FJ_THRESHOLD; both sizes give
// 3,193 tasks on spindle (1,597 leaves), only the leaf work shrinks in quick mode.
const FJ_N = h.size(36, 32)
const FJ_THRESHOLD = h.size(21, 17)
// latency distribution: LAT_N tasks of LAT_US µs busy work submitted at LAT_RATE/s.
const LAT_N = h.size(20_000, 4_000)
const LAT_US = 50
const LAT_RATE = 10_000

const CLOSE_TIMEOUT_MS = 3_000
const NOT_IMPLEMENTED = 'skipped: not implemented'
const hasPool = () => typeof spindle.Pool === 'function'

function withDefined(obj) {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined))
}

// ------------------------------------------------------------------ adapters
// Each adapter: create() -> { run(x, name?, transferList?) -> Promise, stats?(), close() }

const ADAPTERS = [
  {
    impl: 'spindle.Pool',
    role: 'spindle',
    available: hasPool,
    async create({ filename = TASK_FILE, workerData, threads = T } = {}) {
      const pool = new spindle.Pool(withDefined({ filename, minThreads: threads, maxThreads: threads, workerData }))
      return {
        run: (x, name, transferList) => pool.run(x, withDefined({ name, transferList })),
        map: (items, options) => pool.map(items, options),
        stats: () => (typeof pool.stats === 'function' ? pool.stats() : undefined),
        close: async () => {
          if (process.env.BENCH_DEBUG) console.log(JSON.stringify(pool.stats().runTime), performance.eventLoopUtilization())
          if (typeof pool.close === 'function') await pool.close()
          else if (typeof pool.destroy === 'function') await pool.destroy()
        },
      }
    },
  },
  {
    impl: 'piscina',
    role: 'anchor',
    available: () => true,
    async create({ filename = TASK_FILE, workerData } = {}) {
      const { Piscina } = require('piscina')
      const pool = new Piscina(withDefined({ filename, minThreads: T, maxThreads: T, workerData }))
      return {
        run: (x, name, transferList) => pool.run(x, withDefined({ name, transferList })),
        close: () => pool.destroy(),
      }
    },
  },
  {
    impl: 'tinypool',
    role: 'anchor',
    available: () => true,
    async create({ filename = TASK_FILE } = {}) {
      const { Tinypool } = await import('tinypool')
      const pool = new Tinypool({ filename, minThreads: T, maxThreads: T })
      return {
        run: (x, name, transferList) => pool.run(x, withDefined({ name, transferList })),
        close: () => pool.destroy(),
      }
    },
  },
  {
    impl: 'workerpool',
    role: 'anchor',
    available: () => true,
    async create() {
      const workerpool = require('workerpool')
      const pool = workerpool.pool(path.join(W, 'workerpool.js'), { minWorkers: T, maxWorkers: T, workerType: 'thread' })
      return {
        run: (x, name, transferList) => pool.exec(name || 'inc', [x], transferList ? { transfer: transferList } : undefined),
        close: () => pool.terminate(),
      }
    },
  },
  {
    impl: 'poolifier',
    role: 'anchor',
    available: () => true,
    async create() {
      const { FixedThreadPool } = require('poolifier')
      const pool = new FixedThreadPool(T, path.join(W, 'poolifier.js'), { errorHandler: (e) => console.error(e) })
      return {
        run: (x, name, transferList) => pool.execute(x, name, undefined, transferList),
        close: () => pool.destroy(),
      }
    },
  },
]

const FOUR = ['piscina', 'tinypool', 'workerpool', 'poolifier']

/** Creates the pool, warms its threads up, runs `body(pool)`, always closes it. */
async function withPool(adapter, body, createOpts) {
  const pool = await adapter.create(createOpts)
  let result
  try {
    // Small arguments only: the fork-join module computes fib(i) by splitting.
    await Promise.all(Array.from({ length: 8 * T }, (_, i) => pool.run(i % 16)))
    result = await body(pool)
  } finally {
    // poolifier 5.3's destroy() sometimes never settles (and holds no handle, so
    // the process would just exit): give every close a bounded time.
    let timer
    const settled = await Promise.race([
      Promise.resolve(pool.close()).then(() => true),
      new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_TIMEOUT_MS, false)
      }),
    ])
    clearTimeout(timer)
    if (!settled) {
      console.error(`  !! ${adapter.impl}: close did not settle within ${CLOSE_TIMEOUT_MS} ms`)
      if (result && typeof result === 'object' && 'note' in result) {
        result.note = [result.note, `close/destroy did not settle within ${CLOSE_TIMEOUT_MS} ms`].filter(Boolean).join('; ')
      }
    }
  }
  return result
}

/** Runs `body` for each adapter; unimplemented ones become skipped rows. */
async function eachPool(body, { only, createOpts } = {}) {
  const rows = []
  for (const a of ADAPTERS) {
    if (only && !only.includes(a.impl)) continue
    if (!a.available()) {
      rows.push(h.skippedRow(a.impl, a.role, NOT_IMPLEMENTED))
      continue
    }
    try {
      const opts = typeof createOpts === 'function' ? createOpts(a) : createOpts
      rows.push(await h.withTimeout(withPool(a, (pool) => body(pool, a), opts), a.impl))
    } catch (err) {
      console.error(`  !! ${a.impl}:`, err)
      rows.push(h.skippedRow(a.impl, a.role, `error: ${err && err.message ? err.message : err}`))
    }
  }
  return rows
}

// ------------------------------------------------- raw worker_threads floor

/** `count` bare workers answering x + 1; `burst(n)` sends n messages round-robin and waits for n replies. */
async function rawEcho(count) {
  const workers = Array.from({ length: count }, () => new Worker(path.join(W, 'echo.js')))
  let onReply = () => {}
  for (const w of workers) w.on('message', (m) => onReply(m))
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('online', resolve))))
  return {
    burst(n) {
      return new Promise((resolve) => {
        let got = 0
        onReply = () => {
          if (++got === n) resolve(got)
        }
        for (let i = 0; i < n; i++) workers[i % count].postMessage(i)
      })
    },
    async pingPong(n) {
      let last = 0
      for (let i = 0; i < n; i++) {
        last = await new Promise((resolve) => {
          onReply = resolve
          workers[0].postMessage(i)
        })
      }
      return last
    },
    close: () => Promise.all(workers.map((w) => w.terminate())),
  }
}

// ----------------------------------------------------------------- targets

function spindleRow(rows) {
  return rows.find((r) => r.role === 'spindle')
}

/** Adds a target to `r`; not evaluated when spindle's row (or `r`) was skipped. */
function addTarget(r, text, evaluate, rows) {
  const s = spindleRow(rows)
  const ok = s && !s.skipped && !r.skipped
  r.targets.push(h.target(text, ok ? evaluate() : null))
}

// --------------------------------------------------------------- scenarios

async function tinyThroughput({ contended = false } = {}) {
  const tps = (ms) => ({ value: TINY_N / (ms / 1000), unit: 'tasks/s' })
  const burst = async (pool, impl) => h.measure(
    () => {
      const ps = new Array(TINY_N)
      for (let i = 0; i < TINY_N; i++) ps[i] = pool.run(i)
      return Promise.all(ps)
    },
    {
      check: (res) => {
        if (res.length !== TINY_N || res[TINY_N - 1] !== TINY_N) throw new Error(`${impl}: wrong results`)
      },
    },
  )
  const rows = await eachPool(async (pool, a) => {
    const m = await burst(pool, a.impl)
    const stats = pool.stats ? pool.stats() : undefined
    const note = stats ? ['completed', 'stolen', 'failed'].filter((k) => k in stats).map((k) => `${k} ${stats[k]}`).join(', ') : ''
    return h.row(a.impl, a.role, m, { throughput: tps(m.wallMs), poolStats: stats, note: note && `pool.stats(): ${note}` })
  })
  // The same burst on one thread (issue 15: adding a thread must not cost
  // throughput; the main thread is the limit of a tiny task).
  let one = null
  if (!contended && T > 1 && hasPool()) {
    const spindleAdapter = ADAPTERS.find((a) => a.role === 'spindle')
    one = await h.withTimeout(withPool(spindleAdapter, async (pool) => {
      const m = await burst(pool, 'spindle.Pool (1 thread)')
      return h.row('spindle.Pool, 1 thread', 'reference', m, { throughput: tps(m.wallMs), noRatio: true, note: 'the same burst on one worker thread' })
    }, { threads: 1 }), 'spindle.Pool, 1 thread')
    rows.push(one)
  }
  const echo = await rawEcho(T)
  try {
    const m = await h.measure(() => echo.burst(TINY_N))
    rows.push(h.row(`raw worker_threads postMessage echo (${T} workers)`, 'reference', m, { throughput: tps(m.wallMs), note: 'floor of JS messaging, no pool' }))
  } finally {
    await echo.close()
  }
  h.fillRatios(rows, 'spindle.Pool')
  const s = spindleRow(rows)
  const anchors = rows.filter((r) => FOUR.includes(r.impl) && !r.skipped)
  const best = anchors.reduce((b, r) => (!b || r.wallMs < b.wallMs ? r : b), null)
  if (!contended) addTarget(s, `≥ 2× the best of the four${best ? ` (${best.impl})` : ''}`, () => best.wallMs / s.wallMs >= 2, rows)
  const echoRow = rows.find((r) => r.role === 'reference' && r.impl.startsWith('raw worker_threads'))
  if (!contended && echoRow) addTarget(s, '≥ the raw postMessage echo floor', () => s.wallMs <= echoRow.wallMs, rows)
  if (one) addTarget(s, `${T} threads ≥ 1 thread`, () => s.wallMs <= one.wallMs, rows)
  const pis = rows.find((r) => r.impl === 'piscina')
  addTarget(pis, 'spindle ≥ 5×', () => pis.ratio >= 5, rows)
  return {
    title: `${contended ? 'contended ' : ''}tiny-task throughput: ${TINY_N.toLocaleString('en-US')} \`x => x + 1\` tasks in flight, ${T} threads${contended ? busyNote() : ''}`,
    params: { tasks: TINY_N, threads: T },
    rows,
    chart: { key: 'wallMs', label: `wall time for ${TINY_N.toLocaleString('en-US')} tasks, shorter is better` },
  }
}

// ------------------------------------------------------------- pool.map()

const MAP_N = h.size(1_000_000, 100_000)
const MAP_PEER_N = h.size(100_000, 10_000)

/**
 * Many tiny items in one call: spindle's pool.map() over MAP_N items, beside
 * the same per-item work as Promise.all of run() calls (spindle and each
 * peer, none of which has a map) on MAP_PEER_N items. Compared as items/s
 * (the sizes differ: a million run() calls on piscina alone take a minute).
 */
async function mapMany() {
  const rate = (n, ms) => ({ value: n / (ms / 1000), unit: 'items/s' })
  const items = Array.from({ length: MAP_N }, (_, i) => i)
  const peerItems = items.slice(0, MAP_PEER_N)
  const rows = []
  const spindleAdapter = ADAPTERS.find((a) => a.impl === 'spindle.Pool')
  rows.push(await h.withTimeout(withPool(spindleAdapter, async (pool) => {
    const m = await h.measure(() => pool.map(items), {
      check: (res) => {
        if (res.length !== MAP_N || res[MAP_N - 1] !== MAP_N) throw new Error('spindle map: wrong results')
      },
    })
    return h.row('spindle.Pool map()', 'spindle', m, {
      throughput: rate(MAP_N, m.wallMs),
      note: `${MAP_N.toLocaleString('en-US')} items, chunk size chosen from measured time`,
    })
  }), 'spindle.Pool map()'))
  const viaRun = await eachPool(async (pool, a) => {
    const m = await h.measure(() => Promise.all(peerItems.map((x) => pool.run(x))), {
      check: (res) => {
        if (res.length !== MAP_PEER_N || res[MAP_PEER_N - 1] !== MAP_PEER_N) throw new Error(`${a.impl}: wrong results`)
      },
    })
    return h.row(`${a.impl}: Promise.all of run()`, a.role === 'spindle' ? 'reference' : a.role, m, {
      throughput: rate(MAP_PEER_N, m.wallMs),
      note: `${MAP_PEER_N.toLocaleString('en-US')} items`,
    })
  })
  rows.push(...viaRun)
  const s = rows[0]
  for (const r of rows) {
    if (r === s || r.skipped || !r.throughput || !s.throughput) continue
    r.ratio = s.throughput.value / r.throughput.value
  }
  addTarget(s, '≥ 3,000,000 items/s', () => s.throughput.value >= 3e6, rows)
  return {
    title: `many tiny items in one call: pool.map() over ${MAP_N.toLocaleString('en-US')} \`x => x + 1\` items, ${T} threads`,
    params: { items: MAP_N, peerItems: MAP_PEER_N, threads: T },
    rows,
    chart: { key: 'wallMs', label: 'wall time (sizes differ: see each row), shorter is better' },
  }
}

const RT_BLOCK = 2_000

async function roundTrip({ contended = false } = {}) {
  const usPer = (ms) => ({ value: (ms * 1000) / RT_N, unit: 'µs/task' })
  // The anchors' round trip is bimodal on a VM: ~15–30 µs while both threads
  // happen to share a vCPU (no cross-CPU wake), ~70–90 µs otherwise, and the
  // mode flips every few thousand tasks. So the target is judged on the whole
  // run, and each row also shows its fastest block of RT_BLOCK tasks.
  const fastest = (blocks) => `fastest ${RT_BLOCK.toLocaleString('en-US')}-task block ${h.round(Math.min(...blocks), 1)} µs/task`
  const rows = await eachPool(async (pool, a) => {
    let blocks = []
    const m = await h.measure(async () => {
      let last
      let t = performance.now()
      for (let i = 0; i < RT_N; i++) {
        last = await pool.run(i)
        if ((i + 1) % RT_BLOCK === 0) {
          const now = performance.now()
          blocks.push(((now - t) * 1000) / RT_BLOCK)
          t = now
        }
      }
      return last
    }, {
      check: (last) => {
        if (last !== RT_N) throw new Error(`${a.impl}: wrong result ${last}`)
      },
      setup: (rep) => {
        if (rep === 0) blocks = [] // blocks of every measured rep, not the warm-up
      },
    })
    return h.row(a.impl, a.role, m, { throughput: usPer(m.wallMs), note: fastest(blocks), poolStats: pool.stats ? pool.stats() : undefined })
  })
  const echo = await rawEcho(1)
  try {
    const m = await h.measure(() => echo.pingPong(RT_N))
    rows.push(h.row('raw worker_threads postMessage ping-pong', 'reference', m, { throughput: usPer(m.wallMs), note: 'floor of JS messaging, no pool' }))
  } finally {
    await echo.close()
  }
  h.fillRatios(rows, 'spindle.Pool')
  const pis = rows.find((r) => r.impl === 'piscina')
  if (contended) {
    const s = spindleRow(rows)
    const peers = rows.filter((r) => FOUR.includes(r.impl) && !r.skipped)
    const best = peers.reduce((b, r) => (!b || r.wallMs < b.wallMs ? r : b), null)
    addTarget(s, `≤ the best peer's round trip${best ? ` (${best.impl})` : ''}`, () => s.wallMs <= best.wallMs, rows)
    if (s && !s.skipped && s.poolStats) s.note += `; spin: ${JSON.stringify(s.poolStats.spin)}`
  } else {
    addTarget(pis, "spindle ≤ 0.4× piscina's time", () => pis.ratio >= 2.5, rows)
  }
  return {
    title: `${contended ? 'contended ' : ''}round trip: one task awaited at a time, ${RT_N.toLocaleString('en-US')} sequential tasks${contended ? busyNote() : ''}`,
    params: { tasks: RT_N, threads: T },
    rows,
  }
}

// ------------------------------------------------------------ contended
// Issue 15 §2: a busy machine. One process per core but one spins a CPU-bound
// loop for the whole scenario (started before the pools, stopped after), so
// every pool shares the machine with someone who wants a whole core.

const BUSY_PROCS = Math.max(1, h.machine().availableParallelism - 1)

function busyNote() {
  return `, beside ${BUSY_PROCS} busy process${BUSY_PROCS > 1 ? 'es' : ''} (one per core but one)`
}

async function withBusyProcesses(fn) {
  const { spawn } = require('node:child_process')
  const busy = Array.from({ length: BUSY_PROCS }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
  try {
    await new Promise((resolve) => setTimeout(resolve, 200))
    return await fn()
  } finally {
    await Promise.all(busy.map((child) => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', resolve)
      child.kill('SIGKILL')
    })))
  }
}

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

async function cpuBound() {
  const single = await h.measure(() => {
    let acc = 0
    for (let i = 0; i < FIB_N; i++) acc += fib(FIB_ARG)
    return acc
  })
  // The same loop in a bare worker thread, running the pools' own module:
  // the speed of one isolate's optimized fib varies by ±10% from process to
  // process, so the ideal uses the faster of the two single-thread times.
  const singleWorker = await fibInBareWorkers(1)
  const best = Math.min(single.wallMs, singleWorker.wallMs)
  const ideal = best / T
  const bare = await fibInBareWorkers(T)
  const rows = await eachPool(async (pool, a) => {
    const m = await h.measure(() => Promise.all(Array.from({ length: FIB_N }, () => pool.run(FIB_ARG, 'fib'))), {
      check: (res) => {
        if (res[0] !== fib(FIB_ARG)) throw new Error(`${a.impl}: wrong fib`)
      },
    })
    return h.row(a.impl, a.role, m, {
      throughput: { value: m.wallMs / ideal, unit: '× ideal' },
    })
  })
  rows.push(
    h.row('single thread (main), no pool', 'reference', single, {
      throughput: { value: (single.wallMs / best) * T, unit: '× ideal' },
      note: `ideal for ${T} threads = ${h.round(ideal, 1)} ms (the faster single-thread row ÷ ${T})`,
    }),
    h.row('single thread (one bare worker), no pool', 'reference', singleWorker, {
      throughput: { value: (singleWorker.wallMs / best) * T, unit: '× ideal' },
      note: 'same loop over the pools\' worker module, in a worker_threads Worker',
    }),
    h.row(`${T} bare workers, each ${FIB_N / T} × fib(${FIB_ARG}), no pool`, 'reference', bare, {
      throughput: { value: bare.wallMs / ideal, unit: '× ideal' },
      note: 'the floor on this machine: the same work split in advance, one message per thread',
    }),
  )
  h.fillRatios(rows, 'spindle.Pool')
  const s = spindleRow(rows)
  addTarget(s, `wall ≤ 1.1 × single ÷ ${T} (${h.round(ideal * 1.1, 1)} ms)`, () => s.wallMs <= 1.1 * ideal, rows)
  return {
    title: `CPU-bound: ${FIB_N.toLocaleString('en-US')} × fib(${FIB_ARG}), ${T} threads`,
    params: { tasks: FIB_N, arg: FIB_ARG, threads: T, singleThreadMs: h.round(single.wallMs, 1), singleWorkerMs: h.round(singleWorker.wallMs, 1), idealMs: h.round(ideal, 1) },
    rows,
    notes: ['throughput column: wall time ÷ (the faster single-thread time ÷ threads); 1.00 is perfect scaling.'],
  }
}

/**
 * FIB_N × fib(FIB_ARG) split evenly over `count` bare worker threads started
 * at once (warm-up, then REPS timed runs, wall time from the main thread):
 * count 1 is the single-thread reference, count T the floor with no pool.
 */
async function fibInBareWorkers(count) {
  const src = `
    const { parentPort } = require('node:worker_threads')
    const { fib } = require(${JSON.stringify(TASK_FILE)})
    parentPort.on('message', (n) => {
      let acc = 0
      for (let i = 0; i < n; i++) acc += fib(${FIB_ARG})
      parentPort.postMessage(acc)
    })`
  const workers = Array.from({ length: count }, () => new Worker(src, { eval: true }))
  const once = (w, n) => new Promise((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
    w.postMessage(n)
  })
  const all = async () => {
    const t0 = performance.now()
    await Promise.all(workers.map((w, i) => once(w, Math.floor(FIB_N / count) + (i < FIB_N % count ? 1 : 0))))
    return performance.now() - t0
  }
  try {
    await all()
    const runs = []
    for (let i = 0; i < h.REPS; i++) runs.push(await all())
    runs.sort((a, b) => a - b)
    return { wallMs: runs[Math.floor(runs.length / 2)], worstDelayMs: 0, p99DelayMs: 0, runs: runs.map((ms) => ({ wallMs: h.round(ms, 3) })) }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

/** Submits tasks at STEADY_RATE for STEADY_MS; resolves when all are done. */
function steadyStream(pool) {
  const total = Math.round((STEADY_RATE * STEADY_MS) / 1000)
  return new Promise((resolve, reject) => {
    let submitted = 0
    let done = 0
    const t0 = performance.now()
    const onDone = () => {
      if (++done === total) resolve(done)
    }
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * STEADY_RATE) / 1000))
      while (submitted < due) pool.run(submitted++).then(onDone, reject)
      if (submitted >= total) clearInterval(timer)
    }
    const timer = setInterval(tick, 1)
  })
}

async function steadyLoopDelay() {
  const total = Math.round((STEADY_RATE * STEADY_MS) / 1000)
  const rows = await eachPool(async (pool, a) => {
    const m = await h.measure(() => steadyStream(pool), { reps: 1, warmup: false })
    return h.row(a.impl, a.role, m, { throughput: { value: total / (m.wallMs / 1000), unit: 'tasks/s' } })
  })
  const s = spindleRow(rows)
  addTarget(s, 'p99 loop delay < 1 ms', () => s.p99DelayMs < 1, rows)
  return {
    title: `main loop delay under a steady stream: ${STEADY_RATE.toLocaleString('en-US')} tasks/s for ${STEADY_MS / 1000} s`,
    params: { rate: STEADY_RATE, ms: STEADY_MS, threads: T },
    rows,
    chart: { key: 'p99DelayMs', unit: 'ms p99', label: 'p99 event-loop delay, shorter is better' },
    notes: ['one measured run per pool (fixed-duration run after the pool warm-up); throughput column: achieved rate.'],
  }
}

async function idleCpu() {
  const measureIdle = async () => {
    await h.sleep(200)
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await h.sleep(IDLE_MS)
    const d = process.cpuUsage(c0)
    const ms = performance.now() - t0
    const pct = ((d.user + d.system) / 1000 / ms) * 100
    return h.row('', '', { wallMs: ms }, { throughput: { value: pct, unit: '% of a core' } })
  }
  const rows = []
  const base = await measureIdle()
  rows.push(Object.assign(base, { impl: 'no pool (process baseline)', role: 'reference' }))
  rows.push(
    ...(await eachPool(async (pool, a) => Object.assign(await measureIdle(), { impl: a.impl, role: a.role }), {
      only: ['spindle.Pool', 'piscina'],
    })),
  )
  const s = spindleRow(rows)
  addTarget(s, 'idle pool < 1% of a core', () => s.throughput.value < 1, rows)
  return {
    title: `idle pool CPU use over ${IDLE_MS / 1000} s (process.cpuUsage, whole process)`,
    params: { ms: IDLE_MS, threads: T },
    rows,
    chart: { key: 'throughput', label: '% of one core while idle, shorter is better' },
    notes: ['wall column: the idle window; no loop sampler runs during it (it would add CPU).'],
  }
}

async function payload() {
  const fresh = () => {
    const b = new Uint8Array(PAYLOAD)
    b.fill(7)
    return b
  }
  // One reference copy: allocate and copy 16 MiB on the main thread.
  const src = fresh()
  const memcpy = await h.measure(() => {
    let last
    for (let i = 0; i < PAYLOAD_ROUNDS; i++) last = new Uint8Array(src)
    return last.length
  })
  const copyMs = memcpy.wallMs / PAYLOAD_ROUNDS

  const variant = (label, adapter, opts) => async () => {
    if (!adapter.available()) return h.skippedRow(label, adapter.role, NOT_IMPLEMENTED)
    try {
      return await h.withTimeout(measureVariant(label, adapter, opts), label)
    } catch (err) {
      console.error(`  !! ${label}:`, err)
      return h.skippedRow(label, adapter.role, `error: ${err && err.message ? err.message : err}`)
    }
  }
  const measureVariant = (label, adapter, { transfer, filename }) =>
    withPool(
      adapter,
      async (pool) => {
        const copied = () => pool.stats?.()?.bytesCopied
        const before = copied()
        let rounds = 0
        const m = await h.measure(
          async (bufs) => {
            let last
            for (const b of bufs) {
              last = await pool.run(b, filename ? undefined : 'echo', transfer ? [b.buffer] : undefined)
              rounds++
            }
            return last
          },
          {
            setup: () => Array.from({ length: PAYLOAD_ROUNDS }, fresh),
            check: (last) => {
              if (!ArrayBuffer.isView(last) || last.byteLength !== PAYLOAD || last[PAYLOAD - 1] !== 7) throw new Error(`${label}: bad echo`)
            },
          },
        )
        const per = {
          wallMs: m.wallMs / PAYLOAD_ROUNDS,
          worstDelayMs: m.worstDelayMs,
          p99DelayMs: m.p99DelayMs,
          runs: m.runs,
        }
        const after = copied()
        // spindle counts the bytes it copies; for the others only time tells.
        const counted = typeof before === 'number' ? (after - before) / (2 * PAYLOAD * rounds) : null
        const row = h.row(label, adapter.role, per, {
          throughput: { value: ((2 * PAYLOAD) / MiB) / (per.wallMs / 1000), unit: 'MiB/s both ways' },
          note: (counted === null ? '' : `${h.round(counted, 2)} copies per direction (counted); `) +
            `≈ ${(per.wallMs / copyMs).toFixed(1)} memcpy-equivalents per round trip (time)`,
        })
        row.copiesPerDirection = counted
        return row
      },
      filename ? { filename } : undefined,
    )
  const sp = ADAPTERS.find((a) => a.impl === 'spindle.Pool')
  const pi = ADAPTERS.find((a) => a.impl === 'piscina')
  const rows = []
  rows.push(await variant('spindle.Pool (structured clone)', sp, {})())
  rows.push(await variant('spindle.Pool (transferList in)', sp, { transfer: true })())
  rows.push(await variant('piscina (structured clone)', pi, {})())
  rows.push(await variant('piscina (transferList in, move back)', pi, { transfer: true, filename: path.join(W, 'piscina-move.js') })())
  rows.push(
    h.row('one 16 MiB allocate + copy (main thread)', 'reference', { wallMs: copyMs, worstDelayMs: memcpy.worstDelayMs }, {
      note: 'the unit of the memcpy-equivalents estimate',
      noRatio: true,
    }),
  )
  // Like with like: each piscina variant against the same spindle variant.
  rows[2].ratio = rows[0].skipped || rows[2].skipped ? null : h.ratio(rows[2].wallMs, rows[0].wallMs)
  rows[3].ratio = rows[1].skipped || rows[3].skipped ? null : h.ratio(rows[3].wallMs, rows[1].wallMs)
  const s = rows[0]
  addTarget(s, 'at most one copy per direction (counted)', () => s.copiesPerDirection !== null && s.copiesPerDirection <= 1, rows)
  return {
    title: `16 MiB Uint8Array round trip (${PAYLOAD_ROUNDS} sequential, time per round trip)`,
    params: { bytes: PAYLOAD, rounds: PAYLOAD_ROUNDS, threads: T, copyMs: h.round(copyMs, 3) },
    rows,
    notes: [
      'wall column: ms per round trip (median run ÷ rounds); ratios compare like with like: piscina (structured clone) against spindle.Pool (structured clone), piscina (transferList) against spindle.Pool (transferList in).',
      "spindle's copies are counted (pool.stats().bytesCopied: every byte it copies out of one thread's memory; the receiver wraps that memory without a copy). The memcpy-equivalents are time ÷ one allocate+copy of 16 MiB on this machine, for every row: they include allocation, page faults, freeing and the wake, not only copies.",
    ],
  }
}

// -------------------------------------------------------------- fork–join

const MAIN_SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`

/**
 * CPU time the main thread (only it: the task whose tid is the pid) has spent
 * on a CPU, in ms, from the first field of Linux's schedstat (ns); null where
 * the file is missing.
 */
function mainThreadCpuMs() {
  try {
    return Number(require('node:fs').readFileSync(MAIN_SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6
  } catch {
    return null
  }
}

/** Tasks (all nodes) and leaves of fib(n) split until n <= t. */
function splitCounts(n, t) {
  if (n <= t) return { tasks: 1, leaves: 1 }
  const a = splitCounts(n - 1, t)
  const b = splitCounts(n - 2, t)
  return { tasks: 1 + a.tasks + b.tasks, leaves: a.leaves + b.leaves }
}

/**
 * Runs `fn` under h.measure and records, per call, the main thread's CPU time
 * and event-loop-utilization active time; returns the medians over the
 * measured calls (the warm-up call is dropped).
 */
async function measureMainThread(fn, opts) {
  const per = []
  const m = await h.measure(async (state) => {
    const c0 = mainThreadCpuMs()
    const e0 = performance.eventLoopUtilization()
    const value = await fn(state)
    const e = performance.eventLoopUtilization(e0)
    const c1 = mainThreadCpuMs()
    per.push({ cpuMs: c0 === null ? NaN : c1 - c0, eluActiveMs: e.active, elu: e.utilization })
    return value
  }, opts)
  const measured = opts && opts.warmup === false ? per : per.slice(1)
  return {
    m,
    cpuMs: h.median(measured.map((p) => p.cpuMs)),
    eluActiveMs: h.median(measured.map((p) => p.eluActiveMs)),
    elu: h.median(measured.map((p) => p.elu)),
  }
}

const fmtLat = (l) => (l ? `p50 ${h.round(l.p50, 0)}, p90 ${h.round(l.p90, 0)}, p99 ${h.round(l.p99, 0)}, max ${h.round(l.max, 0)} µs (n ${l.count})` : 'n/a')

async function forkJoin() {
  const expected = fib(FJ_N)
  const { tasks, leaves } = splitCounts(FJ_N, FJ_THRESHOLD)
  const mainCol = (x) => ({ value: x.cpuMs, unit: 'ms main-thread CPU' })
  const eluNote = (x) => `main thread: ${h.round(x.cpuMs, 1)} ms on CPU, ELU active ${h.round(x.eluActiveMs, 1)} ms (utilization ${h.round(x.elu * 100, 1)}% of the run)`

  const seq = await measureMainThread(() => fib(FJ_N), {
    check: (v) => {
      if (v !== expected) throw new Error(`sequential fib(${FJ_N}) = ${v}`)
    },
  })

  // piscina workers cannot submit tasks: the main thread does the splitting and
  // sends every leaf through pool.run (all leaves are submitted at once).
  const viaMain = (pool, n) =>
    n <= FJ_THRESHOLD ? pool.run(n, 'fib') : Promise.all([viaMain(pool, n - 1), viaMain(pool, n - 2)]).then(([a, b]) => a + b)

  const rows = await eachPool(
    async (pool, a) => {
      const isSpindle = a.impl === 'spindle.Pool'
      const x = await measureMainThread(() => (isSpindle ? pool.run(FJ_N) : viaMain(pool, FJ_N)), {
        check: (v) => {
          if (v !== expected) throw new Error(`${a.impl}: fork–join fib(${FJ_N}) = ${v}, expected ${expected}`)
        },
      })
      const notes = [eluNote(x)]
      let poolStats
      if (isSpindle) {
        poolStats = pool.stats()
        notes.push(
          `${tasks.toLocaleString('en-US')} tasks via ctx.run per run; pool.stats() over the pool's life: stolen ${poolStats.stolen} (per worker ${poolStats.stolenByWorker.join('/')}), waitTime ${fmtLat(poolStats.waitTime)}, runTime ${fmtLat(poolStats.runTime)}`,
        )
      } else {
        notes.push(`${leaves.toLocaleString('en-US')} leaf tasks per run, split on the main thread`)
      }
      return h.row(a.impl, a.role, x.m, { throughput: mainCol(x), note: notes.join('; '), poolStats, mainThread: { cpuMs: h.round(x.cpuMs, 3), eluActiveMs: h.round(x.eluActiveMs, 3), elu: h.round(x.elu, 4) } })
    },
    {
      only: ['spindle.Pool', 'piscina'],
      createOpts: (a) => (a.impl === 'spindle.Pool' ? { filename: path.join(W, 'forkjoin.js'), workerData: { threshold: FJ_THRESHOLD } } : undefined),
    },
  )
  rows.push(
    h.row(`sequential fib(${FJ_N}) on the main thread`, 'reference', seq.m, {
      throughput: mainCol(seq),
      note: `${eluNote(seq)}; ideal for ${T} threads = ${h.round(seq.m.wallMs / T, 1)} ms`,
      mainThread: { cpuMs: h.round(seq.cpuMs, 3), eluActiveMs: h.round(seq.eluActiveMs, 3), elu: h.round(seq.elu, 4) },
    }),
  )
  h.fillRatios(rows, 'spindle.Pool')
  return {
    title: `fork–join: fib(${FJ_N}) split in two down to n ≤ ${FJ_THRESHOLD} (${tasks.toLocaleString('en-US')} tasks, ${leaves.toLocaleString('en-US')} leaves), ${T} threads`,
    params: { n: FJ_N, threshold: FJ_THRESHOLD, tasks, leaves, threads: T, expected },
    rows,
    chart: { key: 'wallMs', label: 'wall time, shorter is better' },
    notes: [
      `spindle.Pool: the whole recursion runs in the workers (bench/workers/forkjoin.js): each task above the threshold forks both halves with \`ctx.run\` onto its worker's own deque and awaits them; idle workers steal. piscina: workers cannot submit tasks, so the main thread splits and sends each of the ${leaves.toLocaleString('en-US')} leaves through \`pool.run(n, { name: 'fib' })\` (all at once), adding the halves as results come back.`,
      `throughput column: the main thread's own CPU time during the run (median over runs), read from the first field of \`/proc/self/task/<pid>/schedstat\` (ns on a CPU, main thread only; \`process.cpuUsage()\` would include the worker threads). Notes add \`performance.eventLoopUtilization()\` active time over the run (time the loop was not waiting for I/O, which also counts time the thread was runnable but descheduled).`,
      `every result is checked against fib(${FJ_N}) = ${expected.toLocaleString('en-US')} computed sequentially; ratio: piscina or sequential wall ÷ spindle wall.`,
    ],
  }
}

// ------------------------------------------------- latency distribution

/** Percentile (0..1) of a sorted array, nearest rank. */
function pct(sorted, q) {
  if (!sorted.length) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** Summary and a CDF curve (x = "nines", -log10(1 - q)) of latencies in ms, reported in µs. */
function latencySummary(latMs) {
  const s = Float64Array.from(latMs, (x) => x * 1000).sort()
  const n = s.length
  const maxNines = Math.log10(n) // the last point (q = 1 - 1/n) is drawn at the max
  const curve = []
  const POINTS = 160
  for (let i = 0; i <= POINTS; i++) {
    const x = (i / POINTS) * maxNines
    const q = 1 - 10 ** -x
    curve.push([h.round(x, 4), h.round(i === POINTS ? s[n - 1] : pct(s, q), 1)])
  }
  return {
    unit: 'µs',
    count: n,
    min: h.round(s[0], 1),
    p50: h.round(pct(s, 0.5), 1),
    p90: h.round(pct(s, 0.9), 1),
    p99: h.round(pct(s, 0.99), 1),
    p999: h.round(pct(s, 0.999), 1),
    max: h.round(s[n - 1], 1),
    mean: h.round(s.reduce((a, b) => a + b, 0) / n, 1),
    curve,
  }
}

/** Submits LAT_N spin tasks at LAT_RATE from a 1 ms timer; resolves to each task's run()→settle time in ms. */
function latencyStream(pool) {
  const lat = new Float64Array(LAT_N)
  return new Promise((resolve, reject) => {
    let submitted = 0
    let done = 0
    const t0 = performance.now()
    const tick = () => {
      const due = Math.min(LAT_N, Math.floor(((performance.now() - t0) * LAT_RATE) / 1000))
      while (submitted < due) {
        const i = submitted++
        const start = performance.now()
        pool.run(LAT_US, 'spin').then(
          (r) => {
            lat[i] = performance.now() - start
            if (r !== LAT_US) reject(new Error(`spin returned ${r}`))
            else if (++done === LAT_N) resolve(lat)
          },
          reject,
        )
      }
      if (submitted >= LAT_N) clearInterval(timer)
    }
    const timer = setInterval(tick, 1)
  })
}

async function latencyDistribution() {
  const rows = await eachPool(
    async (pool, a) => {
      let lat
      const m = await h.measure(() => latencyStream(pool), {
        reps: 1,
        warmup: false,
        check: (v) => {
          lat = v
        },
      })
      const l = latencySummary(lat)
      const notes = [`task latency (run() → settle, main thread): p50 ${l.p50}, p90 ${l.p90}, p99 ${l.p99}, p99.9 ${l.p999}, max ${l.max} µs`]
      let poolStats
      if (typeof pool.stats === 'function' && pool.stats()) {
        poolStats = pool.stats()
        notes.push(`pool.stats() (whole pool life, incl. ${8 * T} warm-up tasks): waitTime ${fmtLat(poolStats.waitTime)}; runTime ${fmtLat(poolStats.runTime)}; utilization ${h.round(poolStats.utilization * 100, 1)}%; stolen ${poolStats.stolen}`)
      }
      return h.row(a.impl, a.role, m, {
        throughput: { value: l.p99, unit: 'µs p99 task latency' },
        latency: l,
        poolStats,
        note: notes.join('; '),
      })
    },
    { only: ['spindle.Pool', 'piscina'] },
  )
  const s = spindleRow(rows)
  for (const r of rows) {
    if (r === s || r.skipped || !s || s.skipped) continue
    r.ratio = h.ratio(r.latency.p99, s.latency.p99)
  }
  return {
    title: `task latency distribution: ${LAT_N.toLocaleString('en-US')} tasks of ~${LAT_US} µs busy work at ${LAT_RATE.toLocaleString('en-US')} tasks/s, ${T} threads`,
    params: { tasks: LAT_N, taskUs: LAT_US, rate: LAT_RATE, threads: T },
    rows,
    latencyChart: true,
    chart: { key: 'throughput', label: 'p99 task latency (run() → settle), shorter is better' },
    notes: [
      `each task busy-waits ${LAT_US} µs in the worker (task.js \`spin\`); a 1 ms timer submits what is due at ${LAT_RATE.toLocaleString('en-US')}/s (≈ ${LAT_RATE / 1000} tasks per tick, so later tasks of a tick queue behind earlier ones); latency = performance.now() at the promise's settle callback minus just before run(), on the main thread. One measured run per pool, after the usual ${8 * T}-task pool warm-up.`,
      'ratio column here: piscina p99 latency ÷ spindle p99 latency. Wall column: the stream\'s duration (fixed by the rate). Distribution chart: results/latency.svg.',
    ],
  }
}

module.exports = {
  group: 'pool',
  title: 'Pool (issue 3)',
  available: hasPool,
  info: () => ({ poolThreads: T }),
  scenarios: [
    { id: 'tiny-throughput', run: () => tinyThroughput() },
    { id: 'map-1m', run: mapMany },
    { id: 'round-trip', run: () => roundTrip() },
    { id: 'contended-round-trip', run: () => withBusyProcesses(() => roundTrip({ contended: true })) },
    { id: 'contended-tiny', run: () => withBusyProcesses(() => tinyThroughput({ contended: true })) },
    { id: 'cpu-bound', run: cpuBound },
    { id: 'steady-p99', run: steadyLoopDelay },
    { id: 'idle-cpu', run: idleCpu },
    { id: 'payload-16mib', run: payload },
    { id: 'fork-join', run: forkJoin },
    { id: 'latency-dist', run: latencyDistribution },
  ],
}
