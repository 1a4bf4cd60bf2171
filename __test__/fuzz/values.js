'use strict'
// The catalogue of hostile values. Each entry is made fresh inside the case's
// own process (and, for the worker-side sites, inside a pool worker) from its
// id, so a case is fully described by JSON: { site, pos, value }.
//
// Entry fields:
//   id      unique name, used in case descriptions and replay commands
//   cls     the value class (the exhaustive pass covers every site position
//           with every class; a campaign covers every value)
//   make(ctx)    returns the value. It may set ctx.after = fn, run right
//           after the call returns (while any kernel or child still runs).
//   getter(ctx)  instead of make: the value is installed as an accessor at
//           the position (only where the position's parent is an object).
//   race    the value changes its memory while the operation runs: a
//           scrambled result is allowed, only crashes and hangs count.
//
// User errors: whatever a getter, trap or conversion hook of a value throws
// is `userError()`, marked so the checker accepts it when it propagates
// unchanged (as Node's own APIs let user errors through).

const USER_MARK = Symbol.for('spindle.fuzz.userError')

function userError(where) {
  const err = new Error(`fuzz: user code threw (${where})`)
  err[USER_MARK] = true
  return err
}

function isUserError(err) {
  try {
    return err !== null && (typeof err === 'object' || typeof err === 'function') && err[USER_MARK] === true
  } catch {
    return false
  }
}

/** Detaches an ArrayBuffer (or the buffer of a view) by transferring it away. */
function detach(bufOrView) {
  const buf = ArrayBuffer.isView(bufOrView) ? realBuffer(bufOrView) : bufOrView
  return structuredClone(buf, { transfer: [buf] }) // the new owner of the memory
}

const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype)
const taBuffer = Object.getOwnPropertyDescriptor(TypedArrayProto, 'buffer').get
const dvBuffer = Object.getOwnPropertyDescriptor(DataView.prototype, 'buffer').get
const taTag = Object.getOwnPropertyDescriptor(TypedArrayProto, Symbol.toStringTag).get

/** The real buffer behind a view, through intrinsics (never overridable properties). */
function realBuffer(view) {
  return taTag.call(view) !== undefined ? taBuffer.call(view) : dvBuffer.call(view)
}

function resizable(n, max = n * 2 || 16) {
  return new ArrayBuffer(n, { maxByteLength: max })
}

function randomFill(view, seed = 7) {
  let x = seed >>> 0 || 1
  const bytes = new Uint8Array(realBuffer(view), view.byteOffset, view.byteLength)
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    bytes[i] = x & 0xff
  }
  return view
}

/** A full GC, without starting node with --expose-gc (which would change every case). */
function collectGarbage() {
  require('node:v8').setFlagsFromString('--expose-gc')
  require('node:vm').runInNewContext('gc')()
}

function deepArray(depth) {
  let v = []
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

function deepObject(depth) {
  let v = {}
  for (let i = 0; i < depth; i++) v = { v }
  return v
}

function throwingTraps(target) {
  const handler = {}
  for (const trap of ['get', 'set', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'defineProperty',
    'deleteProperty', 'getPrototypeOf', 'setPrototypeOf', 'isExtensible', 'preventExtensions', 'apply',
    'construct']) {
    handler[trap] = () => { throw userError(`proxy ${trap} trap`) }
  }
  return new Proxy(target, handler)
}

function revoked(target) {
  const { proxy, revoke } = Proxy.revocable(target, {})
  revoke()
  return proxy
}

/** A view over a resizable buffer whose own `buffer` property claims a plain one. */
function lyingRab(Ctor, length) {
  const rab = resizable(length * Ctor.BYTES_PER_ELEMENT)
  const view = randomFill(new Ctor(rab))
  const plain = new ArrayBuffer(view.byteLength)
  Object.defineProperty(view, 'buffer', { value: plain })
  Object.defineProperty(plain, 'resizable', { value: false })
  return { view, rab }
}

const V = []
const add = (cls, id, spec) => V.push({ cls, id, ...spec })
const val = (cls, id, make) => add(cls, id, { make })

// ── numbers ────────────────────────────────────────────────────────────────
for (const [id, n] of [
  ['zero', 0], ['negZero', -0], ['one', 1], ['minusOne', -1], ['half', 1.5], ['NaN', NaN],
  ['Infinity', Infinity], ['negInfinity', -Infinity], ['2^31', 2 ** 31], ['2^32', 2 ** 32],
  ['2^53', 2 ** 53], ['neg2^53', -(2 ** 53)], ['MAX_VALUE', Number.MAX_VALUE], ['MIN_VALUE', Number.MIN_VALUE],
  ['2^31-1', 2 ** 31 - 1],
]) val('number', `num:${id}`, () => n)
val('number', 'numberObject', () => Object(5))
for (const [id, n] of [['0n', 0n], ['2^64n', 2n ** 64n], ['-1n', -1n]]) val('bigint', `bigint:${id}`, () => n)

// ── other primitives ───────────────────────────────────────────────────────
val('nullish', 'undefined', () => undefined)
val('nullish', 'null', () => null)
val('boolean', 'true', () => true)
val('boolean', 'false', () => false)
val('string', 'str:empty', () => '')
val('string', 'str:x', () => 'x')
val('string', 'str:nul', () => 'a\u0000b')
val('string', 'str:loneSurrogate', () => '\ud800')
val('string', 'str:long', () => 'a'.repeat(1 << 22))
val('string', 'str:__proto__', () => '__proto__')
val('string', 'str:constructor', () => 'constructor')
val('string', 'str:shellMeta', () => '$(echo FUZZ_INJECTED);`echo FUZZ_INJECTED`')
val('string', 'str:exitOnLoadModule', () => require('node:path').join(__dirname, 'exit-on-load.js'))
val('string', 'str:directory', () => __dirname)
val('string', 'stringObject', () => Object('sha256'))
val('symbol', 'symbol', () => Symbol('fuzz'))
val('symbol', 'symbol:iterator', () => Symbol.iterator)

// ── plain and odd objects ──────────────────────────────────────────────────
val('object', 'obj:empty', () => ({}))
val('object', 'obj:nullProto', () => Object.create(null))
val('object', 'obj:nullProtoWithKeys', () => Object.assign(Object.create(null), { a: 1, signal: 1, encoding: 'hex' }))
// Neither structured-cloneable (a function inside) nor printable (no toString): issue 10 item 16.
val('object', 'obj:nullProtoWithFn', () => Object.assign(Object.create(null), { f() {} }))
val('object', 'obj:classInstance', () => new (class Hostile { constructor() { this.x = 1 } })())
val('object', 'obj:date', () => new Date(NaN))
val('object', 'obj:regexp', () => /x/g)
val('object', 'obj:map', () => new Map([[1, 2]]))
val('object', 'obj:weakMap', () => new WeakMap())
val('object', 'obj:promise', () => Promise.resolve(1))
val('object', 'obj:thenable', () => ({ then() {} })) // never settles if awaited
val('object', 'obj:error', () => new Error('not a user error'))
val('object', 'obj:url', () => new URL('file:///nonexistent/fuzz'))
val('object', 'obj:abortedSignal', () => AbortSignal.abort(new Error('fuzz abort')))
val('object', 'obj:fakeSignal', () => ({ aborted: false, addEventListener() {}, removeEventListener() {} }))
val('object', 'obj:cyclic', () => { const o = { a: 1 }; o.self = o; return o })
val('object', 'obj:deep', () => deepObject(20000))
val('object', 'obj:tinyLimits', () => ({ maxOldGenerationSizeMb: 1, maxYoungGenerationSizeMb: 1 }))
val('object', 'obj:frozen', () => Object.freeze({ a: 1 }))
val('object', 'obj:toStringThrows', () => ({ toString() { throw userError('toString') }, valueOf() { throw userError('valueOf') } }))
val('object', 'obj:toPrimitiveThrows', () => ({ [Symbol.toPrimitive]() { throw userError('toPrimitive') } }))
val('object', 'obj:toPrimitiveSymbol', () => ({ [Symbol.toPrimitive]() { return Symbol('x') } }))
val('object', 'obj:hugeLength', () => ({ length: 2 ** 53, 0: 'a' }))
val('function', 'fn:arrow', () => () => {})
val('function', 'fn:class', () => class K {})
val('function', 'fn:throwing', () => function thrower() { throw userError('function called') })

// ── arrays ─────────────────────────────────────────────────────────────────
val('array', 'arr:empty', () => [])
val('array', 'arr:holes', () => new Array(3))
val('array', 'arr:badFlag', () => ['--fuzz-no-such-flag'])
val('array', 'arr:symbols', () => [Symbol('a'), Symbol('b')])
val('array', 'arr:nullProtoObjs', () => [Object.create(null)])
val('array', 'arr:deep', () => deepArray(20000))
val('array', 'arr:hugeSparse', () => { const a = []; a.length = 2 ** 32 - 1; return a })
val('array', 'arr:throwingElement', () => {
  const a = ['x', 'y']
  Object.defineProperty(a, 1, { get() { throw userError('array element getter') }, enumerable: true })
  return a
})
val('array', 'arr:lyingLength', () => {
  // A Proxy over an array: Array.isArray() is true, `length` lies.
  return new Proxy(['x'], { get(t, k) { return k === 'length' ? 2 ** 32 - 1 : t[k] } })
})
val('array', 'arr:withRevokedProxy', () => [revoked({})])
val('array', 'arr:withDetached', () => { const u = new Uint8Array(8); detach(u.buffer); return [u] })

// ── proxies ────────────────────────────────────────────────────────────────
val('proxy', 'proxy:revoked', () => revoked({}))
val('proxy', 'proxy:revokedArray', () => revoked([]))
val('proxy', 'proxy:revokedFn', () => revoked(function f() {}))
val('proxy', 'proxy:throwingTraps', () => throwingTraps({}))
val('proxy', 'proxy:throwingTrapsArray', () => throwingTraps([]))
val('proxy', 'proxy:overTypedArray', () => new Proxy(new Uint8Array(16), {}))
val('proxy', 'proxy:transparent', () => new Proxy({}, {}))

// ── binary ─────────────────────────────────────────────────────────────────
val('buffer', 'buf:u8', () => randomFill(new Uint8Array(4096)))
val('buffer', 'buf:empty', () => new Uint8Array(0))
val('buffer', 'buf:nodeBuffer', () => Buffer.from('pooled small buffer'))
val('buffer', 'buf:i16', () => randomFill(new Int16Array(1000)))
val('buffer', 'buf:i16big', () => randomFill(new Int16Array(1 << 21)))
val('buffer', 'buf:f64nanPayloads', () => {
  const f = new Float64Array(64)
  const u = new BigUint64Array(f.buffer)
  for (let i = 0; i < f.length; i++) {
    u[i] = i % 4 === 0 ? 0x7ff8000000000000n + BigInt(i) // quiet NaN with a payload
      : i % 4 === 1 ? 0xfff8000000000000n + BigInt(i) // negative NaN with a payload
        : i % 4 === 2 ? 0x8000000000000000n // -0
          : BigInt(i) * 0x0010000000000000n
  }
  return f
})
val('buffer', 'buf:f32negZeroNaN', () => new Float32Array([0, -0, NaN, -NaN, Infinity, -Infinity, 1, -1]))
val('buffer', 'buf:bigExtremes', () => new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]))
val('buffer', 'buf:bigUExtremes', () => new BigUint64Array([2n ** 64n - 1n, 0n, 1n]))
val('buffer', 'buf:clamped', () => randomFill(new Uint8ClampedArray(333)))
val('buffer', 'buf:dataView', () => new DataView(randomFill(new Uint8Array(64)).buffer, 8, 32))
val('buffer', 'buf:arrayBuffer', () => randomFill(new Uint8Array(100)).buffer)
val('buffer', 'buf:sab', () => randomFill(new Uint8Array(new SharedArrayBuffer(256))))
val('buffer', 'buf:growableSab', () => randomFill(new Uint8Array(new SharedArrayBuffer(256, { maxByteLength: 1024 }))))
val('buffer', 'buf:subarrayOffset', () => randomFill(new Float64Array(100)).subarray(3, 50))

val('detached', 'detached:arrayBuffer', () => { const b = new ArrayBuffer(64); detach(b); return b })
val('detached', 'detached:u8', () => { const u = new Uint8Array(64); detach(u); return u })
val('detached', 'detached:f64', () => { const u = new Float64Array(64); detach(u); return u })
val('detached', 'detached:dataView', () => { const b = new ArrayBuffer(64); const d = new DataView(b); detach(b); return d })
val('detached', 'detached:lyingBuffer', () => {
  // Detached for real; its own `buffer` property claims a live buffer.
  const u = new Uint8Array(64)
  detach(u)
  Object.defineProperty(u, 'buffer', { value: new ArrayBuffer(64) })
  return u
})

val('resizable', 'rab:arrayBuffer', () => resizable(64))
val('resizable', 'rab:u8', () => randomFill(new Uint8Array(resizable(64))))
val('resizable', 'rab:f64', () => randomFill(new Float64Array(resizable(8 * 64))))
val('resizable', 'rab:dataView', () => new DataView(resizable(64)))
val('resizable', 'rab:lyingBuffer', () => lyingRab(Float64Array, 4096).view)
val('resizable', 'rab:lyingResizableFlag', () => {
  const rab = resizable(64)
  Object.defineProperty(rab, 'resizable', { value: false })
  return randomFill(new Uint8Array(rab))
})
val('resizable', 'rab:lengthTracking', () => {
  const rab = resizable(64, 1024)
  const u = randomFill(new Uint8Array(rab))
  rab.resize(16) // the view follows the buffer
  return u
})

val('lying', 'lie:byteLength', () => {
  const u = randomFill(new Uint8Array(64))
  Object.defineProperty(u, 'byteLength', { value: 2 ** 40 })
  return u
})
val('lying', 'lie:length', () => {
  const f = randomFill(new Float64Array(64))
  Object.defineProperty(f, 'length', { value: 2 ** 40 })
  return f
})
val('lying', 'lie:byteOffset', () => {
  const u = randomFill(new Uint8Array(64))
  Object.defineProperty(u, 'byteOffset', { value: 2 ** 31 })
  return u
})
val('lying', 'lie:bufferThrows', () => {
  const u = randomFill(new Uint8Array(64))
  Object.defineProperty(u, 'buffer', { get() { throw userError('buffer getter') } })
  return u
})
val('lying', 'lie:toStringTag', () => {
  const o = { length: 4, 0: 1, 1: 2 }
  Object.defineProperty(o, Symbol.toStringTag, { value: 'Float64Array' })
  return o
})
val('lying', 'lie:fakeArrayBuffer', () => {
  const o = { byteLength: 2 ** 40 }
  Object.defineProperty(o, Symbol.toStringTag, { value: 'ArrayBuffer' })
  return o
})
val('lying', 'lie:protoTypedArray', () => Object.setPrototypeOf({ length: 8 }, Float64Array.prototype))

// ── values that act after the call (races against the running operation) ──
add('race', 'race:shrinkLyingRab', {
  race: true,
  make(ctx) {
    // Issue 10 item 2: the view's `buffer` says "plain", the real buffer shrinks under the kernel.
    const { view, rab } = lyingRab(Float64Array, 1 << 18)
    ctx.after = () => rab.resize(0)
    return view
  },
})
add('race', 'race:detachAfter', {
  race: true,
  make(ctx) {
    // Issue 10 item 4, and its documented limit (README.md "Inputs and memory
    // safety", index.d.ts): a kernel copies inputs of at most 64 KiB in all
    // at the call, so this one (32 KiB) may be detached and its memory freed
    // while the kernel runs. A larger input detached AND garbage-collected
    // while a kernel runs is the caller's documented race (Node-API cannot
    // pin the memory): not exercised. Where this value sits beside the
    // site's own kernel input (hashMany's list, or an options position), the
    // call's total may exceed 64 KiB and the input is used in place: the
    // memory is then detached but its new owner kept alive until the case
    // ends, the documented safe case (the promise rejects with ERR_INVALID_STATE).
    const f = randomFill(new Float64Array(4096))
    const beside = ctx.input !== undefined && ctx.pos !== '0' && ctx.pos !== '0.0'
    ctx.after = () => {
      let owner
      try {
        owner = detach(f)
      } catch (err) {
        // Node 22+ refuses to transfer a buffer whose memory is in use (a
        // stream write holds it): nothing was detached, which is the safe
        // outcome this value probes for.
        if (err && err.name === 'DataCloneError') return
        throw err
      }
      if (beside) ctx.cleanups.push(() => owner) // referenced until the case is cleaned up
      collectGarbage() // the detached memory is freed (unless kept above) while the operation may still run
    }
    return f
  },
})
add('race', 'race:mutateWhileRunning', {
  race: true,
  make(ctx) {
    // Issue 10 item 1: the input changes between the kernel's passes.
    const a = randomFill(new Int16Array(1 << 20))
    ctx.after = () => {
      let x = 12345
      const end = Date.now() + 40
      while (Date.now() < end) {
        for (let i = 0; i < 4096; i++) {
          x = (x * 1103515245 + 12345) >>> 0
          a[x % a.length] = x >>> 16
        }
      }
    }
    return a
  },
})
add('race', 'race:sabWrittenByWorker', {
  race: true,
  make(ctx) {
    const sab = new SharedArrayBuffer(1 << 20)
    const u = randomFill(new Uint8Array(sab))
    const { Worker } = require('node:worker_threads')
    const w = new Worker(
      `const { workerData: sab } = require('node:worker_threads');
       const u = new Uint8Array(sab); let x = 1; const end = Date.now() + 150;
       while (Date.now() < end) { for (let i = 0; i < 65536; i++) { x = (x * 1103515245 + 12345) >>> 0; u[x % u.length] = x >>> 24 } }`,
      { eval: true, workerData: sab },
    )
    w.unref()
    ctx.cleanups.push(() => w.terminate())
    return u
  },
})

// ── accessors installed at the position ────────────────────────────────────
add('getter', 'get:throws', { getter: () => function () { throw userError('option getter') } })
add('getter', 'get:detachesInput', {
  getter: (ctx) => function () {
    // Issue 10 item 3: the input is detached while options are read.
    if (ctx.input) detach(ctx.input)
    return undefined
  },
})
add('getter', 'get:shrinksInput', {
  getter: (ctx) => function () {
    if (ctx.inputRab) ctx.inputRab.resize(0)
    return undefined
  },
})
add('getter', 'get:validThenSymbol', {
  // Answers a valid value on the first read, a Symbol afterwards: options must be read once.
  getter: (ctx) => {
    let reads = 0
    return function () { return reads++ === 0 ? ctx.validValue : Symbol('second read') }
  },
})
add('getter', 'get:validThenThrows', {
  getter: (ctx) => {
    let reads = 0
    return function () {
      if (reads++ === 0) return ctx.validValue
      throw userError('second read')
    }
  },
})

const VALUES = Object.create(null)
for (const v of V) {
  if (VALUES[v.id]) throw new Error(`duplicate value id ${v.id}`)
  VALUES[v.id] = v
}
const CLASSES = [...new Set(V.map((v) => v.cls))]

module.exports = { VALUES, CLASSES, detach, isUserError, realBuffer, randomFill, resizable, taTag, userError }
