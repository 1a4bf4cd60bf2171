'use strict'
// The seed's worker example on spindle: the main thread sends a message to a
// worker, the worker answers "Received: ...". Here the message is a task
// argument and the answer a progress message (ctx.postMessage) that arrives
// in `onMessage` before the task's promise settles.
const { isMainThread } = require('node:worker_threads')
const { Pool } = require('..')

if (isMainThread) {
  const pool = new Pool({ filename: __filename, maxThreads: 1 })
  pool
    .run('Hello, worker', { onMessage: (message) => console.log(message) })
    .then(() => pool.close())
} else {
  module.exports = (message, ctx) => {
    ctx.postMessage(`Received: ${message}`)
  }
}
