'use strict'
// One serving machine: `REDIS_PORT=6379 node examples/remote-serve.js`.
// Start as many as you like, on as many machines as you like: they share the
// queue. Ctrl-C (or SIGTERM) stops taking jobs and finishes the running ones.
const { serve } = require('spindle/bullmq')

const connection = { host: process.env.REDIS_HOST || '127.0.0.1', port: Number(process.env.REDIS_PORT || 6379) }

async function main() {
  const server = await serve({
    queue: 'thumbnails',
    connection,
    filename: require.resolve('./thumbnail-task.js'),
    maxThreads: 2,
    worker: { lockDuration: 30_000 },
  })
  server.on('error', (err) => console.error(`[serve ${process.pid}] ${err.message}`))
  console.log(`[serve ${process.pid}] serving queue "thumbnails" with ${server.pool.stats().threads} threads`)

  const stop = async () => {
    await server.close()
    console.log(`[serve ${process.pid}] closed: ${server.pool.stats().completed} tasks ran here`)
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
