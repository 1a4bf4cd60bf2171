'use strict'
// poolifier worker: a ThreadWorker with named task functions; the first one
// (`inc`) is the default of `pool.execute(data)`.
const { ThreadWorker } = require('poolifier')

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

module.exports = new ThreadWorker({
  inc: (x) => x + 1,
  fib,
  echo: (x) => x,
})
