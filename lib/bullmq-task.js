'use strict'
// The task module of a pool served by spindle/bullmq (serve()). Each task's
// argument is one Buffer: the user's module, the export to run and the
// argument's v8 structured-clone bytes, exactly as they came out of Redis.
// The value is decoded here, on the pool's thread, and the result is encoded
// here too: the serving main thread only moves bytes between Redis and the
// pool (and a Buffer crosses the pool at the top level, copied once).
//
//   arg    = u32le headerLength | header JSON { f: filename, n: export name or null }
//            | u8 kind | payload
//   kind   0: v8 bytes of the value; 1: a float64 number (LE); 2: a UTF-8
//          string; 3: true; 4: false; 5: null (JSON's primitives travel
//          without v8's serializer on either side: see `primitiveKind`)
//   result = the task's value itself when it is such a primitive (the pool
//            carries primitives as they are), else v8 bytes of it (a Buffer)
//   ctx.postMessage(m) reaches the caller as v8 bytes of m; ctx.run(arg, { name })
//   runs a subtask of the same module through this same wrapper.

const v8 = require('node:v8')
const { pathToFileURL } = require('node:url')

const modules = new Map() // filename → module (or a Promise of it while an ESM import runs)

function load(filename) {
  let mod = modules.get(filename)
  if (mod !== undefined) return mod
  try {
    mod = require(filename)
  } catch (err) {
    if (!err || (err.code !== 'ERR_REQUIRE_ESM' && err.code !== 'ERR_REQUIRE_ASYNC_MODULE')) throw err
    mod = import(pathToFileURL(filename).href).then((m) => {
      modules.set(filename, m)
      return m
    }, (e) => {
      modules.delete(filename)
      throw e
    })
  }
  modules.set(filename, mod)
  return mod
}

/** The export `name` of `mod`, or its default function: as the Pool resolves them. */
function resolve(mod, filename, name) {
  if (name == null) {
    if (typeof mod === 'function') return mod
    if (mod && typeof mod.default === 'function') return mod.default
    if (mod && mod.default && typeof mod.default.default === 'function') return mod.default.default
    throw new TypeError(`${filename} does not export a default function`)
  }
  const fn = mod?.[name] ?? mod?.default?.[name]
  if (typeof fn !== 'function') throw new TypeError(`${filename} does not export a function named "${name}"`)
  return fn
}

const headers = new Map() // `${name}\0${filename}` → header bytes (few distinct ones per process)

function headerOf(filename, name) {
  const key = `${name == null ? '' : `n${name}`}\0${filename}`
  let header = headers.get(key)
  if (header === undefined) {
    header = Buffer.from(JSON.stringify({ f: filename, n: name ?? null }))
    if (headers.size < 1024) headers.set(key, header)
  }
  return header
}

const V8 = 0
const NUMBER = 1
const STRING = 2
const TRUE = 3
const FALSE = 4
const NULL = 5

/**
 * The kind a value travels as without v8's serializer: a primitive that
 * JSON carries exactly (a finite number other than -0, a well-formed
 * string, a boolean, null), or V8 for anything else.
 */
function primitiveKind(value) {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? NUMBER : V8
    case 'string':
      return value.isWellFormed() ? STRING : V8
    case 'boolean':
      return value ? TRUE : FALSE
    default:
      return value === null ? NULL : V8
  }
}

/** Whether `value` travels as itself (through the pool, and as JSON through BullMQ). */
function isJsonPrimitive(value) {
  return primitiveKind(value) !== V8
}

/** The task argument: `bytes` are v8 bytes of the value. */
function pack(filename, name, bytes) {
  return packKind(filename, name, V8, bytes)
}

/** The task argument for a value that `isJsonPrimitive` accepts (v8 bytes otherwise). */
function packValue(filename, name, value) {
  const kind = primitiveKind(value)
  switch (kind) {
    case NUMBER: {
      const b = Buffer.allocUnsafe(8)
      b.writeDoubleLE(value, 0)
      return packKind(filename, name, kind, b)
    }
    case STRING:
      return packKind(filename, name, kind, Buffer.from(value, 'utf8'))
    case V8:
      return packKind(filename, name, kind, v8.serialize(value))
    default:
      return packKind(filename, name, kind, EMPTY)
  }
}

const EMPTY = Buffer.alloc(0)

function packKind(filename, name, kind, bytes) {
  const header = headerOf(filename, name)
  const out = Buffer.allocUnsafe(5 + header.length + bytes.length)
  out.writeUInt32LE(header.length, 0)
  header.copy(out, 4)
  out[4 + header.length] = kind
  out.set(bytes, 5 + header.length)
  return out
}

/** The value of a packed argument's payload. */
function valueOf(kind, bytes) {
  switch (kind) {
    case V8:
      return v8.deserialize(bytes)
    case NUMBER: {
      if (bytes.length !== 8) break
      // An integral value leaves as a small integer, as v8.deserialize and
      // JSON.parse give it: read back as a double it would steer the task's
      // code onto float arithmetic (fib(27) ran 50% slower that way).
      const n = bytes.readDoubleLE(0)
      return (n | 0) === n ? n | 0 : n
    }
    case STRING:
      return bytes.toString('utf8')
    case TRUE:
      return true
    case FALSE:
      return false
    case NULL:
      return null
  }
  throw new TypeError('spindle: a task argument of an unknown kind')
}

/** What the wrapper answers: a JSON primitive as itself, anything else as v8 bytes. */
function encodeResult(value) {
  return isJsonPrimitive(value) ? value : v8.serialize(value)
}

/** The value of what the wrapper answered (`encodeResult`). */
function decodeResult(result) {
  return Buffer.isBuffer(result) ? v8.deserialize(result) : result
}

const parsed = new Map() // header text → [filename, name]

function unpack(buf) {
  const len = buf.readUInt32LE(0)
  const text = buf.toString('utf8', 4, 4 + len)
  let header = parsed.get(text)
  if (header === undefined) {
    const h = JSON.parse(text)
    header = [h.f, h.n]
    if (parsed.size < 1024) parsed.set(text, header)
  }
  return [header[0], header[1], buf[4 + len], buf.subarray(5 + len)]
}

/** The context the user's function sees: values as structured clones, through this wrapper. */
class RemoteContext {
  #ctx
  #filename
  constructor(ctx, filename) {
    this.#ctx = ctx
    this.#filename = filename
  }

  postMessage(message) {
    return this.#ctx.postMessage(v8.serialize(message))
  }

  run(arg, options) {
    let name = null
    let signal
    if (options !== undefined && options !== null) {
      if (Object.prototype.hasOwnProperty.call(options, 'name')) name = options.name
      if (Object.prototype.hasOwnProperty.call(options, 'signal')) signal = options.signal
    }
    let payload
    try {
      payload = packValue(this.#filename, name, arg)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#ctx.run(payload, signal === undefined ? undefined : { signal }).then(decodeResult)
  }
}

function call(mod, filename, name, kind, bytes, ctx) {
  const fn = resolve(mod, filename, name)
  const result = fn(valueOf(kind, bytes), new RemoteContext(ctx, filename))
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    return Promise.resolve(result).then(encodeResult)
  }
  return encodeResult(result)
}

module.exports = function remoteTask(buf, ctx) {
  const [filename, name, kind, bytes] = unpack(buf)
  const mod = load(filename)
  if (mod instanceof Promise) return mod.then((m) => call(m, filename, name, kind, bytes, ctx))
  return call(mod, filename, name, kind, bytes, ctx)
}

module.exports.pack = pack
module.exports.packValue = packValue
module.exports.isJsonPrimitive = isJsonPrimitive
