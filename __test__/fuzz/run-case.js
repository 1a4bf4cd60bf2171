'use strict'
// Runs ONE fuzz case in this process and prints one line:
//   FUZZ-RESULT {"outcome": ..., "error": ..., "events": [...], ...}
// then cleans up (pools destroyed, children killed) and lets the process end
// by itself. The parent (harness.js) judges the line, the exit status, the
// signal, stderr and whether the process ended in time.
//
//   node __test__/fuzz/run-case.js '{"site":"hash","pos":"2.encoding","value":"symbol"}'
//
// value 'pollution' runs the call without the option, then with
// Object.prototype[option] set to the position's `pollute` value, and
// reports both summaries.

const fs = require('node:fs')
const { SITE_BY_ID, sameClone, snapshot } = require('./sites')
const { VALUES, describeError, parentOf, place, settle } = require('./place')

const SETTLE_MS = Number(process.env.SPINDLE_FUZZ_SETTLE_MS) || 5000
const c = JSON.parse(process.argv[2])
const site = SITE_BY_ID[c.site]
if (!site) throw new Error(`unknown site ${c.site}`)
const position = site.positions.find((p) => p.path === c.pos)
if (!position) throw new Error(`unknown position ${c.pos} of ${c.site}`)

const uncaught = []
process.on('uncaughtException', (err) => uncaught.push(describeError(err)))
process.on('unhandledRejection', (err) => uncaught.push(describeError(err)))

function report(obj) {
  fs.writeSync(1, `FUZZ-RESULT ${JSON.stringify(obj)}\n`)
}

function newCtx() {
  return {
    valueId: c.value,
    pos: c.pos,
    validValue: position.valid,
    pools: [],
    children: [],
    events: [],
    cleanups: [],
    after: null,
  }
}

/** Calls the site once with `args`; returns { outcome, error?, value? }. */
async function invoke(ctx, args) {
  let out
  try {
    out = site.call(args, ctx)
  } catch (err) {
    return { outcome: 'threw', error: err }
  } finally {
    const after = ctx.after
    ctx.after = null
    if (after) after()
  }
  return settle(out, SETTLE_MS)
}

/** What the pollution comparison looks at. */
function summary(r) {
  if (r.outcome === 'ok') {
    let value
    try {
      value = site.summarize ? site.summarize(r.value) : null
    } catch (err) {
      value = `summarize threw ${err}`
    }
    return { outcome: 'ok', value }
  }
  const e = r.error === undefined ? undefined : describeError(r.error)
  return { outcome: r.outcome, code: e?.code, message: e?.message }
}

/**
 * Ends what the case started that may legitimately keep the process alive:
 * children (a running `cat`). Pools are left as they are when the call
 * settled (an idle pool does not keep the process alive, as documented: a
 * process that then does not exit is a hang); after a call that never
 * settled they are destroyed, so the process can still report and end.
 */
async function cleanup(ctx, settled) {
  for (const fn of ctx.cleanups) {
    try { await fn() } catch {}
  }
  for (const child of ctx.children) {
    try {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    } catch {}
  }
  if (settled) return null
  const stops = ctx.pools.map((p) => p.destroy().catch(() => {}))
  const s = await settle(Promise.all(stops), 3000)
  return s.outcome === 'pending' ? 'pool.destroy() did not settle within 3 s' : null
}

async function main() {
  const ctx = newCtx()
  const res = { case: c }
  if (site.setup) await site.setup(ctx)

  if (c.value === 'pollution') {
    if (position.pollute === undefined) throw new Error('harness: no pollution value for this position')
    const base = site.args(ctx)
    const { parent, key } = parentOf(base, c.pos)
    delete parent[key]
    const r1 = await invoke(ctx, base)
    const args = site.args(newCtxLike(ctx))
    const p2 = parentOf(args, c.pos)
    delete p2.parent[p2.key]
    Object.prototype[p2.key] = position.pollute // eslint-disable-line no-extend-native
    let r2
    try {
      r2 = await invoke(ctx, args)
    } finally {
      delete Object.prototype[p2.key]
    }
    res.outcome = 'pollution'
    res.baseline = summary(r1)
    res.polluted = summary(r2)
    for (const r of [r1, r2]) if (r.error !== undefined) (res.errors ??= []).push(describeError(r.error))
  } else {
    const entry = VALUES[c.value]
    if (!entry) throw new Error(`unknown value ${c.value}`)
    const args = site.args(ctx)
    if (!site.workerSide) place(args, c.pos, entry, ctx)
    // A function at a callback position is called by the API: what it throws is not the API's.
    if (position.callback && typeof args[Number(c.pos.split('.')[0])] === 'function') res.callback = true
    // What a correct result must match, read before the call through own data properties only.
    const own = (o, k) => {
      try { return Object.getOwnPropertyDescriptor(o, k)?.value } catch { return undefined }
    }
    if (site.area === 'kernels' && !entry.race && c.site !== 'configure') {
      const a0 = own(args, 0)
      ctx.before0Ref = a0
      ctx.before0 = snapshot(a0)
      ctx.algo = own(args, 1)
      try {
        // The length through its descriptor: a Proxy's `get` may lie (2^32 - 1) and must not make this loop spin.
        const length = Array.isArray(a0) ? own(a0, 'length') : undefined
        if (c.site === 'hashMany' && typeof length === 'number' && length <= 1000) {
          ctx.beforeList = Array.from({ length }, (_, i) => snapshot(own(a0, i)))
        }
      } catch {}
    }
    const r = await invoke(ctx, args)
    res.outcome = r.outcome
    if (r.error !== undefined) {
      res.error = describeError(r.error)
      // A task that throws: its own thrown value (cloned) is what the caller should get.
      if (c.pos === 'thrown' && r.outcome === 'rejected') {
        if (sameThrown(r.error, entry.make({ cleanups: [] }))) res.error.user = true
        else if (res.error.code === undefined) {
          res.wrong = 'the task\'s thrown value did not arrive as itself (a structured clone) nor as a coded error'
        }
      }
    }
    if (r.outcome === 'ok') {
      if (site.nested && r.value && typeof r.value === 'object') res.nested = r.value
      if (ctx.wrong) res.wrong = ctx.wrong
      else if (site.check && !entry.race) {
        try {
          const w = site.check(r.value, args, ctx)
          if (w) res.wrong = w
        } catch (err) {
          res.wrong = `the result could not be checked: ${err}`
        }
      }
    } else if (ctx.wrong) res.wrong ??= ctx.wrong
  }
  res.events = ctx.events.map(describeError)
  const settled = res.outcome !== 'pending' && res.polluted?.outcome !== 'pending' && res.baseline?.outcome !== 'pending' &&
    res.nested?.outcome !== 'pending'
  res.cleanup = await cleanup(ctx, settled)
  res.uncaught = uncaught
  report(res)
}

/** Whether a rejection is (a structured clone of) the value the task threw. */
function sameThrown(got, thrown) {
  try {
    if (thrown === null || (typeof thrown !== 'object' && typeof thrown !== 'function')) return Object.is(got, thrown)
    return sameClone(got, structuredClone(thrown))
  } catch {
    return false
  }
}

function newCtxLike(ctx) {
  return { ...ctx, after: null }
}

main().catch((err) => {
  report({ case: c, harnessError: String(err && err.stack) })
  process.exitCode = 3
})
