'use strict'
// Anywhere that submits work: `REDIS_PORT=6379 node examples/remote-submit.js`
// (with examples/remote-serve.js running somewhere on the same Redis).
const { RemotePool } = require('spindle/bullmq')
const { Queue, QueueEvents } = require('bullmq')

const connection = { host: process.env.REDIS_HOST || '127.0.0.1', port: Number(process.env.REDIS_PORT || 6379) }

async function main() {
  const remote = new RemotePool({ queue: 'thumbnails', connection })

  // 1. A Uint8Array inside an object, out and back: no JSON on the way.
  const w = 1024
  const h = 768
  const pixels = new Uint8Array(w * h).map((_, i) => (i % w) ^ Math.floor(i / w))
  const thumb = await remote.run({ image: { pixels, width: w, height: h }, width: 128 }, {
    name: 'resize',
    onMessage: (m) => console.log(`[submit] progress: row ${m.rows} of ${m.of}`),
  })
  console.log(`[submit] resized ${w}×${h} to ${thumb.width}×${thumb.height} (${thumb.pixels.constructor.name}) on process ${thumb.servedBy}`)

  // 2. A burst of CPU-bound tasks, spread over every serving thread.
  const t0 = performance.now()
  const fibs = await Promise.all(Array.from({ length: 40 }, () => remote.run(27, { name: 'fib' })))
  console.log(`[submit] 40 × fib(27) = ${fibs[0]} each, in ${(performance.now() - t0).toFixed(0)} ms`)

  // 3. Cancellation: the running task is stopped on the machine that runs it.
  const ac = new AbortController()
  try {
    await remote.run(60_000, { name: 'slow', signal: ac.signal, onMessage: () => ac.abort() })
  } catch (err) {
    console.log(`[submit] cancelled: ${err.name} (${err.code})`)
  }

  // 4. Errors keep their name, code and cause; job options go to BullMQ.
  try {
    await remote.run({ image: { pixels, width: w, height: h }, width: 0 }, { name: 'resize', job: { attempts: 2 } })
  } catch (err) {
    console.log(`[submit] a bad width, tried twice: ${err.name} [${err.code}]: ${err.message}`)
  }

  // 5. Plain BullMQ works too: the task gets the JSON data.
  const queue = new Queue('thumbnails', { connection })
  const events = new QueueEvents('thumbnails', { connection })
  await events.waitUntilReady()
  const job = await queue.add('fib', 20)
  console.log(`[submit] plain queue.add('fib', 20) → ${await job.waitUntilFinished(events)}`)
  await Promise.all([events.close(), queue.close(), remote.close()])
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
