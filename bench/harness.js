'use strict'
// The benchmark harness: timing, event-loop delay sampling, medians, rows.
//
// Every measurement is one call of `measure(fn, opts)`:
//   - a warm-up call (not recorded), then `reps` recorded calls;
//   - `setup()` runs before each call, outside the timed region (fresh copies of
//     the data for in-place sorts, fresh buffers for transfers), with a full
//     GC before and after it, so the collection its allocation triggers does
//     not land inside the timed region;
//   - during each call, `perf_hooks.monitorEventLoopDelay({ resolution: 1 })`
//     samples the main event loop. Its histogram records the time between two
//     firings of a 1 ms libuv timer, so the loop's *delay* is that value minus
//     the 1 ms period. After the timed region the harness waits a few ms so
//     that a timer held back by synchronous work fires and its delay is
//     recorded (otherwise a main-thread sort would report no delay at all);
//   - results: median wall time over the reps, the worst delay over all reps
//     (the max, not the median: a target like "never blocked > 5 ms" is about
//     the worst case), and the median p99 delay.

const os = require('node:os')
const v8 = require('node:v8')
const vm = require('node:vm')
const { monitorEventLoopDelay } = require('node:perf_hooks')

const QUICK = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK || '')
const REPS = Math.max(1, Number(process.env.BENCH_REPS) || 3)
const THREADS = Math.max(1, Number(process.env.SPINDLE_BENCH_THREADS) || 2)
const RESOLUTION_MS = 1

/** `quick` in BENCH_QUICK mode, else `full`. */
const size = (full, quick) => (QUICK ? quick : full)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

let gcFn = null
/** Runs a full GC if possible (enables --expose-gc at run time). */
function gc() {
  if (!gcFn) {
    if (typeof global.gc === 'function') gcFn = global.gc
    else {
      try {
        v8.setFlagsFromString('--expose-gc')
        gcFn = vm.runInNewContext('gc')
      } catch {
        gcFn = () => {}
      }
    }
  }
  gcFn()
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

/** Starts sampling the main event loop; `stop()` resolves to delays in ms. */
function loopSampler() {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  h.enable()
  return {
    async stop() {
      // Let a 1 ms timer that synchronous work held back fire and be recorded.
      await sleep(3)
      h.disable()
      const toDelay = (ns) => (h.count === 0 ? 0 : Math.max(0, ns / 1e6 - RESOLUTION_MS))
      return {
        worst: toDelay(h.max),
        p99: toDelay(h.percentile(99)),
        samples: h.count,
      }
    },
  }
}

/**
 * Times one async (or sync) function once, with the loop sampler on.
 * Returns { wallMs, worstDelayMs, p99DelayMs, samples, value }.
 */
async function timeOnce(fn, state) {
  const sampler = loopSampler()
  await sleep(0)
  const t0 = performance.now()
  const value = await fn(state)
  const wallMs = performance.now() - t0
  const d = await sampler.stop()
  return { wallMs, worstDelayMs: d.worst, p99DelayMs: d.p99, samples: d.samples, value }
}

/**
 * Warm-up once, then `reps` measured runs.
 * opts: { reps, warmup (default true), setup(rep) -> state, teardown(state), check(value, state) }
 * `check` runs after the first measured run, outside the timed region; it may throw.
 */
async function measure(fn, opts = {}) {
  const reps = opts.reps ?? REPS
  const runs = []
  if (opts.warmup !== false) {
    const state = opts.setup ? await opts.setup(-1) : undefined
    await fn(state)
    if (opts.teardown) await opts.teardown(state)
  }
  for (let i = 0; i < reps; i++) {
    gc()
    const state = opts.setup ? await opts.setup(i) : undefined
    // Again after the setup: a fresh 80 MB copy raises V8's external memory
    // enough to schedule a full GC, which would otherwise run on the main
    // thread inside the timed region (2-10 ms, counted as loop delay).
    if (opts.setup) gc()
    const r = await timeOnce(fn, state)
    if (i === 0 && opts.check) await opts.check(r.value, state)
    if (opts.teardown) await opts.teardown(state)
    r.value = undefined
    runs.push(r)
  }
  return {
    wallMs: median(runs.map((r) => r.wallMs)),
    worstDelayMs: Math.max(...runs.map((r) => r.worstDelayMs)),
    p99DelayMs: median(runs.map((r) => r.p99DelayMs)),
    runs: runs.map((r) => ({
      wallMs: round(r.wallMs, 3),
      worstDelayMs: round(r.worstDelayMs, 3),
      p99DelayMs: round(r.p99DelayMs, 3),
      samples: r.samples,
    })),
  }
}

const ROW_TIMEOUT_MS = Number(process.env.BENCH_ROW_TIMEOUT_MS) || (QUICK ? 120_000 : 600_000)

/**
 * Resolves or rejects like `promise`, or rejects after `ms` with a clear
 * message, so that one implementation that never answers (a lost task, a
 * close that never settles) costs one row, not the whole run.
 */
function withTimeout(promise, label, ms = ROW_TIMEOUT_MS) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms / 1000} s`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** Runs `total` calls of `fn()` with at most `concurrency` in flight. */
async function runConcurrent(total, concurrency, fn) {
  let started = 0
  async function lane() {
    while (started < total) {
      started++
      await fn()
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane))
}

function round(x, digits = 2) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return x
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/**
 * A result row. `role`: 'spindle' (the subject), 'anchor' (what spindle is
 * compared with), 'reference' (context only: a floor, a single-thread time).
 * `targets`: [{ text, met }] where met is true/false/null (null: not evaluated).
 */
function row(impl, role, m = {}, extra = {}) {
  return {
    impl,
    role,
    wallMs: m.wallMs ?? null,
    worstDelayMs: m.worstDelayMs ?? null,
    p99DelayMs: m.p99DelayMs ?? null,
    runs: m.runs,
    throughput: null,
    ratio: null,
    targets: [],
    note: '',
    skipped: null,
    ...extra,
  }
}

/** A row for an implementation that was not run. */
function skippedRow(impl, role, reason) {
  return row(impl, role, {}, { skipped: reason })
}

/** Ratio anchor time / spindle time (> 1: spindle faster); null if either is missing. */
function ratio(anchorMs, spindleMs) {
  if (!(anchorMs > 0) || !(spindleMs > 0)) return null
  return anchorMs / spindleMs
}

/** Fills in `ratio` on every non-spindle row against the spindle row's wall time. */
function fillRatios(rows, spindleImpl) {
  const s = rows.find((r) => r.impl === spindleImpl)
  for (const r of rows) {
    if (r === s || r.skipped || r.noRatio || !s || s.skipped) continue
    r.ratio = ratio(r.wallMs, s.wallMs)
  }
}

function target(text, met) {
  return { text, met: met === null || met === undefined ? null : Boolean(met) }
}

/**
 * A snapshot of the whole machine's busy CPU time (Linux /proc/stat) and this
 * process's own CPU time, to tell how much *other* processes competed with a
 * run. `otherCores(a, b)`: average cores kept busy by everything but this
 * process between two snapshots (child processes of this run count as others).
 */
function cpuSnapshot() {
  let busyTicks = null
  try {
    const f = require('node:fs').readFileSync('/proc/stat', 'utf8')
    const v = f.slice(0, f.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal ...
    busyTicks = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] || 0)
  } catch {}
  return { busyTicks, self: process.cpuUsage(), t: performance.now() }
}

const CLK_TCK = 100 // USER_HZ on Linux

function otherCores(a, b) {
  if (a.busyTicks === null || b.busyTicks === null) return null
  const wall = (b.t - a.t) / 1000
  if (wall <= 0) return null
  const busy = (b.busyTicks - a.busyTicks) / CLK_TCK
  const self = (b.self.user + b.self.system - a.self.user - a.self.system) / 1e6
  return Math.max(0, (busy - self) / wall)
}

/** Section names of a little-endian ELF64 file, or null for anything else. */
function elfSectionNames(b) {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return null
  const shoff = Number(b.readBigUInt64LE(0x28))
  const shentsize = b.readUInt16LE(0x3a)
  const shnum = b.readUInt16LE(0x3c)
  const shstrndx = b.readUInt16LE(0x3e)
  const strOff = Number(b.readBigUInt64LE(shoff + shstrndx * shentsize + 0x18))
  const names = []
  for (let i = 0; i < shnum; i++) {
    const nameOff = strOff + b.readUInt32LE(shoff + i * shentsize)
    names.push(b.toString('latin1', nameOff, b.indexOf(0, nameOff)))
  }
  return names
}

/**
 * The native addon this process loaded (spindle must be required first):
 * path, size, mtime, and whether it is a debug build (an unstripped library
 * carries `.debug_info`; the release profile strips symbols). A debug build
 * runs the kernels several times slower: the numbers would be meaningless.
 */
function addonInfo() {
  const fs = require('node:fs')
  const file = Object.keys(require.cache).find((k) => k.endsWith('.node') && /spindle/.test(require('node:path').basename(k)))
  if (!file) return { path: null, build: 'unknown' }
  const st = fs.statSync(file)
  let debug = null
  try {
    const names = elfSectionNames(fs.readFileSync(file))
    if (names) debug = names.includes('.debug_info')
  } catch {}
  return {
    path: require('node:path').relative(require('node:path').join(__dirname, '..'), file),
    sizeMiB: round(st.size / 2 ** 20, 1),
    mtime: st.mtime.toISOString(),
    build: debug === null ? 'unknown' : debug ? 'debug' : 'release',
  }
}

function machine() {
  const cpus = os.cpus()
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0] ? cpus[0].model.trim() : 'unknown',
    cpuCount: cpus.length,
    availableParallelism: os.availableParallelism ? os.availableParallelism() : cpus.length,
    totalMemoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    v8: process.versions.v8,
  }
}

module.exports = {
  QUICK,
  REPS,
  THREADS,
  size,
  sleep,
  gc,
  median,
  round,
  loopSampler,
  timeOnce,
  measure,
  runConcurrent,
  withTimeout,
  ROW_TIMEOUT_MS,
  row,
  skippedRow,
  ratio,
  fillRatios,
  target,
  machine,
  cpuSnapshot,
  otherCores,
  addonInfo,
}
