'use strict'
// Worker module for spindle.Pool, piscina and tinypool: the default export is
// the tiny task; named exports are chosen with `{ name }`.

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

module.exports = (x) => x + 1
module.exports.inc = (x) => x + 1
module.exports.fib = fib
module.exports.echo = (x) => x
