'use strict'
// spindle/bullmq: the same Pool, served on many machines through BullMQ and
// Redis. See bullmq.d.ts for the documented API. `bullmq` is a peer
// dependency of this entry only: require('spindle') never loads it.
module.exports = require('./lib/bullmq')
