'use strict'
// Shared by the case runner and the fuzz worker: putting a hostile value at a
// position, describing whatever was thrown, and awaiting with a bound.

const { VALUES, isUserError } = require('./values')

/**
 * Puts `value` (an entry of the catalogue) at `path` in `args`: '2' is the
 * third argument, '2.signal' the `signal` key of the third argument (made an
 * object if absent), '1.0' the first element of the second argument.
 */
function place(args, path, entry, ctx) {
  const segs = path.split('.')
  if (segs.length === 1) {
    if (entry.getter) throw new Error(`harness: getter value ${entry.id} at a top-level position`)
    args[Number(segs[0])] = entry.make(ctx)
    return
  }
  let parent = args
  for (let i = 0; i < segs.length - 1; i++) {
    const key = i === 0 ? Number(segs[0]) : segs[i]
    if (parent[key] === undefined || parent[key] === null) parent[key] = {}
    parent = parent[key]
  }
  const key = segs[segs.length - 1]
  if (entry.getter) {
    Object.defineProperty(parent, key, { get: entry.getter(ctx), enumerable: true, configurable: true })
  } else {
    parent[key] = entry.make(ctx)
  }
}

/** The parent object and key at `path` (for pollution: the key is removed, then inherited). */
function parentOf(args, path) {
  const segs = path.split('.')
  let parent = args
  for (let i = 0; i < segs.length - 1; i++) {
    const key = i === 0 ? Number(segs[0]) : segs[i]
    if (parent[key] === undefined || parent[key] === null) parent[key] = {}
    parent = parent[key]
  }
  return { parent, key: segs[segs.length - 1] }
}

function safe(fn, fallback) {
  try {
    return fn()
  } catch {
    return fallback
  }
}

/** A JSON description of a thrown or rejected value, robust to hostile values. */
function describeError(err) {
  const isObj = err !== null && (typeof err === 'object' || typeof err === 'function')
  const d = { type: typeof err, user: isUserError(err) }
  if (!isObj) {
    d.message = safe(() => String(err).slice(0, 300), '<unprintable>')
    return d
  }
  const code = safe(() => err.code, undefined)
  d.code = typeof code === 'string' ? code : undefined
  d.codeType = typeof code
  d.name = safe(() => String(err.name), undefined)
  d.message = safe(() => String(err.message).slice(0, 300), '<unprintable>')
  d.domException = safe(() => err instanceof DOMException, false)
  d.ctor = safe(() => err.constructor?.name, undefined)
  return d
}

/** Awaits `p` at most `ms`; resolves { outcome: 'ok'|'rejected'|'pending', value|error }. */
function settle(p, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ outcome: 'pending' }), ms)
    Promise.resolve(p).then(
      (value) => { clearTimeout(timer); resolve({ outcome: 'ok', value }) },
      (error) => { clearTimeout(timer); resolve({ outcome: 'rejected', error }) },
    )
  })
}

module.exports = { VALUES, describeError, parentOf, place, settle }
