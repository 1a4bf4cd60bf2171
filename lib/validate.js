'use strict'
// Argument checks shared by every public function. Each throws synchronously
// with a Node-style code.

const { invalidArgType, invalidArgValue, isEngineError, outOfRange } = require('./errors')
const { isArray } = require('./options')

function validateObject(value, name, { optional = true } = {}) {
  if (value === undefined && optional) return {}
  // isArray: a revoked Proxy (whose IsArray throws) is a coded error too.
  if (value === null || typeof value !== 'object' || isArray(value, name)) {
    throw invalidArgType(name, 'of type object', value)
  }
  return value
}

function validateString(value, name) {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  return value
}

function validateFunction(value, name) {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value)
  return value
}

function validateBoolean(value, name) {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value)
  return value
}

function validateInteger(value, name, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value)
  return value
}

function validateAbortSignal(signal, name) {
  if (signal === undefined) return undefined
  // Duck-typed like Node's own check, but both listener methods are needed:
  // the listener is removed when the operation settles.
  let ok
  try {
    ok = signal !== null && typeof signal === 'object' && 'aborted' in signal &&
      typeof signal.addEventListener === 'function' &&
      typeof signal.removeEventListener === 'function'
  } catch (cause) {
    // A revoked Proxy: the engine's uncoded TypeError; a user's trap: its own error.
    if (!isEngineError(cause, 'TypeError')) throw cause
    const err = invalidArgType(name, 'an instance of AbortSignal', signal)
    err.cause = cause
    throw err
  }
  if (!ok) throw invalidArgType(name, 'an instance of AbortSignal', signal)
  return signal
}

function validateOneOf(value, name, allowed) {
  if (!allowed.includes(value)) {
    throw invalidArgValue(name, value, `must be one of: ${allowed.map((a) => `'${a}'`).join(', ')}`)
  }
  return value
}

/** Rejects option names that are not in `known`, to catch typos. */
function validateKnownOptions(options, known, name = 'options') {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw invalidArgValue(`${name}.${key}`, options[key], 'is not a known option')
    }
  }
}

module.exports = {
  validateAbortSignal,
  validateBoolean,
  validateFunction,
  validateInteger,
  validateKnownOptions,
  validateObject,
  validateOneOf,
  validateString,
}
