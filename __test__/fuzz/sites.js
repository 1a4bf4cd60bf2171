'use strict'
// The catalogue of call sites: every export, every argument position, every
// option key. A site gives fresh valid arguments (`args`), the positions a
// hostile value may take, and how to call it. A call returns what the API
// returns (a promise is awaited with a bound by the runner); for an
// EventEmitter result the site returns a promise of what was observed.
//
// Position fields:
//   path     where the value goes (see place.js)
//   valid    a valid value for this position (for the read-twice getters)
//   pollute  for option keys: a value that, if it were honoured when
//            inherited from Object.prototype, would change the observable
//            result (an invalid value makes the call throw, a valid one
//            changes its output). The 'pollution' case runs the call without
//            the key, then again with Object.prototype[key] set, and
//            compares.
//
// Site fields: area (kernels | pool | spawn | misc), args(ctx), call(args, ctx),
// check(value, args, ctx) → a string when a resolved result is wrong,
// summarize(value) → JSON for the pollution comparison.

const crypto = require('node:crypto')
const path = require('node:path')
const spindle = require('../..')
const { randomFill, realBuffer, resizable, taTag } = require('./values')

const WORKER = path.join(__dirname, 'worker.js')

// ── helpers ─────────────────────────────────────────────────────────────────

/** A copy of the real bytes and element type of a binary value, through intrinsics; null otherwise. */
function snapshot(v) {
  try {
    if (typeof v === 'string') return { tag: 'string', bytes: Buffer.from(v, 'utf8') }
    if (ArrayBuffer.isView(v)) {
      const tag = taTag.call(v)
      const buf = realBuffer(v)
      const off = tag ? Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteOffset').get.call(v)
        : Object.getOwnPropertyDescriptor(DataView.prototype, 'byteOffset').get.call(v)
      const len = tag ? Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteLength').get.call(v)
        : Object.getOwnPropertyDescriptor(DataView.prototype, 'byteLength').get.call(v)
      return { tag: tag ?? 'DataView', bytes: Buffer.from(new Uint8Array(buf, off, len)) }
    }
    const abTag = Object.prototype.toString.call(v)
    if (abTag === '[object ArrayBuffer]' || abTag === '[object SharedArrayBuffer]') {
      return { tag: 'ArrayBuffer', bytes: Buffer.from(new Uint8Array(v)) }
    }
  } catch {}
  return null
}

function typedFrom(snap) {
  const Ctor = globalThis[snap.tag]
  const copy = new Uint8Array(snap.bytes).buffer
  return new Ctor(copy, 0, copy.byteLength / Ctor.BYTES_PER_ELEMENT)
}

/** Bits of each element as strings (compares NaN payloads and -0 exactly). */
function elementBits(ta) {
  // Through intrinsics: the array may carry lying own properties.
  const snap = snapshot(ta) ?? { bytes: Buffer.alloc(0) } // null: a detached view holds nothing
  const size = ta.BYTES_PER_ELEMENT
  const out = []
  for (let i = 0; i * size < snap.bytes.length; i++) out.push(snap.bytes.subarray(i * size, (i + 1) * size).toString('hex'))
  return out
}

function isNaNElement(ta, i) {
  return typeof ta[i] === 'number' && Number.isNaN(ta[i])
}

/** V8's sort keeps each element's bits; NaNs go last (their mutual order is not compared). */
function expectedSort(snap) {
  const a = typedFrom(snap)
  a.sort()
  return a
}

function compareSorted(actual, expected) {
  if (taTag.call(actual) !== taTag.call(expected)) return 'a different type came back'
  const A = elementBits(actual)
  const E = elementBits(expected)
  if (A.length !== E.length) return `${A.length} elements, expected ${E.length} (the array changed under the call)`
  const nanA = []
  const nanE = []
  for (let i = 0; i < A.length; i++) {
    if (isNaNElement(expected, i)) { // (expected is a plain copy: its own length is real)
      nanE.push(E[i])
      nanA.push(A[i])
      continue
    }
    if (A[i] !== E[i]) return `element ${i} is ${A[i]} (bits), V8's sort gives ${E[i]}`
  }
  nanA.sort()
  nanE.sort()
  if (nanA.join() !== nanE.join()) return `NaN bits not kept: ${nanA.slice(0, 3)} vs ${nanE.slice(0, 3)}`
  return null
}

function digestMatches(result, algo, snap) {
  if (!['sha256', 'sha512'].includes(algo)) return true // blake3: no reference here
  const d = crypto.createHash(algo).update(snap.bytes).digest()
  if (Buffer.isBuffer(result)) return d.equals(result)
  return [d.toString('hex'), d.toString('base64'), d.toString('base64url')].includes(result)
}

function algoOf(a) {
  return typeof a === 'string' ? a.toLowerCase() : null
}

// Kernel inputs: the getter values that change the input reach it through ctx.
function kernelInput(ctx, make) {
  if (ctx.valueId === 'get:shrinksInput') {
    const rab = resizable(8 * 4096)
    const view = randomFill(new Float64Array(rab))
    Object.defineProperty(view, 'buffer', { value: new ArrayBuffer(view.byteLength) })
    ctx.inputRab = rab
    ctx.input = view
    return view
  }
  ctx.input = make()
  return ctx.input
}

/** Seeded finite doubles of every sign and magnitude, -0 included (NaN has its own value). */
function finiteDoubles(n) {
  const f = new Float64Array(n)
  let x = 99
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    f[i] = i % 97 === 0 ? -0 : ((x / 2 ** 32) - 0.5) * 2 ** ((x % 64) - 20)
  }
  return f
}

/** Whether two cloneable values are the same, as the structured serializer writes them. */
function sameClone(a, b) {
  if (a instanceof Error || b instanceof Error) {
    return a instanceof Error && b instanceof Error && a.name === b.name && a.message === b.message
  }
  try {
    const v8 = require('node:v8')
    return v8.serialize(a).equals(v8.serialize(b))
  } catch {
    return require('node:util').isDeepStrictEqual(a, b)
  }
}

const SIGNAL_POS = (p) => ({ path: p, valid: undefined, pollute: AbortSignal.abort() })

// ── kernels ─────────────────────────────────────────────────────────────────

function sortLike(id, fn, check) {
  return {
    id,
    area: 'kernels',
    args: (ctx) => [kernelInput(ctx, () => finiteDoubles(1 << 16)), {}],
    positions: [{ path: '0' }, { path: '1' }, SIGNAL_POS('1.signal')],
    call: (args) => fn(...args),
    check,
    summarize: (v) => ({ type: taTag.call(v) ?? typeof v }),
  }
}

const SITES = [
  sortLike('sort', spindle.sort, (value, args, ctx) => {
    if (value !== ctx.before0Ref) return 'sort resolved to something else than its array'
    if (!ctx.before0) return null
    return compareSorted(value, expectedSort(ctx.before0))
  }),
  sortLike('stats', spindle.stats, (value, args, ctx) => {
    if (!ctx.before0) return null
    const a = typedFrom(ctx.before0)
    if (value === null || typeof value !== 'object') return 'stats resolved to a non-object'
    if (value.count !== a.length) return `count ${value.count}, the input has ${a.length} elements`
    if (a.length > 0 && typeof a[0] === 'bigint') {
      let sum = 0n
      for (const x of a) sum += x
      if (value.sum !== sum) return `sum ${value.sum}, expected ${sum}`
    }
    return null
  }),
  {
    id: 'sort.concurrent',
    area: 'kernels',
    // Issue 10 item 1: two sorts of the same array at once.
    args: (ctx) => [kernelInput(ctx, () => randomFill(new Int16Array(1 << 20)))],
    positions: [{ path: '0' }],
    call: (args) => Promise.all([spindle.sort(args[0]), spindle.sort(args[0])]).then(([a]) => a),
    check: (value, args, ctx) => {
      if (!ctx.before0) return null
      return compareSorted(value, expectedSort(ctx.before0))
    },
  },
  {
    id: 'hash',
    area: 'kernels',
    args: (ctx) => [kernelInput(ctx, () => randomFill(new Uint8Array(1 << 16))), 'sha256', {}],
    positions: [
      { path: '0' }, { path: '1', valid: 'sha256' }, { path: '2' }, SIGNAL_POS('2.signal'),
      { path: '2.encoding', valid: 'hex', pollute: 'base64' },
    ],
    call: (args) => spindle.hash(...args),
    check: (value, args, ctx) => {
      if (!ctx.before0) return null
      return digestMatches(value, algoOf(ctx.algo), ctx.before0) ? null : 'the digest is not the digest of the input'
    },
    summarize: (v) => v,
  },
  {
    id: 'hashMany',
    area: 'kernels',
    args: (ctx) => [[kernelInput(ctx, () => randomFill(new Uint8Array(1 << 16))), 'text'], 'sha512', {}],
    positions: [
      { path: '0' }, { path: '0.0' }, { path: '0.1' }, { path: '1', valid: 'sha512' }, { path: '2' },
      SIGNAL_POS('2.signal'), { path: '2.encoding', valid: 'hex', pollute: 'buffer' },
    ],
    call: (args) => spindle.hashMany(...args),
    check: (value, args, ctx) => {
      if (!ctx.beforeList || !Array.isArray(value)) return null
      if (value.length !== ctx.beforeList.length) return `${value.length} digests for ${ctx.beforeList.length} inputs`
      for (let i = 0; i < value.length; i++) {
        const snap = ctx.beforeList[i]
        if (snap && !digestMatches(value[i], algoOf(ctx.algo), snap)) return `digest ${i} is not the digest of input ${i}`
      }
      return null
    },
    summarize: (v) => v,
  },
  {
    id: 'configure',
    area: 'kernels',
    args: () => [{ threads: 2 }],
    positions: [{ path: '0' }, { path: '0.threads', valid: 2, pollute: 1 }],
    call: (args) => spindle.configure(...args),
    summarize: (v) => v,
  },
  {
    id: 'internals',
    area: 'kernels',
    args: () => [],
    positions: [{ path: '0' }],
    call: (args) => spindle.internals(...args),
  },
  {
    id: 'AbortError',
    area: 'misc',
    args: () => ['fuzz', {}],
    positions: [{ path: '0' }, { path: '1' }, { path: '1.cause', valid: 1 }],
    call: (args) => new spindle.AbortError(...args),
  },
]

// ── pool ────────────────────────────────────────────────────────────────────

function newPool(ctx, opts) {
  const pool = new spindle.Pool(opts)
  ctx.pools.push(pool)
  return pool
}

const POOL_OPTIONS = [
  ['filename', WORKER, undefined],
  ['name', 'alt', 'alt'],
  ['minThreads', 1, -1],
  ['maxThreads', 1, 0],
  ['idleTimeout', 1000, -1],
  ['maxQueue', 10, -1],
  ['concurrentTasksPerWorker', 1, 0],
  ['resourceLimits', {}, 5],
  ['resourceLimits.maxOldGenerationSizeMb', 64, undefined],
  ['resourceLimits.stackSizeMb', 4, undefined],
  ['env', {}, { FUZZ_VAR: 'polluted' }],
  ['argv', [], ['polluted']],
  ['execArgv', [], ['--no-deprecation']],
  ['workerData', 1, 'polluted'],
  ['waitMicros', 100, -1],
  ['spinMicros', 10, -1],
  ['pollMicros', 10, -1],
  ['coalesceMicros', 100, -1],
]

SITES.push(
  {
    id: 'Pool',
    area: 'pool',
    args: () => [{ filename: WORKER, maxThreads: 1 }],
    positions: [{ path: '0' }, ...POOL_OPTIONS.map(([k, valid, pollute]) => ({ path: `0.${k}`, valid, pollute }))],
    call: (args, ctx) => newPool(ctx, ...args).run(1),
    summarize: (v) => v,
  },
  {
    id: 'Pool.lazy',
    area: 'pool',
    // minThreads 0: the first worker starts inside run() (issue 10 item 6).
    args: () => [{ filename: WORKER, maxThreads: 1, minThreads: 0 }],
    positions: ['filename', 'execArgv', 'argv', 'env', 'resourceLimits', 'workerData', 'idleTimeout']
      .map((k) => ({ path: `0.${k}`, valid: POOL_OPTIONS.find((o) => o[0] === k)[1] })),
    call: (args, ctx) => newPool(ctx, ...args).run(1),
  },
  {
    id: 'pool.run',
    area: 'pool',
    setup: (ctx) => { ctx.pool = newPool(ctx, { filename: WORKER, maxThreads: 1 }) },
    args: () => [1, {}],
    positions: [
      { path: '0' }, { path: '1' },
      { path: '1.name', valid: 'alt', pollute: 'alt' },
      SIGNAL_POS('1.signal'),
      { path: '1.transferList', valid: [], pollute: 5 },
      { path: '1.onMessage', valid: () => {}, pollute: 5 },
    ],
    call: (args, ctx) => ctx.pool.run(...args),
    summarize: (v) => v,
  },
  {
    id: 'pool.result',
    area: 'pool',
    // The worker returns, or throws, the hostile value (made in the worker).
    workerSide: true,
    setup: (ctx) => { ctx.pool = newPool(ctx, { filename: WORKER, maxThreads: 1 }) },
    args: () => [],
    positions: [{ path: 'returned' }, { path: 'thrown' }],
    // A returned thenable is awaited, as an async function's return value is
    // (and as piscina does): `{ then() {} }` never settles, by JavaScript's
    // own rules, so it is not a case of ours.
    excludes: { returned: ['obj:thenable'] },
    call: (args, ctx) => ctx.pool.run({ value: ctx.valueId }, { name: ctx.pos === 'thrown' ? 'throwValue' : 'make' }),
    check: (value, args, ctx) => {
      if (ctx.pos !== 'returned') return null
      // A returned Buffer may come back a Buffer (documented in the README's
      // Pool section): the same bytes as the Uint8Array postMessage gives.
      if (Buffer.isBuffer(value)) {
        let made
        try {
          made = require('./values').VALUES[ctx.valueId].make({ cleanups: [] })
        } catch {
          made = null
        }
        return Buffer.isBuffer(made) && Buffer.compare(value, made) === 0 ? null
          : 'the task returned a Buffer that did not arrive with the same bytes'
      }
      // The same value made here (the catalogue is deterministic), cloned as postMessage would.
      let expected
      try {
        expected = structuredClone(require('./values').VALUES[ctx.valueId].make({ cleanups: [] }))
      } catch {
        return null // not cloneable here either: resolving is not judged
      }
      return sameClone(value, expected) ? null
        : 'the task\'s return value did not arrive as a structured clone would give it'
    },
  },
  {
    id: 'pool.result.concurrent',
    area: 'pool',
    // Issue 10 item 16: a bad thrown value must fail its own task only.
    workerSide: true,
    setup: (ctx) => { ctx.pool = newPool(ctx, { filename: WORKER, maxThreads: 1, concurrentTasksPerWorker: 4 }) },
    args: () => [],
    positions: [{ path: 'thrown' }],
    call: async (args, ctx) => {
      const good = ctx.pool.run(200, { name: 'nap' }) // running on the same worker meanwhile
      await new Promise((resolve) => setTimeout(resolve, 50))
      const bad = ctx.pool.run({ value: ctx.valueId }, { name: 'throwValue' })
      const [b, g] = await Promise.allSettled([bad, good])
      if (g.status !== 'fulfilled') {
        ctx.wrong = `a bystander task failed: ${g.reason?.code ?? ''} ${g.reason?.message ?? g.reason}`
      }
      if (b.status === 'rejected') throw b.reason
      return b.value
    },
  },
  {
    id: 'ctx.run',
    area: 'pool',
    workerSide: true,
    nested: 'run',
    setup: (ctx) => { ctx.pool = newPool(ctx, { filename: WORKER, maxThreads: 2 }) },
    args: () => [],
    positions: [{ path: '0' }, { path: '1' }, { path: '1.name' }, { path: '1.signal' }],
    call: (args, ctx) => ctx.pool.run({ method: 'run', pos: ctx.pos, value: ctx.valueId }, { name: 'nested' }),
  },
  {
    id: 'ctx.postMessage',
    area: 'pool',
    workerSide: true,
    nested: 'postMessage',
    setup: (ctx) => { ctx.pool = newPool(ctx, { filename: WORKER, maxThreads: 1 }) },
    args: () => [],
    positions: [{ path: '0' }],
    call: (args, ctx) => ctx.pool.run({ method: 'postMessage', pos: ctx.pos, value: ctx.valueId }, { name: 'nested', onMessage: () => {} }),
  },
)
for (const method of ['close', 'destroy', 'stats', Symbol.asyncDispose]) {
  const name = typeof method === 'symbol' ? 'asyncDispose' : method
  SITES.push({
    id: `pool.${name}`,
    area: 'pool',
    setup: (ctx) => { ctx.pool = newPool(ctx, { filename: WORKER, maxThreads: 1 }) },
    args: () => [],
    positions: [{ path: '0' }],
    call: (args, ctx) => ctx.pool[method](...args),
  })
}

// ── reactor: spawn, exec, ChildProcess ──────────────────────────────────────

// Prints what an inherited option would change: $0 (shell: the command line
// is re-parsed), cwd, an environment variable, and the process's own argv.
const PROBE = 'printf "%s|%s|%s|" "$0" "$(pwd)" "${FUZZ_VAR-unset}"; tr "\\0" " " < /proc/$$/cmdline; cat >/dev/null'
const PROBE_ARGS = () => ['-c', PROBE, 'x$(echo FUZZ_INJECTED)']

/** Runs a ChildProcess to 'close' and resolves with what was observed. */
function observe(child, ctx) {
  ctx.children.push(child)
  return new Promise((resolve) => {
    const out = []
    child.on('error', (err) => ctx.events.push(err))
    child.stdin?.on('error', (err) => ctx.events.push(err))
    child.stdout?.on('data', (d) => out.push(d))
    child.stderr?.resume()
    child.stdin?.end()
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString() }))
  })
}

const SPAWN_OPTIONS = [
  ['cwd', '/', '/tmp'],
  ['env', {}, { FUZZ_VAR: 'polluted', PATH: process.env.PATH }],
  ['env.FUZZ_VAR', 'v', undefined],
  ['stdio', 'pipe', 'ignore'],
  ['stdio.0', 'pipe', undefined],
  ['detached', false, 'yes'],
  ['signal', undefined, AbortSignal.abort()],
  ['timeout', 1000, -1],
  ['killSignal', 'SIGTERM', 'SIGFUZZ'],
  ['shell', false, true],
  ['argv0', 'probe', 'polluted-argv0'],
  ['uid', undefined, 0],
  ['gid', undefined, 0],
]

const EXEC_OPTIONS = [
  ['argv0', 'probe', 'polluted-argv0'],
  ['cwd', '/', '/tmp'],
  ['detached', false, 'yes'],
  ['encoding', 'utf8', 'hex'],
  ['env', {}, { FUZZ_VAR: 'polluted' }],
  ['env.FUZZ_VAR', 'v', undefined],
  ['extendEnv', true, 'yes'],
  ['forceKillAfter', 1000, -1],
  ['input', 'x', 5],
  ['killSignal', 'SIGTERM', 'SIGFUZZ'],
  ['killTree', false, 'yes'],
  ['maxBuffer', 1 << 20, 0],
  ['reject', true, 'yes'],
  ['shell', false, true],
  ['signal', undefined, AbortSignal.abort()],
  ['timeout', 1000, -1],
]

SITES.push(
  {
    id: 'spawn',
    area: 'spawn',
    args: () => ['/bin/sh', PROBE_ARGS(), {}],
    positions: [
      { path: '0', valid: '/bin/sh' }, { path: '1' }, { path: '1.0', valid: '-c' }, { path: '1.2', valid: 'x' },
      { path: '2' }, ...SPAWN_OPTIONS.map(([k, valid, pollute]) => ({ path: `2.${k}`, valid, pollute })),
    ],
    call: (args, ctx) => observe(spindle.spawn(...args), ctx),
    summarize: (v) => v,
  },
  {
    id: 'exec',
    area: 'spawn',
    args: () => ['/bin/sh', PROBE_ARGS(), {}],
    positions: [
      { path: '0', valid: '/bin/sh' }, { path: '1' }, { path: '1.0', valid: '-c' }, { path: '1.2', valid: 'x' },
      { path: '2' }, ...EXEC_OPTIONS.map(([k, valid, pollute]) => ({ path: `2.${k}`, valid, pollute })),
    ],
    call: (args) => spindle.exec(...args),
    summarize: (v) => ({ exitCode: v.exitCode, signal: v.signal, stdout: v.stdout, stderr: v.stderr, failed: v.failed }),
  },
)

/** A running child for the method sites: `cat`, whose stdin is a pipe. */
function liveChild(ctx) {
  const child = spindle.spawn('/bin/cat', [])
  ctx.child = child
  ctx.children.push(child)
  child.on('error', (err) => ctx.events.push(err))
  child.stdin.on('error', (err) => ctx.events.push(err))
  child.stdout.resume()
  return new Promise((resolve) => {
    child.once('spawn', resolve)
    child.once('close', resolve)
  })
}

/** Lets events that a call caused arrive before the case is judged. */
const soon = (value) => new Promise((resolve) => setTimeout(() => resolve(value), 100))

for (const [name, call] of [
  ['kill', (c, a) => c.kill(...a)],
  ['killGroup', (c, a) => c.killGroup(...a)],
  ['ref', (c, a) => c.ref(...a)],
  ['unref', (c, a) => c.unref(...a)],
  ['stdin.write', (c, a, ctx) => c.stdin.write(...a, (err) => { if (err) ctx.events.push(err) })],
  ['stdin.end', (c, a) => c.stdin.end(...a)],
]) {
  SITES.push({
    id: `child.${name}`,
    area: 'spawn',
    setup: liveChild,
    args: () => [],
    // stdin.end(fn): fn is the callback, and what it throws is its own affair (uncaught, as in Node).
    positions: [{ path: '0', callback: name === 'stdin.end' }],
    call: (args, ctx) => {
      const r = call(ctx.child, args, ctx)
      if (ctx.after) ctx.after()
      return soon(r)
    },
  })
}
SITES.push({
  id: 'ChildProcess.kill',
  area: 'spawn',
  // The exported class, constructed directly (never spawned).
  args: () => [],
  positions: [{ path: '0' }],
  call: (args) => new spindle.ChildProcess().kill(...args),
})

const SITE_BY_ID = Object.create(null)
for (const s of SITES) {
  if (SITE_BY_ID[s.id]) throw new Error(`duplicate site ${s.id}`)
  SITE_BY_ID[s.id] = s
}

module.exports = { SITES, SITE_BY_ID, sameClone, snapshot, WORKER }
