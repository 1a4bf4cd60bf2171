'use strict'
// spindle.Pool worker for the fork–join scenario: fib(n) split into subtasks
// with `ctx.run` (both children forked onto this worker's own deque, idle
// workers steal them) until n <= workerData.threshold, where it runs fib(n)
// in place. The piscina side of the scenario uses task.js's `fib` for the
// leaves and does the splitting on the main thread.
const { workerData } = require('../..')

const THRESHOLD = workerData && Number.isInteger(workerData.threshold) ? workerData.threshold : 20

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

module.exports = async function fibSplit(n, ctx) {
  if (n <= THRESHOLD) return fib(n)
  const [a, b] = await Promise.all([ctx.run(n - 1), ctx.run(n - 2)])
  return a + b
}
