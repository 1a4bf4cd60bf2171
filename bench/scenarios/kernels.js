'use strict'
// Kernel scenarios (issue 2): spindle's native kernels against the same work
// done on the main thread. Data is generated once per scenario, outside the
// timed region; each measured run of an in-place sort gets a fresh copy.

const crypto = require('node:crypto')
const spindle = require('../..')
const h = require('../harness')

const MiB = 1024 * 1024
const N = h.size(10_000_000, 1_000_000)
const HASH_BYTES = h.size(256 * MiB, 32 * MiB)
const MANY_COUNT = h.size(10_000, 1_000)
const MANY_SIZE = 64 * 1024

const mbps = (bytes, ms) => ({ value: bytes / MiB / (ms / 1000), unit: 'MiB/s' })
const meps = (n, ms) => ({ value: n / 1e6 / (ms / 1000), unit: 'M elem/s' })

/** Random doubles, generated once. */
function randomDoubles(n) {
  const a = new Float64Array(n)
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2e6 - 1e6
  return a
}

/** Random bytes in 64 MiB slices (randomFillSync caps a single call at 2 GiB anyway). */
function randomBytes(n) {
  const b = Buffer.allocUnsafeSlow(n)
  for (let off = 0; off < n; off += 64 * MiB) crypto.randomFillSync(b, off, Math.min(64 * MiB, n - off))
  return b
}

/** The plain JavaScript version of spindle.stats: compensated sum, min, max, mean, variance. */
function jsStats(a) {
  const n = a.length
  let sum = 0
  let comp = 0
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < n; i++) {
    const x = a[i]
    const t = sum + x
    if (Math.abs(sum) >= Math.abs(x)) comp += sum - t + x
    else comp += x - t + sum
    sum = t
    if (x < min) min = x
    if (x > max) max = x
  }
  sum += comp
  const mean = sum / n
  let sq = 0
  for (let i = 0; i < n; i++) {
    const d = a[i] - mean
    sq += d * d
  }
  return { count: n, sum, min, max, mean, variance: sq / n }
}

const close = (a, b, rel = 1e-9) => a === b || Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b))

async function sortScenario() {
  const data = randomDoubles(N)
  const setup = () => data.slice()
  let expected = null
  const main = await h.measure((a) => a.sort(), {
    setup,
    check: (sorted) => {
      expected = sorted
    },
  })
  const off = await h.measure((a) => spindle.sort(a), {
    setup,
    check: (sorted) => {
      if (sorted.length !== expected.length) throw new Error('spindle.sort: length differs')
      for (let i = 0; i < sorted.length; i++) {
        if (!Object.is(sorted[i], expected[i])) throw new Error(`spindle.sort: order differs at ${i}`)
      }
    },
  })
  const rows = [
    h.row('spindle.sort', 'spindle', off, { throughput: meps(N, off.wallMs) }),
    h.row('Float64Array#sort (main thread)', 'anchor', main, { throughput: meps(N, main.wallMs) }),
  ]
  h.fillRatios(rows, 'spindle.sort')
  rows[0].targets.push(h.target('worst loop delay < 5 ms', off.worstDelayMs < 5))
  rows[1].targets.push(h.target('spindle ≥ 4× faster', rows[1].ratio >= 4))
  rows[0].note = 'order identical to Float64Array#sort (checked)'
  return {
    title: `sort ${N.toLocaleString('en-US')} f64`,
    params: { n: N },
    rows,
  }
}

async function statsScenario() {
  const data = randomDoubles(N)
  let expected = null
  const main = await h.measure(() => jsStats(data), {
    check: (s) => {
      expected = s
    },
  })
  const off = await h.measure(() => spindle.stats(data), {
    check: (s) => {
      for (const k of ['count', 'sum', 'min', 'max', 'mean', 'variance']) {
        if (!close(Number(s[k]), expected[k])) throw new Error(`spindle.stats: ${k} ${s[k]} != ${expected[k]}`)
      }
    },
  })
  const rows = [
    h.row('spindle.stats', 'spindle', off, { throughput: meps(N, off.wallMs) }),
    h.row('plain JS loop (main thread)', 'anchor', main, { throughput: meps(N, main.wallMs) }),
  ]
  h.fillRatios(rows, 'spindle.stats')
  rows[0].targets.push(h.target('main thread never blocked > 5 ms', off.worstDelayMs <= 5))
  rows[0].note = 'results equal to the JS loop within 1e-9 (checked)'
  return {
    title: `stats ${N.toLocaleString('en-US')} f64`,
    params: { n: N },
    rows,
  }
}

async function hashBigScenario() {
  const buf = randomBytes(HASH_BYTES)
  const expectedSha = crypto.createHash('sha256').update(buf).digest('hex')
  const cryptoSha = await h.measure(() => crypto.createHash('sha256').update(buf).digest('hex'))
  const blake = await h.measure(() => spindle.hash(buf, 'blake3'), {
    check: (d) => {
      if (!/^[0-9a-f]{64}$/.test(d)) throw new Error(`spindle.hash blake3: bad digest ${d}`)
    },
  })
  const sha = await h.measure(() => spindle.hash(buf, 'sha256'), {
    check: (d) => {
      if (d !== expectedSha) throw new Error('spindle.hash sha256 differs from crypto')
    },
  })
  const blakeRows = [
    h.row('spindle.hash blake3', 'spindle', blake, { throughput: mbps(HASH_BYTES, blake.wallMs) }),
    h.row('crypto sha256 (main thread)', 'anchor', cryptoSha, { throughput: mbps(HASH_BYTES, cryptoSha.wallMs) }),
  ]
  h.fillRatios(blakeRows, 'spindle.hash blake3')
  blakeRows[1].targets.push(h.target('spindle ≥ 2× faster', blakeRows[1].ratio >= 2))
  const shaRows = [
    h.row('spindle.hash sha256', 'spindle', sha, {
      throughput: mbps(HASH_BYTES, sha.wallMs),
      note: 'digest identical to crypto (checked); informational, no target',
    }),
    h.row('crypto sha256 (main thread)', 'anchor', cryptoSha, {
      throughput: mbps(HASH_BYTES, cryptoSha.wallMs),
      note: 'same measurement as in the blake3 table',
    }),
  ]
  h.fillRatios(shaRows, 'spindle.hash sha256')
  const mib = HASH_BYTES / MiB
  return [
    { id: 'hash-blake3', title: `blake3 of ${mib} MiB vs crypto sha256`, params: { bytes: HASH_BYTES }, rows: blakeRows },
    { id: 'hash-sha256', title: `sha256 of ${mib} MiB, spindle vs crypto`, params: { bytes: HASH_BYTES }, rows: shaRows },
  ]
}

async function hashManyScenario() {
  const list = []
  for (let i = 0; i < MANY_COUNT; i++) list.push(randomBytes(MANY_SIZE))
  const total = MANY_COUNT * MANY_SIZE
  let expected = null
  const loop = await h.measure(
    () => {
      const out = new Array(list.length)
      for (let i = 0; i < list.length; i++) out[i] = crypto.createHash('sha256').update(list[i]).digest('hex')
      return out
    },
    {
      check: (d) => {
        expected = d
      },
    },
  )
  const many = await h.measure(() => spindle.hashMany(list, 'sha256'), {
    check: (d) => {
      if (d.length !== expected.length || d.some((x, i) => x !== expected[i])) throw new Error('spindle.hashMany differs from crypto')
    },
  })
  const rows = [
    h.row('spindle.hashMany sha256', 'spindle', many, {
      throughput: mbps(total, many.wallMs),
      note: 'digests identical to crypto, in order (checked)',
    }),
    h.row('crypto.createHash loop (main thread)', 'anchor', loop, { throughput: mbps(total, loop.wallMs) }),
  ]
  h.fillRatios(rows, 'spindle.hashMany sha256')
  rows[1].targets.push(h.target('spindle ≥ 1.7× faster', rows[1].ratio >= 1.7))
  return {
    title: `hashMany sha256, ${MANY_COUNT.toLocaleString('en-US')} × 64 KiB`,
    params: { count: MANY_COUNT, size: MANY_SIZE },
    rows,
  }
}

module.exports = {
  group: 'kernels',
  title: 'Kernels (issue 2)',
  available: () => ['sort', 'stats', 'hash', 'hashMany'].every((k) => typeof spindle[k] === 'function'),
  info: () => ({ kernelThreads: spindle.internals().threads }),
  scenarios: [
    { id: 'sort', run: sortScenario },
    { id: 'stats', run: statsScenario },
    { id: 'hash', run: hashBigScenario },
    { id: 'hashMany', run: hashManyScenario },
  ],
}
