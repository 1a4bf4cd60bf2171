'use strict'
// The pool worker of the fuzz suite. The default export reports what the
// worker was started with (so an inherited Pool option that was honoured
// shows up in the result); the others make hostile values inside the worker.

const { VALUES, describeError, place, settle } = require('./place')

module.exports = function probe(x) {
  return {
    export: 'default',
    echoType: typeof x,
    execArgv: process.execArgv,
    argv: process.argv.slice(2),
    fuzzVar: process.env.FUZZ_VAR ?? null,
    workerData: require('../..').workerData ?? null,
  }
}

/** The export a polluted `name` would pick. */
module.exports.alt = () => ({ export: 'alt' })

/** Waits `ms` on a timer: a bystander task, running while another one fails. */
module.exports.nap = async (ms) => {
  await new Promise((resolve) => setTimeout(resolve, ms))
  return 'slept'
}

/** Returns a hostile value made here (uncloneable results, detached buffers...). */
module.exports.make = ({ value }) => {
  const ctx = { cleanups: [] }
  const v = VALUES[value].make(ctx)
  if (ctx.after) ctx.after()
  return v
}

/** Throws a hostile value made here. */
module.exports.throwValue = ({ value }) => {
  throw VALUES[value].make({ cleanups: [] })
}

/** Calls ctx.run / ctx.postMessage with a hostile value at `pos`; describes what happened. */
module.exports.nested = async ({ method, pos, value }, current) => {
  const ctx = { cleanups: [], validValue: undefined }
  const args = method === 'run' ? [{ n: 1 }, {}] : [{ n: 1 }]
  if (pos === '1.name') ctx.validValue = 'alt'
  place(args, pos, VALUES[value], ctx)
  let result
  try {
    const out = method === 'run' ? current.run(...args) : current.postMessage(...args)
    if (ctx.after) ctx.after()
    const s = await settle(out, 3000)
    result = s.outcome === 'rejected'
      ? { outcome: 'rejected', error: describeError(s.error) }
      : { outcome: s.outcome }
  } catch (err) {
    result = { outcome: 'threw', error: describeError(err) }
  }
  return result
}
