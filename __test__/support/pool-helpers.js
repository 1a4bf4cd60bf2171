'use strict'
// Shared by the pool specs: fixture paths, a registry of pools closed after
// each test, and small waiting helpers. (Not a spec: jest only runs *.test.js.)
const path = require('node:path')
const { Pool } = require('../..')

const ROOT = path.resolve(__dirname, '..', '..')
const WORKERS = path.join(__dirname, 'fixtures', 'workers')

/** The absolute path of a worker module in fixtures/workers. */
const worker = (file) => path.join(WORKERS, file)

const open = new Set()

/** A Pool that `destroyAll()` (run it in afterEach) destroys. */
function makePool(options) {
  const pool = new Pool(options)
  open.add(pool)
  return pool
}

async function destroyAll() {
  const pools = [...open]
  open.clear()
  await Promise.all(pools.map((p) => p.destroy().catch(() => {})))
}

/** Awaits `promise` and returns what it rejected with; fails if it resolved. */
async function rejection(promise) {
  let value
  try {
    value = await promise
  } catch (err) {
    return err
  }
  throw new Error(`expected a rejection, but it resolved with ${JSON.stringify(value)}`)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `predicate` until it is true; throws after `timeout` ms. */
async function waitFor(predicate, { timeout = 10_000, interval = 5, what = 'condition' } = {}) {
  const end = Date.now() + timeout
  for (;;) {
    if (predicate()) return
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await sleep(interval)
  }
}

/** Settles as `promise` does within `ms`, else rejects: a hang becomes a failure. */
function within(promise, ms, what = 'the operation') {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** A SharedArrayBuffer for fixtures/workers/control.js and a view of it. */
function control(slots = 64) {
  const sab = new SharedArrayBuffer(4 * (2 + slots))
  const view = new Int32Array(sab)
  return {
    sab,
    view,
    started: () => Atomics.load(view, 0),
    ran: (i) => Atomics.load(view, 2 + i),
    open() {
      Atomics.store(view, 1, 1)
      Atomics.notify(view, 1)
    },
  }
}

module.exports = { ROOT, WORKERS, worker, makePool, destroyAll, rejection, sleep, waitFor, within, control, Pool }
