// The completion table (lib/native.js): open operations live in an array
// indexed by `id & (size - 1)`, ids skip occupied slots, the table doubles
// before it is half full and shrinks after a burst. Checked against a Map
// model under random open/close/deliver sequences (fast-check): a completion
// reaches its handler exactly while its operation is open, never another
// operation's, and ids of open operations are distinct.
const fc = require('fast-check')
const { CompletionPort } = require('../../lib/native')

const Ok = 0

/** Delivers one completion for `id` through the port's batch path. */
function deliverOne(port, id, value) {
  port.deliver([id, Ok, value])
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('open'), count: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('close'), pick: fc.nat(), count: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('deliver'), pick: fc.nat() }),
  fc.record({ kind: fc.constant('stale'), pick: fc.nat() }),
)

test('a completion reaches exactly the open operation it names (model-checked)', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const port = new CompletionPort()
      const model = new Map() // id → what its handler recorded
      const closed = []
      const open = (n) => {
        for (let i = 0; i < n; i++) {
          const got = []
          const id = port.open((status, value) => got.push(value), { ref: false })
          expect(model.has(id)).toBe(false) // distinct from every open id
          model.set(id, got)
        }
      }
      for (const o of ops) {
        const ids = [...model.keys()]
        if (o.kind === 'open') open(o.count)
        else if (o.kind === 'close') {
          // Close a run of open operations, oldest-first from a random start.
          for (let i = 0; i < Math.min(o.count, ids.length); i++) {
            const id = ids[(o.pick + i) % ids.length]
            if (!model.has(id)) continue
            port.close(id)
            model.delete(id)
            closed.push(id)
          }
        } else if (o.kind === 'deliver' && ids.length > 0) {
          const id = ids[o.pick % ids.length]
          const got = model.get(id)
          const before = got.length
          deliverOne(port, id, `v${id}`)
          expect(got.length).toBe(before + 1)
          expect(got[before]).toBe(`v${id}`)
        } else if (o.kind === 'stale' && closed.length > 0) {
          // A late completion of a closed operation reaches nobody.
          const id = closed[o.pick % closed.length]
          if (model.has(id)) continue
          const totals = [...model.values()].map((g) => g.length)
          deliverOne(port, id, 'stale')
          expect([...model.values()].map((g) => g.length)).toEqual(totals)
        }
        expect(port.counters().outstanding).toBe(model.size)
      }
      for (const id of model.keys()) port.close(id)
      expect(port.counters().outstanding).toBe(0)
    }),
    { numRuns: 200 },
  )
})

test('a long-lived operation keeps its slot while 100,000 others come and go, through growth and shrinking', () => {
  const port = new CompletionPort()
  const seen = []
  const long = port.open((s, v) => seen.push(v), { ref: false })
  for (let round = 0; round < 2; round++) {
    const burst = []
    for (let i = 0; i < 50_000; i++) burst.push(port.open(() => {}, { ref: false }))
    expect(new Set(burst).size).toBe(burst.length)
    expect(burst.includes(long)).toBe(false)
    for (const id of burst) port.close(id)
  }
  deliverOne(port, long, 'still here')
  expect(seen).toEqual(['still here'])
  expect(port.counters().outstanding).toBe(1)
  port.close(long)
  port.close(long) // closing twice is harmless
  expect(port.counters().outstanding).toBe(0)
})

test('ids wrap after 0xfffffffe to 1, never handing out 0 or an id still open', () => {
  const port = new CompletionPort({ firstId: 0xfffffff0 })
  const got = new Map()
  const before = []
  for (let i = 0; i < 10; i++) before.push(port.open((s, v) => got.set(before[i], v), { ref: false }))
  expect(before[0]).toBe(0xfffffff0)
  // Keep 0xfffffff0..0xfffffff9 open; the next ones run to the end and wrap.
  const after = []
  for (let i = 0; i < 20; i++) after.push(port.open(() => {}, { ref: false }))
  expect(after.slice(0, 5)).toEqual([0xfffffffa, 0xfffffffb, 0xfffffffc, 0xfffffffd, 0xfffffffe])
  expect(after.slice(5, 8)).toEqual([1, 2, 3])
  const all = [...before, ...after]
  expect(all.includes(0)).toBe(false)
  expect(new Set(all).size).toBe(all.length)
  // The operations opened before the wrap still get their own completions.
  for (const id of before) port.deliver([id, Ok, `v${id}`])
  for (const id of before) expect(got.get(id)).toBe(`v${id}`)
  for (const id of all) port.close(id)
  expect(port.counters().outstanding).toBe(0)
})
