'use strict'
// How a task's exception crosses threads: v8's structured clone keeps an
// Error's message and stack but drops `code` and other own properties, so the
// worker sends a plain record and the caller rebuilds an Error from it. And
// how one completion of a task is read: a value, a progress message or an
// error (the values themselves are encoded in lib/pool/values.js).

const v8 = require('node:v8')
const { CompletionStatus } = require('../../binding.js')
const { errorWithCode } = require('../errors')
const { decode, deserializeInline, serializeInline } = require('./values')
const { FunctionPrototypeToString, ObjectPrototypeToString, ReflectApply, isNativeError } = require('../intrinsics')

const BUILTIN = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError }

/**
 * A short description that never runs user code at length: String() of a
 * primitive, a function's source (Function.prototype.toString, no user code),
 * the tag of an object (String() of an array with a lying length would join
 * for ever). Never throws: a revoked Proxy has no description.
 */
function describe(value) {
  try {
    if (typeof value === 'symbol') return value.toString()
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return String(value)
    if (typeof value === 'function') {
      const source = ReflectApply(FunctionPrototypeToString, value, [])
      return source.length > 200 ? `${source.slice(0, 200)}...` : source
    }
    return ReflectApply(ObjectPrototypeToString, value, [])
  } catch {
    return undefined
  }
}

/** The type of a thrown value, for a message; never throws. */
function describeType(value) {
  if (value === null) return 'null'
  const type = typeof value
  if (type === 'function') {
    let source = ''
    try {
      source = ReflectApply(FunctionPrototypeToString, value, [])
    } catch {}
    return /^class\b/.test(source) ? 'class' : 'function'
  }
  if (type !== 'object') return type
  let tag
  try {
    tag = ReflectApply(ObjectPrototypeToString, value, []).slice(8, -1)
  } catch {
    return 'revoked Proxy'
  }
  let thenable = false
  try {
    thenable = typeof value.then === 'function'
  } catch {}
  return thenable ? `${tag}, thenable` : tag
}

/** An ERR_SPINDLE_UNCLONEABLE record that says what the task threw: its type and, when cheap, its text. */
function uncloneableRecord(value) {
  const text = describe(value)
  return {
    name: 'Error',
    message: `The task threw a value that could not be cloned (${describeType(value)})${text === undefined ? '' : `: ${text}`}`,
    stack: undefined,
    props: { code: 'ERR_SPINDLE_UNCLONEABLE' },
  }
}

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
      record.props[key] = describe(err[key])
    }
  }
  if ('cause' in err && depth < 8) {
    // A cause that cannot travel does not cost the error its own code.
    const cause = err.cause
    try {
      record.cause = toRecord(cause, depth + 1)
      serializeInline(record.cause)
    } catch {
      record.cause = uncloneableRecord(cause)
    }
  }
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
    // Views inside are read through intrinsic getters, never lying properties.
    return serializeInline(toRecord(err))
  } catch {}
  try {
    // Not cloneable (a Symbol, a Proxy, a detached view...): a coded error
    // that says what it was.
    return v8.serialize(uncloneableRecord(err))
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
  return fromRecord(deserializeInline(bytes))
}

/**
 * Interprets one completion of a task: 'ok' with the decoded result, 'error'
 * with the Error (rebuilt when the task threw), or 'message' with a progress
 * message. (status: a binding.CompletionStatus; Rejected: the task threw)
 */
function decodeCompletion(status, value) {
  try {
    if (status === CompletionStatus.Ok) return ['ok', decode(value)]
    if (status === CompletionStatus.Message) return ['message', decode(value)]
    if (status === CompletionStatus.Rejected) return ['error', deserializeError(value)]
    return ['error', value]
  } catch (err) {
    if (err?.code !== undefined) return ['error', err]
    return ['error', errorWithCode('A task value could not be deserialized', 'ERR_SPINDLE_UNCLONEABLE', { cause: err })]
  }
}

module.exports = { decodeCompletion, deserializeError, serializeError }
