'use strict'
// Case generation (seeded), running each case in its own process, and the
// verdict. Used by fuzz.test.js (npm test) and cli.js (longer campaigns).

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { SITES } = require('./sites')
const { VALUES, CLASSES } = require('./values')

const RUNNER = path.join(__dirname, 'run-case.js')
const ROOT = path.join(__dirname, '..', '..')

// ── seeded generation ───────────────────────────────────────────────────────

/** mulberry32: a small seeded PRNG. */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffle(list, rand) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[list[i], list[j]] = [list[j], list[i]]
  }
  return list
}

/** Whether `value` can be tried at `position` of `site`. */
function applicable(site, position, value) {
  if (site.excludes && (site.excludes[position.path] || []).includes(value.id)) return false
  if (site.workerSide && !site.nested) return !value.getter // made and returned/thrown in the worker
  const nestedPath = position.path.includes('.')
  if (value.getter && !nestedPath) return false
  return true
}

/** Every (site, position) pair, each with the values that apply, grouped by class. */
function slots() {
  const out = []
  for (const site of SITES) {
    for (const position of site.positions) {
      const byClass = new Map()
      for (const v of Object.values(VALUES)) {
        if (!applicable(site, position, v)) continue
        if (!byClass.has(v.cls)) byClass.set(v.cls, [])
        byClass.get(v.cls).push(v.id)
      }
      if (position.pollute !== undefined) byClass.set('pollution', ['pollution'])
      out.push({ site: site.id, pos: position.path, byClass })
    }
  }
  return out
}

// Classes tried first at every position: the ones this suite exists for.
const PRIORITY = ['pollution', 'race', 'proxy', 'getter', 'detached', 'resizable', 'lying', 'symbol']

/**
 * The cases in the order they run, for `seed`:
 *   1. the exhaustive pass over every (site × position × value class), one
 *      seeded value of the class each (pollution cases included), in rounds:
 *      each round gives every position one more class (the PRIORITY classes
 *      first), so a short budget still reaches every position;
 *   2. then every remaining (site × position × value), in seeded order.
 * A time budget runs a prefix of this list; a campaign with no budget runs
 * it all.
 */
function generate(seed) {
  const rand = prng(seed)
  const perSlot = []
  const rest = []
  for (const slot of shuffle(slots(), rand)) {
    const classes = [...slot.byClass.keys()]
    const first = shuffle(classes.filter((k) => PRIORITY.includes(k)), rand)
    const later = shuffle(classes.filter((k) => !PRIORITY.includes(k)), rand)
    const list = []
    for (const cls of [...first, ...later]) {
      const order = shuffle(slot.byClass.get(cls).slice(), rand)
      list.push({ site: slot.site, pos: slot.pos, value: order[0] })
      for (const id of order.slice(1)) rest.push({ site: slot.site, pos: slot.pos, value: id })
    }
    perSlot.push(list)
  }
  const rounds = []
  for (let round = 0; perSlot.some((l) => l.length > round); round++) {
    for (const list of perSlot) if (list.length > round) rounds.push(list[round])
  }
  return [...rounds, ...shuffle(rest, rand)]
}

// ── running ─────────────────────────────────────────────────────────────────

const ABORT_PATTERNS = [
  /double free/i, /munmap_chunk/i, /free\(\): invalid/i, /corrupted (size|double-linked)/i,
  /malloc\(\)/i, /Segmentation fault/i, /Bus error/i, /stack smashing/i, /FATAL ERROR/,
  /Fatal error in/i, /panicked at/, /Assertion .* failed/i, /Check failed/i, /Abort(ed)? \(core dumped\)/i,
]

function replayCommand(c) {
  return `node __test__/fuzz/run-case.js '${JSON.stringify(c).replace(/'/g, "'\\''")}'`
}

/**
 * Runs one case in a fresh `node`; resolves { c, code, signal, stdout,
 * stderr, hung, ms }. `caseMs` bounds the whole process: past it, it is
 * killed (SIGKILL) and counted as a hang.
 */
// coreutils `timeout` bounds each case even if this process dies first (a
// jest worker killed on its own timeout would otherwise leave a spinning
// case behind); it passes a crash's signal on as its own.
const TIMEOUT_BIN = ['/usr/bin/timeout', '/bin/timeout'].find((p) => fs.existsSync(p))

function runCase(c, { caseMs = 15000 } = {}) {
  return new Promise((resolve) => {
    const started = Date.now()
    const argv = [RUNNER, JSON.stringify(c)]
    const child = TIMEOUT_BIN
      ? spawn(TIMEOUT_BIN, ['-s', 'KILL', `${caseMs / 1000}`, process.execPath, ...argv], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SPINDLE_THREADS: '2' },
      })
      : spawn(process.execPath, argv, {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SPINDLE_THREADS: '2' },
      })
    const out = []
    const err = []
    let size = 0
    const take = (list) => (d) => {
      if (size < 1 << 20) list.push(d)
      size += d.length
    }
    child.stdout.on('data', take(out))
    child.stderr.on('data', take(err))
    let hung = false
    // Without `timeout`: this process's own timer (the fallback).
    const timer = TIMEOUT_BIN ? null : setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, caseMs)
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      if (TIMEOUT_BIN && signal === 'SIGKILL' && Date.now() - started >= caseMs - 50) hung = true
      resolve({
        c,
        code,
        signal,
        hung,
        ms: Date.now() - started,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      })
    })
  })
}

// ── the verdict ─────────────────────────────────────────────────────────────

// napi_status names that napi-rs turns into error codes when a conversion fails.
const NAPI_STATUS = new Set([
  'InvalidArg', 'ObjectExpected', 'StringExpected', 'NameExpected', 'FunctionExpected', 'NumberExpected',
  'BooleanExpected', 'ArrayExpected', 'GenericFailure', 'PendingException', 'Cancelled', 'EscapeCalledTwice',
  'HandleScopeMismatch', 'CallbackScopeMismatch', 'QueueFull', 'Closing', 'BigintExpected', 'DateExpected',
  'ArrayBufferExpected', 'DetachableArraybufferExpected', 'WouldDeadlock', 'NoExternalBuffersAllowed', 'Unknown',
])
// Node-style codes: ERR_*, ABORT_ERR, and errno names (ENOENT, EPIPE, ...).
const CODE_RE = /^(ERR_[A-Z0-9_]+|ABORT_ERR|E[A-Z0-9]{2,})$/

/** Why an error description is unacceptable, or null. */
function errorProblem(e) {
  if (!e) return null
  if (e.user) return null // the user's own error, unchanged
  if (e.domException && e.name === 'DataCloneError') return null // Node's own shape for uncloneable values
  if (typeof e.code === 'string') {
    if (NAPI_STATUS.has(e.code)) return `napi status leaked as code '${e.code}'`
    if (!CODE_RE.test(e.code)) return `unexpected code '${e.code}'`
    return null
  }
  if (e.type !== 'object' && e.type !== 'function') return `a non-error was thrown (${e.type}: ${e.message})`
  return `uncoded ${e.name ?? e.ctor ?? 'error'} (code: ${e.codeType})`
}

/**
 * Judges a finished case. Returns { ok, kind, reason, result } where kind is
 * one of crash | hang | uncoded | wrong | pollution | uncaught | harness.
 */
function judge(run) {
  const line = run.stdout.split('\n').find((l) => l.startsWith('FUZZ-RESULT '))
  let result = null
  try {
    if (line) result = JSON.parse(line.slice('FUZZ-RESULT '.length))
  } catch {}
  const fail = (kind, reason) => ({ ok: false, kind, reason, result })
  const abort = ABORT_PATTERNS.find((re) => re.test(run.stderr))
  if (run.signal && !run.hung) return fail('crash', `killed by ${run.signal}${abort ? ` (${abort.source})` : ''}`)
  if (abort) return fail('crash', `stderr: ${run.stderr.match(abort)[0]} (exit ${run.code})`)
  if (result?.harnessError) return fail('harness', result.harnessError.split('\n')[0])
  if (result?.outcome === 'pending') {
    return fail('hang', `the call never settled${result.error ? '' : ''} (within the runner's bound)`)
  }
  if (run.hung) {
    return fail('hang', result ? 'the process did not exit after the case settled and was cleaned up'
      : 'the process neither reported nor exited')
  }
  if (!result) return fail('crash', `no result; exit ${run.code}; stderr: ${run.stderr.slice(-300)}`)
  if (run.code !== 0) return fail('crash', `exit code ${run.code} after reporting; stderr: ${run.stderr.slice(-300)}`)
  if (result.cleanup) return fail('hang', result.cleanup)
  if (result.uncaught?.length && !result.callback) {
    const u = result.uncaught[0]
    return fail('uncaught', `uncaught exception or unhandled rejection: ${u.code ?? u.name ?? u.type}: ${u.message}`)
  }
  if (result.outcome === 'pollution') {
    const a = JSON.stringify(result.baseline)
    const b = JSON.stringify(result.polluted)
    if (a !== b) return fail('pollution', `inherited Object.prototype.${result.case.pos.split('.').pop()} was honoured: ${a.slice(0, 200)} → ${b.slice(0, 200)}`)
    for (const e of result.errors ?? []) {
      const p = errorProblem(e)
      if (p) return fail('uncoded', `${p}: ${e.message}`)
    }
    return { ok: true, result }
  }
  if (result.wrong && result.case.pos === 'thrown') return fail('wrong', `${result.wrong}: ${result.error?.ctor ?? result.error?.type} ${result.error?.message}`)
  const p = errorProblem(result.error)
  if (p) return fail('uncoded', `${result.outcome}: ${p}: ${result.error.message}`)
  for (const e of result.events ?? []) {
    const q = errorProblem(e)
    if (q) return fail('uncoded', `'error' event: ${q}: ${e.message}`)
  }
  if (result.nested) {
    if (result.nested.outcome === 'pending') return fail('hang', 'the nested call never settled (in the worker)')
    const q = errorProblem(result.nested.error)
    if (q) return fail('uncoded', `nested ${result.nested.outcome}: ${q}: ${result.nested.error.message}`)
  }
  if (result.wrong) return fail('wrong', result.wrong)
  return { ok: true, result }
}

/**
 * Runs `cases` with `jobs` processes at a time until all ran or `budgetMs`
 * elapsed (no new case starts after it). A crashing case is already alone in
 * its process. Resolves { ran, failures: [{ c, kind, reason, replay }] }.
 */
async function campaign(cases, { budgetMs = Infinity, jobs = 2, caseMs, onResult } = {}) {
  const deadline = Date.now() + budgetMs
  let next = 0
  let ran = 0
  const failures = []
  async function lane() {
    while (next < cases.length && Date.now() < deadline) {
      const c = cases[next++]
      const run = await runCase(c, { caseMs })
      ran++
      const v = judge(run)
      if (!v.ok) failures.push({ c, kind: v.kind, reason: v.reason, replay: replayCommand(c) })
      if (onResult) onResult(c, v, run)
    }
  }
  await Promise.all(Array.from({ length: jobs }, lane))
  return { ran, total: cases.length, failures }
}

function area(siteId) {
  return SITES.find((s) => s.id === siteId)?.area ?? '?'
}

module.exports = { CLASSES, applicable, area, campaign, generate, judge, replayCommand, runCase, slots }
