'use strict'
// Reading what JavaScript hands us. Options objects are user-controlled: a
// property may be inherited (prototype pollution: `Object.prototype.shell =
// true` set by some other code), a getter may answer differently on each
// read, and the object may be a (revoked) Proxy. So every options object is
// read exactly once, own properties only, into a null-prototype snapshot, and
// the rest of the code reads the snapshot. The intrinsics used here are
// captured when this module loads, so later changes to
// `Object.prototype.hasOwnProperty` or `Reflect` do not reach us.

const { invalidArgValue } = require('./errors')

const ObjectPrototypeHasOwnProperty = Object.prototype.hasOwnProperty
const ReflectApply = Reflect.apply

/**
 * Whether `obj` has `key` as an own property. A revoked Proxy (or a Proxy
 * whose trap throws a TypeError of the engine's) becomes ERR_INVALID_ARG_VALUE
 * with the engine's error as `cause`; an error a user trap throws on purpose
 * propagates unchanged, as it does from Node's own APIs.
 */
function hasOwn(obj, key, name = 'options') {
  try {
    return ReflectApply(ObjectPrototypeHasOwnProperty, obj, [key])
  } catch (cause) {
    throw unreadable(name, obj, cause)
  }
}

/** `obj[key]` if `key` is an own property of `obj`, else `undefined`. */
function getOwn(obj, key, name = 'options') {
  if (obj === undefined || obj === null) return undefined
  if (!hasOwn(obj, key, name)) return undefined
  try {
    return obj[key]
  } catch (cause) {
    throw unreadable(`${name}.${String(key)}`, obj, cause)
  }
}

/**
 * A null-prototype snapshot of the own properties `keys` of `obj` (each read
 * once; absent ones are left out). `obj` must already be known to be an
 * object (or undefined/null, which give an empty snapshot).
 */
function snapshot(obj, keys, name = 'options') {
  const out = { __proto__: null }
  if (obj === undefined || obj === null) return out
  for (const key of keys) {
    if (hasOwn(obj, key, name)) {
      try {
        out[key] = obj[key]
      } catch (cause) {
        throw unreadable(`${name}.${String(key)}`, obj, cause)
      }
    }
  }
  return out
}

// Engine errors (revoked Proxy, a trap that broke an invariant) are
// TypeErrors that carry no code; anything else was thrown by user code and
// is passed through as it is.
function unreadable(name, obj, cause) {
  if (cause instanceof TypeError && cause.code === undefined) {
    const err = invalidArgValue(name, obj, 'could not be read')
    err.cause = cause
    return err
  }
  return cause
}

module.exports = { getOwn, hasOwn, snapshot }
