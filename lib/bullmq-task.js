'use strict'
// The task module of a pool served by spindle/bullmq (serve()). Each task's
// argument is one Buffer: the user's module, the export to run and the
// argument's v8 structured-clone bytes, exactly as they came out of Redis.
// The value is decoded here, on the pool's thread, and the result is encoded
// here too: the serving main thread only moves bytes between Redis and the
// pool (and a Buffer crosses the pool at the top level, copied once).
//
//   arg    = u32le headerLength | header JSON { f: filename, n: export name or null } | v8 bytes
//   result = v8 bytes of the task's value
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

function pack(filename, name, bytes) {
  const header = Buffer.from(JSON.stringify({ f: filename, n: name ?? null }))
  const out = Buffer.allocUnsafe(4 + header.length + bytes.length)
  out.writeUInt32LE(header.length, 0)
  header.copy(out, 4)
  out.set(bytes, 4 + header.length)
  return out
}

function unpack(buf) {
  const len = buf.readUInt32LE(0)
  const header = JSON.parse(buf.toString('utf8', 4, 4 + len))
  return [header.f, header.n, buf.subarray(4 + len)]
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
      payload = pack(this.#filename, name, v8.serialize(arg))
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#ctx.run(payload, signal === undefined ? undefined : { signal }).then((bytes) => v8.deserialize(bytes))
  }
}

function call(mod, filename, name, bytes, ctx) {
  const fn = resolve(mod, filename, name)
  const result = fn(v8.deserialize(bytes), new RemoteContext(ctx, filename))
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    return Promise.resolve(result).then((value) => v8.serialize(value))
  }
  return v8.serialize(result)
}

module.exports = function remoteTask(buf, ctx) {
  const [filename, name, bytes] = unpack(buf)
  const mod = load(filename)
  if (mod instanceof Promise) return mod.then((m) => call(m, filename, name, bytes, ctx))
  return call(mod, filename, name, bytes, ctx)
}

module.exports.pack = pack
