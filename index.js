'use strict'
// spindle: the public entry. See index.d.ts for the documented API.

const kernels = require('./lib/kernels')
const { AbortError } = require('./lib/errors')

module.exports = {
  sort: kernels.sort,
  stats: kernels.stats,
  hash: kernels.hash,
  hashMany: kernels.hashMany,
  configure: kernels.configure,
  internals: kernels.internals,
  AbortError,
}
