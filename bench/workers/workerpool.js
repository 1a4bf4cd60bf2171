'use strict'
// workerpool worker: methods are called by name with `pool.exec(name, [arg])`.
const workerpool = require('workerpool')

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

workerpool.worker({
  inc: (x) => x + 1,
  fib,
  echo: (x) => x,
})
