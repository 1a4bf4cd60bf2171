'use strict'
// What a call threw synchronously. Fails the test if it returned instead
// (a returned promise or pool is settled/destroyed quietly first, so a wrong
// result does not leak an unhandled rejection or a live pool).

function thrown(fn) {
  let result
  try {
    result = fn()
  } catch (err) {
    return err
  }
  if (result && typeof result.then === 'function') result.then(() => {}, () => {})
  if (result && typeof result.destroy === 'function') Promise.resolve(result.destroy()).catch(() => {})
  throw new Error(`expected a synchronous throw, got ${Object.prototype.toString.call(result)}`)
}

module.exports = { thrown }
