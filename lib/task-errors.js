'use strict'
// How a task's exception crosses threads: v8's structured clone keeps an
// Error's message and stack but drops `code` and other own properties, so the
// worker sends a plain record and the caller rebuilds an Error from it.

const v8 = require('node:v8')
const { isNativeError } = require('node:util').types

const BUILTIN = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError }

function toRecord(err, depth = 0) {
  if (!(err instanceof Error) && !isNativeError(err)) {
    return { thrown: err }
  }
  const record = {
    name: err.name,
    message: err.message,
    stack: err.stack,
    props: {},
  }
  for (const key of Object.keys(err)) {
    if (key === 'cause') continue
    try {
      v8.serialize(err[key])
      record.props[key] = err[key]
    } catch {
      record.props[key] = String(err[key])
    }
  }
  if ('cause' in err && depth < 8) record.cause = toRecord(err.cause, depth + 1)
  return record
}

/**
 * Serializes a thrown value for the trip back to the caller. Never throws:
 * a value that neither the serializer nor String() can handle (a Proxy whose
 * traps throw, an object without a prototype, a getter that throws) becomes
 * an ERR_SPINDLE_UNCLONEABLE error, so only its own task fails.
 */
function serializeError(err) {
  try {
    return v8.serialize(toRecord(err))
  } catch {}
  try {
    return v8.serialize({ name: 'Error', message: String(err), stack: undefined, props: {} })
  } catch {}
  return v8.serialize({
    name: 'Error',
    message: 'The task threw a value that could neither be cloned nor converted to a string',
    stack: undefined,
    props: { code: 'ERR_SPINDLE_UNCLONEABLE' },
  })
}

function fromRecord(record) {
  if ('thrown' in record) return record.thrown
  const Ctor = BUILTIN[record.name] || Error
  const err = new Ctor(record.message)
  if (!BUILTIN[record.name]) {
    Object.defineProperty(err, 'name', { value: record.name, writable: true, configurable: true })
  }
  if (record.stack !== undefined) err.stack = record.stack
  if (record.cause !== undefined) {
    Object.defineProperty(err, 'cause', {
      value: fromRecord(record.cause), writable: true, configurable: true,
    })
  }
  Object.assign(err, record.props)
  return err
}

/** Rebuilds the Error a task threw. */
function deserializeError(bytes) {
  return fromRecord(v8.deserialize(bytes))
}

module.exports = { deserializeError, serializeError }
