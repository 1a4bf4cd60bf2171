// Property-based: arbitrary structured-cloneable values sent to a worker and
// back through the Pool arrive as a plain worker_threads postMessage round
// trip delivers them (types, contents, identity of shared references,
// cycles). Seeded and reproducible: on a failure fast-check prints the
// counterexample, its seed and its path; set SPINDLE_FC_SEED to replay
// another seed. (Issue 11, "Values: property-based, against the reference".)
const { Worker } = require('node:worker_threads')
const { test, fc } = require('@fast-check/jest')
const { worker, Pool } = require('../support/pool-helpers')

const SEED = Number(process.env.SPINDLE_FC_SEED ?? 20261130)
const RUNS = Number(process.env.SPINDLE_FC_RUNS ?? 1500)
const SIDE_MIN = 64 * 1024

let pool
let ref
let nextId = 0
const waiting = new Map()

beforeAll(() => {
  pool = new Pool({ filename: worker('values.js'), maxThreads: 1 })
  // The reference: a plain worker_threads echo.
  ref = new Worker("require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m))", { eval: true })
  ref.on('message', ({ id, value }) => {
    waiting.get(id)(value)
    waiting.delete(id)
  })
})
afterAll(async () => {
  await pool.destroy()
  await ref.terminate()
})

function postMessageRoundTrip(value) {
  const id = ++nextId
  return new Promise((resolve) => {
    waiting.set(id, resolve)
    ref.postMessage({ id, value })
  })
}

const tag = (x) => Object.prototype.toString.call(x).slice(8, -1)

/**
 * A JSON-able description of a value: types, contents, and shared
 * references/cycles as back-references to the first visit. A Buffer is
 * described as the Uint8Array that postMessage delivers for it (spindle may
 * keep it a Buffer, as documented).
 */
function describe(value, seen = new Map()) {
  const t = typeof value
  if (t === 'number') return Object.is(value, -0) ? ['-0'] : Number.isNaN(value) ? ['NaN'] : value
  if (t === 'bigint') return ['bigint', String(value)]
  if (value === null || t !== 'object') return value === undefined ? ['undefined'] : value
  if (seen.has(value)) return ['ref', seen.get(value)]
  const id = seen.size
  seen.set(value, id)
  let kind = tag(value)
  if (kind === 'Uint8Array' && Buffer.isBuffer(value)) kind = 'Uint8Array'
  if (ArrayBuffer.isView(value)) {
    const bytes = Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
    return [kind, id, value.byteLength, tag(value.buffer), hash(bytes)]
  }
  if (kind === 'ArrayBuffer' || kind === 'SharedArrayBuffer') {
    return [kind, id, value.byteLength, hash(Array.from(new Uint8Array(value)))]
  }
  if (kind === 'Date') return [kind, id, value.getTime()]
  if (kind === 'RegExp') return [kind, id, value.source, value.flags]
  if (kind === 'Error') return [kind, id, value.name, value.message]
  if (kind === 'Map') return [kind, id, [...value].map(([k, v]) => [describe(k, seen), describe(v, seen)])]
  if (kind === 'Set') return [kind, id, [...value].map((v) => describe(v, seen))]
  if (kind === 'Boolean' || kind === 'Number' || kind === 'String' || kind === 'BigInt') {
    return [kind, id, describe(value.valueOf(), seen)]
  }
  const keys = Object.keys(value)
  const out = [kind, id, Array.isArray(value) ? value.length : -1]
  for (const k of keys) out.push([k, describe(value[k], seen)])
  return out
}

function hash(bytes) {
  let h = 2166136261
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0
  return `${bytes.length}:${h}`
}

const VIEWS = ['Uint8Array', 'Int8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
  'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array']

/** A binary value: every TypedArray kind (small, sometimes large), Buffers, DataViews at offsets, (Shared)ArrayBuffers. */
const binary = fc.record({
  kind: fc.constantFrom(...VIEWS, 'Buffer', 'DataView', 'ArrayBuffer', 'SharedArrayBuffer', 'SharedView'),
  size: fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 0, max: 64 }) }, { weight: 1, arbitrary: fc.constant(SIDE_MIN + 8) }),
  offset: fc.integer({ min: 0, max: 8 }),
  fill: fc.integer({ min: 0, max: 255 }),
}).map(({ kind, size, offset, fill }) => {
  const bytes = (n) => {
    const u = new Uint8Array(n)
    for (let i = 0; i < n; i++) u[i] = (fill + i * 31) & 255
    return u
  }
  if (kind === 'Buffer') return Buffer.from(bytes(size))
  if (kind === 'ArrayBuffer') return bytes(size).buffer
  if (kind === 'SharedArrayBuffer' || kind === 'SharedView') {
    const sab = new SharedArrayBuffer(size + 8)
    new Uint8Array(sab).set(bytes(size + 8))
    return kind === 'SharedView' ? new Int32Array(sab, 0, (size + 8) >> 2) : sab
  }
  if (kind === 'DataView') {
    const buf = bytes(size + offset).buffer
    return new DataView(buf, offset, size)
  }
  const Ctor = globalThis[kind]
  const n = Math.floor(size / Ctor.BYTES_PER_ELEMENT)
  const buf = bytes((n + offset) * Ctor.BYTES_PER_ELEMENT).buffer
  return new Ctor(buf, offset * Ctor.BYTES_PER_ELEMENT, n)
})

const leaf = fc.oneof(
  fc.constant(undefined), fc.constant(null), fc.boolean(),
  fc.double(), fc.integer(), fc.string(), fc.string({ unit: 'grapheme' }), fc.bigInt(),
  fc.date({ noInvalidDate: false }),
  fc.constantFrom(/a+b/gi, /x/, /^\d{2,}$/m),
  fc.string().map((m) => new Error(m)),
  fc.string().map((m) => new RangeError(m)),
  binary,
)

const { value: tree } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object'), tie('map'), tie('set'), tie('sparse')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  sparse: fc.tuple(fc.array(tie('value'), { maxLength: 3 }), fc.integer({ min: 0, max: 20 })).map(([items, len]) => {
    const a = []
    a.length = len
    items.forEach((v, i) => { a[(i * 7) % Math.max(len, 1)] = v })
    return a
  }),
  object: fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 5 }),
  map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((es) => new Map(es)),
  set: fc.array(tie('value'), { maxLength: 3 }).map((vs) => new Set(vs)),
}))

/** Sometimes add a shared reference or a cycle. */
const value = fc.tuple(tree, fc.constantFrom('none', 'shared', 'cycle')).map(([v, how]) => {
  if (how === 'none' || v === null || typeof v !== 'object') return v
  if (how === 'shared') return { a: v, b: v, c: [v] }
  const holder = { v }
  holder.self = holder
  holder.list = [holder, v]
  return holder
})

test.prop([value], { seed: SEED, numRuns: RUNS })(
  'a value crosses the Pool as it crosses postMessage',
  async (v) => {
    const [viaPool, viaPort] = await Promise.all([pool.run(v), postMessageRoundTrip(v)])
    expect(describe(viaPool)).toEqual(describe(viaPort))
  },
  120_000,
)

test.prop([fc.constantFrom(...VIEWS, 'Buffer', 'DataView'), fc.integer({ min: SIDE_MIN, max: 4 * SIDE_MIN }), fc.string({ maxLength: 50 })], { seed: SEED, numRuns: 40 })(
  'a view of 64 KiB or more nested in a value is copied once per direction',
  async (kind, size, note) => {
    const Ctor = kind === 'Buffer' ? Buffer : globalThis[kind]
    const bytes = size - (size % 8)
    const big = kind === 'Buffer' ? Buffer.alloc(bytes, 7) : kind === 'DataView' ? new DataView(new ArrayBuffer(bytes)) : new Ctor(bytes / Ctor.BYTES_PER_ELEMENT)
    const before = pool.stats().bytesCopied
    const back = await pool.run({ big, note })
    const copied = pool.stats().bytesCopied - before
    expect(back.big.byteLength).toBe(bytes)
    expect(copied).toBeGreaterThanOrEqual(2 * bytes)
    expect(copied).toBeLessThan(2 * bytes + 4096) // plus the small serialized rest, never a second copy
  },
  60_000,
)
