// A batch of completions is delivered in time slices (lib/native.js, "Time
// slicing"): handlers run in order, none twice, none lost, later batches
// queue behind the rest of an earlier one, and the event loop gets a turn
// between slices. (A throwing handler is covered in a child process by
// pool/progress.test.js with support/fixtures/workers/throwing-listener.js.)
const native = require('../../lib/native')

function busy(us) {
  const end = performance.now() + us / 1000
  while (performance.now() < end);
}

function openMany(n, onEach) {
  const ids = []
  for (let i = 0; i < n; i++) {
    const id = native.open((status, value) => {
      onEach(value)
      native.close(id)
    })
    ids.push(id)
  }
  return ids
}

const flatOf = (ids, offset) => ids.flatMap((id, i) => [id, 0, offset + i])

test('a long batch is split: the loop turns in between, order is kept, nothing is lost', async () => {
  const seen = []
  const ids = openMany(400, (v) => {
    busy(20) // 400 × 20 µs = 8 ms of handlers
    seen.push(v)
  })
  let immediateAt = -1
  setImmediate(() => {
    immediateAt = seen.length
  })
  native.deliver(flatOf(ids, 0))
  expect(seen.length).toBeLessThan(400) // the first slice ended early
  await new Promise((resolve) => {
    const check = () => (seen.length === 400 ? resolve() : setImmediate(check))
    check()
  })
  expect(seen).toEqual(Array.from({ length: 400 }, (_, i) => i))
  expect(immediateAt).toBeGreaterThan(0)
  expect(immediateAt).toBeLessThan(400) // ran between two slices
})

test('a batch that arrives while an earlier one waits is delivered after it', async () => {
  const seen = []
  const first = openMany(200, (v) => {
    busy(30)
    seen.push(v)
  })
  const second = openMany(50, (v) => seen.push(v))
  native.deliver(flatOf(first, 0))
  native.deliver(flatOf(second, 1000)) // arrives while the first is unfinished
  await new Promise((resolve) => {
    const check = () => (seen.length === 250 ? resolve() : setImmediate(check))
    check()
  })
  expect(seen).toEqual([
    ...Array.from({ length: 200 }, (_, i) => i),
    ...Array.from({ length: 50 }, (_, i) => 1000 + i),
  ])
})
