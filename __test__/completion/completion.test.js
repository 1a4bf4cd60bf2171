// The batched completion path: many completions, few wakes of the event
// loop; and a Rust panic becomes a rejected promise, not an abort.
//
// The wake counter is a count, not a timing: while the main thread is busy
// launching kernels it cannot drain the queue, so every completion pushed
// meanwhile joins the one batch whose wake is already pending.
const crypto = require('node:crypto')
const spindle = require('../..')
const { triggerPanic } = require('../../lib/kernels')

const N = 20_000

function delta(before, after) {
  return { completions: after.completions - before.completions, wakes: after.wakes - before.wakes }
}

describe('one wake per batch', () => {
  test(`${N} hashes of tiny buffers launched at once: ${N} completions, far fewer wakes`, async () => {
    const inputs = Array.from({ length: N }, (_, i) => Buffer.from(`item ${i}`))
    const before = spindle.internals()
    const digests = await Promise.all(inputs.map((b) => spindle.hash(b, 'sha256')))
    const d = delta(before, spindle.internals())
    expect(d.completions).toBe(N)
    expect(d.wakes).toBeGreaterThanOrEqual(1)
    expect(d.wakes).toBeLessThan(d.completions / 10)
    // Every result reached the promise of the call that asked for it.
    for (let i = 0; i < N; i += 997) {
      expect(digests[i]).toBe(crypto.createHash('sha256').update(inputs[i]).digest('hex'))
    }
    expect(new Set(digests).size).toBe(N)
  })

  test(`${N} stats of tiny arrays, mixed with sorts: every promise gets its own result`, async () => {
    const arrays = Array.from({ length: N }, (_, i) => Int32Array.from([i, -i, 2 * i]))
    const before = spindle.internals()
    const results = await Promise.all(arrays.map((a, i) => (i % 2 ? spindle.stats(a) : spindle.sort(a))))
    const d = delta(before, spindle.internals())
    expect(d.completions).toBe(N)
    expect(d.wakes).toBeLessThan(d.completions / 10)
    for (let i = 0; i < N; i++) {
      if (i % 2) {
        const s = results[i]
        if (s.count !== 3 || s.sum !== 2 * i || s.min !== -i || s.max !== 2 * i) {
          throw new Error(`stats ${i}: ${JSON.stringify(s)}`)
        }
      } else if (results[i] !== arrays[i] || arrays[i][0] !== -i || arrays[i][2] !== 2 * i) {
        throw new Error(`sort ${i}: ${Array.from(arrays[i])}`)
      }
    }
  })

  test('one kernel awaited at a time: one wake per completion (the counter is real)', async () => {
    const before = spindle.internals()
    for (let i = 0; i < 50; i++) await spindle.hash(`x${i}`, 'sha256')
    const d = delta(before, spindle.internals())
    expect(d.completions).toBe(50)
    expect(d.wakes).toBe(50)
  })

  test('nothing is left outstanding', async () => {
    const c = spindle.internals()
    expect(c.outstanding).toBe(0)
    expect(c.inflight).toBe(0)
  })
})

describe('a Rust panic', () => {
  test('becomes a rejection with ERR_SPINDLE_PANIC', async () => {
    let err = null
    try {
      await triggerPanic()
    } catch (e) {
      err = e
    }
    expect(err).not.toBeNull()
    expect(err.code).toBe('ERR_SPINDLE_PANIC')
    expect(err.message).toMatch(/panic/)
    expect(err.message).toMatch(/deliberate panic for testing/)
  })

  test('many panics at once, and the process keeps working after', async () => {
    const settled = await Promise.allSettled(Array.from({ length: 20 }, () => triggerPanic()))
    for (const s of settled) {
      expect(s.status).toBe('rejected')
      expect(s.reason.code).toBe('ERR_SPINDLE_PANIC')
    }
    // Every pool thread is still there and works.
    const a = Float64Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 100_003)
    const expected = a.slice().sort()
    await spindle.sort(a)
    expect(Buffer.from(a.buffer).equals(Buffer.from(expected.buffer))).toBe(true)
    expect(await spindle.hash('abc', 'sha256')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(spindle.internals().outstanding).toBe(0)
  })
})
