'use strict'
// spawn(): the entry of the process API. Arguments are read and checked
// (options.js); what the reactor cannot do goes to node:child_process
// (delegate.js); everything else becomes a native ChildProcess
// (child-process.js) whose streams (streams.js, stdin.js) are fed by the
// reactor thread (src/reactor/).

const { ChildProcess, kSpawn } = require('./child-process')
const { delegateSpawn } = require('./delegate')
const options = require('./options')
const { isDetachedView, stdinChunk } = require('./stdin')

function spawnWith(file, args, opts, internal) {
  const normalized = options.normalizeSpawnArguments(file, args, opts)
  if (normalized.delegate !== null) return delegateSpawn(normalized, internal)
  const child = new ChildProcess()
  child[kSpawn](normalized, internal)
  return child
}

/**
 * Spawns `command` on spindle's reactor thread; see index.d.ts.
 */
function spawn(command, args, opts) {
  return spawnWith(command, args, opts, undefined)
}

module.exports = {
  ChildProcess,
  convertToValidSignal: options.convertToValidSignal,
  isArray: options.isArray,
  isDetachedView,
  isEngineTypeError: options.isEngineTypeError,
  normalizeArgs: options.normalizeArgs,
  normalizeSpawnArguments: options.normalizeSpawnArguments,
  setLongTimeout: options.setLongTimeout,
  spawn,
  spawnWith,
  stdinChunk,
  toStringArg: options.toStringArg,
  validateObjectArg: options.validateObjectArg,
  validateSignalArg: options.validateSignalArg,
}
