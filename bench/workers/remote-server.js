'use strict'
// A serving process of the remote bench group. argv[2]: JSON
// { kind, queue, connection, threads }:
//   spindle    serve() from spindle/bullmq, over bench/workers/task.js
//   spindle-prefetch  the same with worker.concurrency = 2 × threads
//   sandboxed  BullMQ's sandboxed processors, useWorkerThreads: true (bullmq-sandboxed.js)
//   piscina    a BullMQ Worker whose processor calls piscina (task.js)
// It samples its own main thread's event-loop delay (1 ms resolution):
// 'reset' starts a window, 'report' answers { worstMs, p99Ms, cpuMs, spin } for it
// (cpuMs: the whole serving process's CPU time, threads included; spin: a
// spindle server's pool.stats().spin, counted since the server started).
// 'close' closes it (answering 'closed'); it exits with its parent.
const path = require('node:path')
const { monitorEventLoopDelay } = require('node:perf_hooks')

const { kind, queue, connection, threads } = JSON.parse(process.argv[2])
const TASK = path.join(__dirname, 'task.js')
let stats = () => undefined // spindle's pool.stats().spin, for the report

async function start() {
  if (kind === 'spindle' || kind === 'spindle-prefetch') {
    const { serve } = require('../../bullmq')
    // spindle-prefetch: twice the pool's capacity in BullMQ slots, so each
    // thread has its next job at hand while a finished one goes back to Redis.
    const worker = kind === 'spindle-prefetch' ? { concurrency: 2 * threads } : undefined
    const server = await serve({ queue, connection, filename: TASK, minThreads: threads, maxThreads: threads, worker })
    stats = () => server.pool.stats().spin
    return () => server.close()
  }
  const { Worker } = require('bullmq')
  if (kind === 'sandboxed') {
    const worker = new Worker(queue, path.join(__dirname, 'bullmq-sandboxed.js'), { connection, concurrency: threads, useWorkerThreads: true })
    await worker.waitUntilReady()
    return () => worker.close()
  }
  if (kind === 'piscina') {
    const { Piscina } = require('piscina')
    const pool = new Piscina({ filename: TASK, minThreads: threads, maxThreads: threads })
    const worker = new Worker(queue, (job) => pool.run(job.data, { name: job.name === 'fib' ? 'fib' : 'inc' }), { connection, concurrency: threads })
    await worker.waitUntilReady()
    return async () => {
      await worker.close()
      await pool.destroy()
    }
  }
  throw new Error(`unknown kind ${kind}`)
}

start().then((close) => {
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  let cpu = process.cpuUsage()
  process.on('message', async (m) => {
    if (m === 'reset') {
      h.reset()
      cpu = process.cpuUsage()
      process.send('reset')
    } else if (m === 'report') {
      const d = (ns) => (h.count === 0 ? 0 : Math.max(0, ns / 1e6 - 1))
      const c = process.cpuUsage(cpu)
      process.send({ worstMs: d(h.max), p99Ms: d(h.percentile(99)), cpuMs: (c.user + c.system) / 1000, spin: stats() })
    } else if (m === 'close') {
      h.disable()
      await close()
      process.send('closed')
    }
  })
  process.send('ready')
}, (err) => {
  console.error(err)
  process.exit(1)
})
process.on('disconnect', () => process.exit(0))
