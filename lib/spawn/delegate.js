'use strict'
// What the reactor cannot do goes to node:child_process, transparently:
// 'ipc' (with serialization), descriptor numbers, streams with a
// descriptor, more than three stdio entries, uid/gid, every platform
// without the reactor, and everything when SPINDLE_REACTOR=node. The child
// is then child_process's own ChildProcess (with spindle's killGroup).

const { invalidArgValue } = require('../errors')
const { convertToValidSignal, isEngineTypeError, setLongTimeout } = require('./options')
const { stdinChunk } = require('./stdin')

function delegateSpawn(opts, internal) {
  const { file, args, options: o, stdio } = opts.delegate
  const env = { __proto__: null }
  for (const pair of opts.envPairs) {
    const eq = pair.indexOf('=', 1)
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  const options = { __proto__: null, env }
  for (const key of ['argv0', 'cwd', 'detached', 'gid', 'serialization', 'shell', 'signal', 'uid',
    'windowsHide', 'windowsVerbatimArguments']) {
    if (o[key] !== undefined) options[key] = o[key]
  }
  // -0 passes child_process's int32 check but fails its native one, which
  // aborts the process (Node 20): give it +0.
  for (const id of ['uid', 'gid']) if (options[id] != null) options[id] |= 0
  if (opts.cwd === undefined) delete options.cwd // '' means this process's cwd
  options.killSignal = opts.killSignal
  if (stdio !== undefined) options.stdio = stdio
  // exec's killTree: a group of its own (child_process offers one through detached).
  if (internal?.newGroup) options.detached = true
  let child
  try {
    child = require('node:child_process').spawn(file, args, options)
  } catch (cause) {
    if (!isEngineTypeError(cause)) throw cause
    const err = invalidArgValue('options', o, 'could not be used')
    err.cause = cause
    throw err
  }
  // child_process makes its sockets from option objects that inherit from
  // Object.prototype: a polluted `encoding` turns their chunks into strings.
  // A fresh child socket never has an encoding of its own, so undo it.
  for (const stream of [child.stdout, child.stderr]) {
    const state = stream?._readableState
    if (state != null && state.encoding != null && state.decoder != null) {
      state.decoder = null
      state.encoding = null
    }
  }
  // spindle's coded errors for hostile signals and stdin chunks hold here
  // too: checked first, then child_process's own methods run.
  const nodeKill = child.kill
  Object.defineProperty(child, 'kill', {
    configurable: true,
    writable: true,
    value(sig) {
      if (sig !== undefined && sig !== 0) convertToValidSignal(sig)
      return Reflect.apply(nodeKill, child, [sig])
    },
  })
  const stdin = child.stdin
  if (stdin != null) {
    const nodeWrite = stdin.write
    const nodeEnd = stdin.end
    stdin.write = function write(chunk, encoding, cb) {
      return Reflect.apply(nodeWrite, this, [stdinChunk(chunk), encoding, cb])
    }
    stdin.end = function end(chunk, encoding, cb) {
      if (chunk != null && typeof chunk !== 'function') chunk = stdinChunk(chunk)
      return Reflect.apply(nodeEnd, this, [chunk, encoding, cb])
    }
  }
  const grouped = !!options.detached
  Object.defineProperty(child, 'killGroup', {
    configurable: true,
    writable: true,
    value(sig) {
      if (!grouped || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
        return child.kill(sig)
      }
      const signal = sig === 0 ? 0 : convertToValidSignal(sig === undefined ? 'SIGTERM' : sig)
      try {
        process.kill(-child.pid, signal)
        child.killed = true
        return true
      } catch {
        return child.kill(sig)
      }
    },
  })
  if (opts.timeout > 0) {
    const timer = setLongTimeout(() => {
      try {
        child.kill(opts.killSignal)
      } catch (err) {
        child.emit('error', err)
      }
    }, opts.timeout)
    child.once('exit', () => timer.clear())
    child.once('error', () => timer.clear())
  }
  return child
}

module.exports = { delegateSpawn }
