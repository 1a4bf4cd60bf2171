'use strict'
// The integers that cross between JavaScript and Rust (src/protocol.rs):
// JavaScript takes them from the binding, and napi refuses a number that is
// not one of them on the way in.
const { binding } = require('../../lib/native')

const ENUMS = ['EventKind', 'Stream', 'StdioMode', 'CompletionStatus', 'CancelOutcome', 'TaskCancel', 'TakeSignal', 'ValueTag']

test('every crossing enum is exported, with distinct integer values', () => {
  for (const name of ENUMS) {
    const e = binding[name]
    expect(typeof e).toBe('object')
    const values = Object.values(e)
    expect(values.length).toBeGreaterThan(1)
    for (const v of values) expect(Number.isInteger(v)).toBe(true)
    expect(new Set(values).size).toBe(values.length)
  }
})

test('a task cancel answer never looks like a thread id; take() signals are below the first task slot', () => {
  for (const v of Object.values(binding.TaskCancel)) expect(v).toBeLessThan(0)
  for (const v of Object.values(binding.TakeSignal)) expect(v).toBeLessThan(3)
})

test('a number that is not a member is refused on the way in', () => {
  if (typeof binding.reactorPause !== 'function') return // no native reactor on this platform
  let err = null
  try {
    binding.reactorPause(1, 9, true)
  } catch (e) {
    err = e
  }
  expect(err).not.toBeNull()
  expect(String(err.message)).toMatch(/Stream|enum|variant/i)
})
