'use strict'
// Per-thread state visible to user code through `require('spindle')` inside
// a pool worker (for example `workerData`).
module.exports = { workerData: undefined, current: () => null }
