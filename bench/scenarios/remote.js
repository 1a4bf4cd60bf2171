'use strict'
// Remote scenarios (issue 14): jobs through BullMQ on a loopback redis-server
// (started for the group, on a free port, stopped after), served by separate
// processes (bench/workers/remote-server.js):
//   spindle    RemotePool → serve() (spindle/bullmq)
//   sandboxed  BullMQ's own sandboxed processors, useWorkerThreads: true
//   piscina    a BullMQ Worker whose processor calls piscina
// and a local spindle.Pool in this process (the floor: what the network costs).
// The anchors are submitted the plain BullMQ way: queue.addBulk for a burst
// (queue.add one at a time for the round trip) and one QueueEvents whose
// 'completed' events settle each job's promise.
//
// Every server and pool has the same threads in all (2, or
// SPINDLE_BENCH_THREADS): one process with all of them, or two processes with
// half each. Each row's "worst loop delay" is the serving processes' main
// thread (the worst of them), sampled only while that row's measured runs go
// on; for the local Pool, this process's main thread.

const path = require('node:path')
const { fork } = require('node:child_process')
const spindle = require('../..')
const h = require('../harness')

const T = h.THREADS
const W = path.join(__dirname, '..', 'workers')
const TASK_FILE = path.join(W, 'task.js')
const FIB_ARG = 27
const CPU_N = h.size(400, 60)
const TINY_N = h.size(2_000, 300)
const RT_N = h.size(300, 60)
const WARM_N = 40

let bullmq = null
const hasRemote = () => {
  try {
    require.resolve('bullmq')
    require.resolve('../../bullmq')
    return true
  } catch {
    return false
  }
}

// ------------------------------------------------------------------ redis

let redis = null
let queueSeq = 0

async function redisUp() {
  if (redis) return redis
  const { startRedis } = require('../../__test__/support/redis-server')
  redis = await startRedis()
  return redis
}

async function redisDown() {
  if (redis) await redis.stop()
  redis = null
}

// ---------------------------------------------------------------- servers

function startServer(config) {
  const child = fork(path.join(W, 'remote-server.js'), [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const ask = (msg, match) => new Promise((resolve) => {
    const on = (m) => {
      if (match(m)) {
        child.off('message', on)
        resolve(m)
      }
    }
    child.on('message', on)
    child.send(msg)
  })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${config.kind} server exited with ${code}`)))
    child.once('message', (m) => {
      if (m !== 'ready') return reject(new Error(`unexpected ${JSON.stringify(m)}`))
      resolve({
        reset: () => ask('reset', (m) => m === 'reset'),
        report: () => ask('report', (m) => m && typeof m.worstMs === 'number'),
        close: async () => {
          await ask('close', (m) => m === 'closed')
          child.kill()
        },
      })
    })
  })
}

/** `procs` serving processes of `kind` with T threads in all. */
async function startServers(kind, procs, queue) {
  const { connection } = await redisUp()
  const per = Math.max(1, Math.floor(T / procs))
  return Promise.all(Array.from({ length: procs }, () => startServer({ kind, queue, connection, threads: per })))
}

// ---------------------------------------------------------------- clients

/** RemotePool: spindle's client. */
function remoteClient(queue) {
  const { RemotePool } = require('../../bullmq')
  const remote = new RemotePool({ queue, connection: redis.connection })
  return {
    run: (x, name) => remote.run(x, name ? { name } : undefined),
    burst: (xs, name) => Promise.all(xs.map((x) => remote.run(x, name ? { name } : undefined))),
    close: () => remote.close(),
  }
}

/** Plain BullMQ: Queue + QueueEvents, one promise per job id. */
async function bullmqClient(queue) {
  bullmq ??= require('bullmq')
  const q = new bullmq.Queue(queue, { connection: redis.connection })
  const events = new bullmq.QueueEvents(queue, { connection: redis.connection })
  await events.waitUntilReady()
  // Start the stream read before the first job (QueueEvents reads from '$').
  await new Promise((resolve) => setTimeout(resolve, 50))
  const waiting = new Map()
  events.on('completed', ({ jobId, returnvalue }) => {
    const w = waiting.get(jobId)
    if (w) {
      waiting.delete(jobId)
      w.resolve(returnvalue)
    }
  })
  events.on('failed', ({ jobId, failedReason }) => {
    const w = waiting.get(jobId)
    if (w) {
      waiting.delete(jobId)
      w.reject(new Error(failedReason))
    }
  })
  let seq = 0
  const prefix = `b${process.pid}-`
  const wait = (id) => new Promise((resolve, reject) => waiting.set(id, { resolve, reject }))
  return {
    async run(x, name = 'inc') {
      const jobId = `${prefix}${++seq}`
      const p = wait(jobId)
      await q.add(name, x, { jobId })
      return p
    },
    async burst(xs, name = 'inc') {
      const jobs = xs.map((x) => ({ name, data: x, opts: { jobId: `${prefix}${++seq}` } }))
      const ps = jobs.map((j) => wait(j.opts.jobId))
      await q.addBulk(jobs)
      return Promise.all(ps)
    },
    close: async () => {
      await events.close()
      await q.close()
    },
  }
}

const IMPLS = {
  spindle: { label: 'spindle RemotePool → serve()', role: 'spindle', client: remoteClient },
  sandboxed: { label: 'BullMQ sandboxed processors (useWorkerThreads)', role: 'anchor', client: bullmqClient },
  piscina: { label: 'BullMQ Worker → piscina', role: 'anchor', client: bullmqClient },
  'spindle-prefetch': { label: 'spindle RemotePool → serve({ worker: { concurrency: 2 × threads } })', role: 'reference', client: remoteClient },
}

/**
 * Starts `procs` servers of `kind`, warms them up, measures `body(client)`
 * (h.measure: warm-up + REPS runs), and returns the row with the servers'
 * worst loop delay over the measured runs.
 */
async function remoteRow(kind, procs, body, rowExtra) {
  const impl = IMPLS[kind]
  const label = `${impl.label}, ${procs} process${procs > 1 ? 'es' : ''} × ${Math.max(1, Math.floor(T / procs))} thread${T / procs > 1 ? 's' : ''}`
  const queue = `bench-${kind}-${procs}-${++queueSeq}`
  const servers = await startServers(kind, procs, queue)
  const client = await impl.client(queue)
  try {
    await client.burst(Array.from({ length: WARM_N }, (_, i) => i))
    let worst = 0
    let p99 = 0
    let rep = -1
    const cpu = [] // serving processes' CPU ms per measured run
    const m = await h.measure((state) => body(client, state), {
      setup: async (i) => {
        rep = i
        await Promise.all(servers.map((s) => s.reset()))
      },
      teardown: async () => {
        const reports = await Promise.all(servers.map((s) => s.report()))
        if (rep < 0) return // the warm-up
        cpu.push(reports.reduce((sum, r) => sum + (r.cpuMs ?? 0), 0))
        for (const r of reports) {
          worst = Math.max(worst, r.worstMs)
          p99 = Math.max(p99, r.p99Ms)
        }
      },
      check: rowExtra.check,
    })
    return { label, impl, m, worst, p99, cpuMs: h.median(cpu) }
  } finally {
    await client.close()
    await Promise.all(servers.map((s) => s.close()))
  }
}

/** The same, for the local Pool (this process's loop delay is the row's own). */
async function localRow(body) {
  const pool = new spindle.Pool({ filename: TASK_FILE, minThreads: T, maxThreads: T })
  try {
    const client = {
      run: (x, name) => pool.run(x, name ? { name } : undefined),
      burst: (xs, name) => Promise.all(xs.map((x) => pool.run(x, name ? { name } : undefined))),
    }
    await client.burst(Array.from({ length: WARM_N }, (_, i) => i))
    const m = await h.measure(() => body(client))
    return h.row(`local spindle.Pool, ${T} threads (no Redis)`, 'reference', m)
  } finally {
    await pool.close()
  }
}

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

async function eachRemote(kinds, body, throughput, check) {
  const rows = []
  for (const [kind, procs] of kinds) {
    try {
      const r = await h.withTimeout(remoteRow(kind, procs, body, { check }), `${kind} × ${procs}`)
      // The harness measured each run's own loop delay (this process); the row
      // reports the serving processes' worst delay instead, over every run.
      const row = h.row(r.label, r.impl.role, { ...r.m, worstDelayMs: r.worst, p99DelayMs: r.p99 }, {
        throughput: throughput(r.m.wallMs),
        note: `serving processes' CPU time ${h.round(r.cpuMs, 0)} ms a run (median)`,
      })
      row.serverCpuMs = h.round(r.cpuMs, 1)
      row.procs = procs
      row.kind = kind
      row.submitterWorstDelayMs = h.round(r.m.worstDelayMs, 2)
      rows.push(row)
    } catch (err) {
      console.error(`  !! ${kind} × ${procs}:`, err)
      const row = h.skippedRow(`${IMPLS[kind].label}, ${procs} process(es)`, IMPLS[kind].role, `error: ${err && err.message ? err.message : err}`)
      row.procs = procs
      row.kind = kind
      rows.push(row)
    }
  }
  return rows
}

const find = (rows, kind, procs) => rows.find((r) => r.kind === kind && r.procs === procs && !r.skipped)

function target(row, text, evaluate) {
  if (!row) return
  let met
  try {
    met = evaluate()
  } catch {
    met = null
  }
  row.targets.push(h.target(text, met))
}

// --------------------------------------------------------------- scenarios

const BOTH = [1, 2]
const ALL_KINDS = [...BOTH.flatMap((procs) => ['spindle', 'sandboxed', 'piscina'].map((k) => [k, procs])), ['spindle-prefetch', 1]]

async function cpuBound() {
  const jobs = Array.from({ length: CPU_N }, () => FIB_ARG)
  const expected = fib(FIB_ARG)
  const tput = (ms) => ({ value: CPU_N / (ms / 1000), unit: 'jobs/s' })
  const body = (c) => c.burst(jobs, 'fib')
  const check = (res) => {
    if (res.length !== CPU_N || res.some((v) => v !== expected)) throw new Error('wrong fib results')
  }
  await redisUp()
  const rows = await eachRemote(ALL_KINDS, body, tput, check)
  const local = await localRow(body)
  local.throughput = tput(local.wallMs)
  rows.push(local)
  for (const procs of BOTH) {
    const s = find(rows, 'spindle', procs)
    if (!s) continue
    for (const r of rows) if (r !== s && r.procs === procs && !r.skipped) r.ratio = h.ratio(r.wallMs, s.wallMs)
    const sb = find(rows, 'sandboxed', procs)
    const pi = find(rows, 'piscina', procs)
    target(s, '≥ both BullMQ anchors (same processes)', () => s.wallMs <= sb.wallMs && s.wallMs <= pi.wallMs)
    target(s, 'within 15% of the local Pool', () => s.wallMs <= local.wallMs * 1.15)
    target(s, 'serving main thread worst delay < 10 ms (where the sandboxed anchor\'s is larger)',
      () => (sb.worstDelayMs > 10 ? s.worstDelayMs < 10 : s.worstDelayMs <= sb.worstDelayMs || s.worstDelayMs < 10))
  }
  const pre = find(rows, 'spindle-prefetch', 1)
  const s1 = find(rows, 'spindle', 1)
  if (pre && s1) {
    pre.ratio = h.ratio(pre.wallMs, s1.wallMs)
    pre.note = `not the default: BullMQ slots = 2 × the pool's capacity, so no thread waits for Redis between jobs; ${pre.note}`
    target(pre, 'within 15% of the local Pool', () => pre.wallMs <= local.wallMs * 1.15)
  }
  if (s1) local.ratio = h.ratio(local.wallMs, s1.wallMs)
  local.note = `the floor: the same ${CPU_N} jobs on a Pool in the submitting process; its worst loop delay is that process's`
  return {
    title: `remote CPU-bound: ${CPU_N} × fib(${FIB_ARG}) through Redis, ${T} threads in all`,
    params: { jobs: CPU_N, arg: FIB_ARG, threads: T },
    rows,
    showP99: true,
    chart: { key: 'wallMs', label: `wall time for ${CPU_N} fib(${FIB_ARG}) jobs, shorter is better` },
    notes: [
      'worst / p99 loop delay columns: the serving processes\' main thread (the worst of them), sampled during the measured runs only; for the local Pool, the submitting process.',
      'ratio: anchor wall ÷ spindle wall with the same number of serving processes; the local Pool row\'s ratio is against spindle with one process.',
    ],
  }
}

async function tiny() {
  const xs = Array.from({ length: TINY_N }, (_, i) => i)
  const tput = (ms) => ({ value: TINY_N / (ms / 1000), unit: 'jobs/s' })
  const body = (c) => c.burst(xs)
  const check = (res) => {
    if (res.length !== TINY_N || res[TINY_N - 1] !== TINY_N) throw new Error('wrong tiny results')
  }
  await redisUp()
  const kinds = [['spindle', 1], ['sandboxed', 1], ['piscina', 1]]
  const rows = await eachRemote(kinds, body, tput, check)
  const local = await localRow(body)
  local.throughput = tput(local.wallMs)
  rows.push(local)
  const s = find(rows, 'spindle', 1)
  if (s) for (const r of rows) if (r !== s && !r.skipped) r.ratio = h.ratio(r.wallMs, s.wallMs)
  const sb = find(rows, 'sandboxed', 1)
  target(s, '≥ BullMQ sandboxed processors', () => s.wallMs <= sb.wallMs)
  return {
    title: `remote tiny jobs: ${TINY_N.toLocaleString('en-US')} \`x => x + 1\` jobs in flight through Redis, one serving process × ${T} threads`,
    params: { jobs: TINY_N, threads: T },
    rows,
    showP99: true,
    chart: { key: 'throughput', label: 'jobs/s, longer is better' },
  }
}

async function roundTrip() {
  const usPer = (ms) => ({ value: (ms * 1000) / RT_N, unit: 'µs/job' })
  const body = async (c) => {
    let last
    for (let i = 0; i < RT_N; i++) last = await c.run(i)
    return last
  }
  const check = (last) => {
    if (last !== RT_N) throw new Error(`wrong round-trip result ${last}`)
  }
  await redisUp()
  const kinds = [['spindle', 1], ['sandboxed', 1], ['piscina', 1]]
  const rows = await eachRemote(kinds, body, usPer, check)
  const local = await localRow(body)
  local.throughput = usPer(local.wallMs)
  rows.push(local)
  const s = find(rows, 'spindle', 1)
  if (s) for (const r of rows) if (r !== s && !r.skipped) r.ratio = h.ratio(r.wallMs, s.wallMs)
  const sb = find(rows, 'sandboxed', 1)
  target(s, '≤ BullMQ sandboxed processors\' round trip', () => s.wallMs <= sb.wallMs)
  return {
    title: `remote round trip: one job awaited at a time, ${RT_N} sequential jobs through Redis`,
    params: { jobs: RT_N, threads: T },
    rows,
    showP99: true,
  }
}

async function withRedis(fn) {
  try {
    return await fn()
  } finally {
    await redisDown()
  }
}

module.exports = {
  group: 'remote',
  title: 'Remote: BullMQ and Redis (issue 14)',
  available: hasRemote,
  info: () => ({ threadsInAll: T, redis: 'loopback redis-server, no persistence' }),
  scenarios: [
    { id: 'remote-cpu', run: () => withRedis(cpuBound) },
    { id: 'remote-tiny', run: () => withRedis(tiny) },
    { id: 'remote-rt', run: () => withRedis(roundTrip) },
  ],
}
