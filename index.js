'use strict'
// spindle: the public entry. See index.d.ts for the documented API.

const kernels = require('./lib/kernels')
const { AbortError } = require('./lib/errors')
const { Pool } = require('./lib/pool')
const workerState = require('./lib/pool/worker-state')
// Reactor: child processes spawned on spindle's reactor thread.
const { spawn, ChildProcess } = require('./lib/spawn')
const { exec } = require('./lib/spawn/exec')

module.exports = {
  sort: kernels.sort,
  stats: kernels.stats,
  hash: kernels.hash,
  hashMany: kernels.hashMany,
  configure: kernels.configure,
  internals: kernels.internals,
  AbortError,
  Pool,
}

/** Inside a pool worker: the `workerData` given to the Pool's constructor. */
Object.defineProperty(module.exports, 'workerData', {
  enumerable: true,
  get: () => workerState.workerData,
})

/**
 * Inside a pool task: its context (`postMessage`, `run` for subtasks), the
 * same object the task function gets as its second argument; else null.
 */
Object.defineProperty(module.exports, 'current', {
  enumerable: true,
  get: () => workerState.current(),
})

module.exports.spawn = spawn
module.exports.exec = exec
module.exports.ChildProcess = ChildProcess
