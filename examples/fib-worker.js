'use strict'
// A pool worker module: the default export runs each task.
function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}
module.exports = fib
module.exports.add = ({ a, b }) => a + b
