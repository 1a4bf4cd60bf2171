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
// Busy-waits `us` microseconds (the latency-distribution scenario's ~50 µs task).
module.exports.spin = (us) => {
  const end = performance.now() + us / 1000
  while (performance.now() < end);
  return us
}
