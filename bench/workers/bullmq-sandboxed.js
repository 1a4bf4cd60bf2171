'use strict'
// BullMQ sandboxed processor (the remote group's anchor: a Worker with
// useWorkerThreads: true runs this file on its worker threads).
const { fib } = require('./task')

module.exports = async (job) => (job.name === 'fib' ? fib(job.data) : job.data + 1)
