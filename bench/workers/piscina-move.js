'use strict'
// piscina worker that transfers its result back instead of cloning it
// (the "with transferList" variant of the 16 MiB payload round trip).
const { move } = require('piscina')

module.exports = (x) => move(x)
