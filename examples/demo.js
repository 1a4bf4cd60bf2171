'use strict'
// `npm run demo`: the seed's point made visible. A 10 ms ticker measures how
// late the event loop runs while work happens; first the work runs on the
// main thread, then on spindle.
const spindle = require('..')

const N = Number(process.env.DEMO_N || 10_000_000)

const { measure } = require('./lag')
const { reactorScenario } = require('./demo-reactor')

async function sortScenario() {
  console.log(`\nSorting ${N.toLocaleString()} random doubles (Float64Array):`)
  const data = new Float64Array(N).map(Math.random)
  const a = data.slice()
  const b = data.slice()
  const main = await measure('Float64Array.prototype.sort (main)', () => a.sort())
  const off = await measure('spindle.sort (off the main thread)', () => spindle.sort(b))
  const same = a.every((x, i) => Object.is(x, b[i]))
  console.log(`  same order: ${same}; spindle was ${(main.ms / off.ms).toFixed(1)}x faster and the loop ` +
    `lagged at worst ${off.lag.toFixed(1)} ms instead of ${main.lag.toFixed(0)} ms`)
}

async function poolScenario() {
  const path = require('node:path')
  const TASKS = 400
  console.log(`\nRunning ${TASKS} CPU-bound tasks, fib(25) each (your own JavaScript function):`)
  const fib = require('./fib-worker')
  const pool = new spindle.Pool({ filename: path.join(__dirname, 'fib-worker.js') })
  await pool.run(1)
  const main = await measure('a loop on the main thread', () => {
    for (let i = 0; i < TASKS; i++) fib(25)
  })
  const off = await measure(`spindle.Pool (${pool.stats().threads} worker threads)`, () =>
    Promise.all(Array.from({ length: TASKS }, () => pool.run(25))))
  console.log(`  the loop lagged at worst ${off.lag.toFixed(1)} ms instead of ${main.lag.toFixed(0)} ms; ` +
    `sum via a named export: ${await pool.run({ a: 4, b: 6 }, { name: 'add' })}`)
  await pool.close()
}

async function main() {
  console.log(`spindle demo — ${spindle.internals().threads} kernel threads`)
  await sortScenario()
  await poolScenario()
  await reactorScenario()
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
