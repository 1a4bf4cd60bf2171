'use strict'
// The floor of JavaScript messaging: a bare worker_threads worker that answers
// every message with x + 1, no pool library in between.
const { parentPort } = require('node:worker_threads')

parentPort.on('message', (x) => parentPort.postMessage(x + 1))
