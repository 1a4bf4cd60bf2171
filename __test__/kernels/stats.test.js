// Differential tests: spindle.stats against a plain JavaScript reference.
//
// The reference sums with Shewchuk's exact algorithm (correctly rounded, as
// Python's math.fsum), takes min/max with Math.min/Math.max semantics (-0 is
// below +0) and computes the population variance in two passes. Integer and
// BigInt inputs have exact sums, so there every field but the variance must
// match exactly; random floats must match within a few ulps of the sum of
// magnitudes.
const spindle = require('../..')

// Globals are slow to look up inside jest's vm context; the hot loops below
// use these locals instead.
const { abs, floor, imul } = Math
const mathMin = Math.min
const mathMax = Math.max
const isNaNNumber = Number.isNaN
const isFiniteNumber = Number.isFinite
const toNumber = Number

const TYPES = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array,
  Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
]
const isBig = (Type) => Type === BigInt64Array || Type === BigUint64Array
const isFloat = (Type) => Type === Float32Array || Type === Float64Array

function rng(seed) {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = imul(t ^ (t >>> 15), t | 1)
    t ^= t + imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function random(Type, n, seed) {
  const next = rng(seed)
  const a = new Type(n)
  for (let i = 0; i < n; i++) {
    if (isBig(Type)) {
      const hi = BigInt(floor(next() * 2 ** 32))
      const lo = BigInt(floor(next() * 2 ** 32))
      a[i] = Type === BigInt64Array ? BigInt.asIntN(64, (hi << 32n) | lo) : (hi << 32n) | lo
    } else if (isFloat(Type)) {
      a[i] = (next() - 0.5) * 10 ** floor(next() * 12 - 4)
    } else {
      a[i] = floor(next() * 2 ** 32) // wraps to the type's range
    }
  }
  return a
}

/** Exact, correctly rounded sum of finite doubles (Shewchuk / Python's fsum). */
function fsum(xs) {
  // Non-overlapping partials; a double sum never needs more than ~40.
  const partials = new Float64Array(128)
  let count = 0
  for (let k = 0; k < xs.length; k++) {
    let x = xs[k]
    let i = 0
    for (let j = 0; j < count; j++) {
      let y = partials[j]
      if (abs(x) < abs(y)) {
        const t = x
        x = y
        y = t
      }
      const hi = x + y
      const lo = y - (hi - x)
      if (lo !== 0) partials[i++] = lo
      x = hi
    }
    partials[i] = x
    count = i + 1
  }
  let n = count
  let hi = 0
  if (n > 0) {
    hi = partials[--n]
    let lo = 0
    while (n > 0) {
      const x = hi
      const y = partials[--n]
      hi = x + y
      lo = y - (hi - x)
      if (lo !== 0) break
    }
    if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
      const y = lo * 2
      const x = hi + y
      if (y === x - hi) hi = x
    }
  }
  return hi
}

function reference(arr) {
  const big = Object.prototype.toString.call(arr).includes('Big')
  const n = arr.length
  if (n === 0) {
    return { count: 0, sum: big ? 0n : 0, min: NaN, max: NaN, mean: NaN, variance: NaN }
  }
  const xs = new Array(n)
  for (let i = 0; i < n; i++) xs[i] = toNumber(arr[i])
  let finite = true
  for (let i = 0; i < n; i++) {
    // NaN anywhere makes every floating-point field NaN.
    if (isNaNNumber(xs[i])) {
      return { count: n, sum: NaN, min: NaN, max: NaN, mean: NaN, variance: NaN }
    }
    if (!isFiniteNumber(xs[i])) finite = false
  }
  let min = Infinity
  let max = -Infinity
  for (const x of xs) {
    min = mathMin(min, x)
    max = mathMax(max, x)
  }
  let sum
  let mean
  if (big) {
    let s = 0n
    let bmin = arr[0]
    let bmax = arr[0]
    for (const v of arr) {
      s += v
      if (v < bmin) bmin = v
      if (v > bmax) bmax = v
    }
    sum = s
    mean = Number(s) / n
    min = bmin
    max = bmax
  } else {
    // With an infinity the total is what plain addition gives.
    sum = finite ? fsum(xs) : xs.reduce((a, b) => a + b, 0)
    mean = sum / n
  }
  const m = big ? mean : sum / n
  const squares = new Float64Array(n)
  for (let i = 0; i < n; i++) squares[i] = (xs[i] - m) * (xs[i] - m)
  const variance = fsum(squares) / n
  return { count: n, sum, min, max, mean, variance: isFiniteNumber(m) ? variance : NaN }
}

function sameElements(a, b) {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false
  return true
}

function close(actual, expected, tol, field) {
  if (Object.is(actual, expected)) return
  if (typeof expected !== 'number' || !Number.isFinite(expected) || typeof actual !== 'number' ||
      Math.abs(actual - expected) > tol) {
    throw new Error(`${field}: got ${String(actual)}, expected ${String(expected)} (tolerance ${tol})`)
  }
}

/**
 * Compares a stats result with the reference. `exactSum`: the sum and mean
 * must be identical (integer inputs, exactly representable float sums).
 */
function expectStats(actual, arr, { exactSum = false } = {}) {
  const ref = reference(arr)
  expect(Object.keys(actual).sort()).toEqual(['count', 'max', 'mean', 'min', 'sum', 'variance'])
  expect(actual.count).toBe(ref.count)
  expect(typeof actual.sum).toBe(typeof ref.sum)
  for (const f of ['min', 'max']) {
    if (!Object.is(actual[f], ref[f])) {
      throw new Error(`${f}: got ${String(actual[f])}, expected ${String(ref[f])}`)
    }
  }
  let magnitude = 0
  for (let i = 0; i < arr.length; i++) magnitude += abs(toNumber(arr[i]))
  const sumTol = exactSum ? 0 : 4 * Number.EPSILON * magnitude
  if (typeof ref.sum === 'bigint') expect(actual.sum).toBe(ref.sum)
  else close(actual.sum, ref.sum, sumTol, 'sum')
  close(actual.mean, ref.mean, arr.length ? sumTol / arr.length : 0, 'mean')
  close(actual.variance, ref.variance, Math.abs(ref.variance) * 1e-9, 'variance')
}

const LENGTHS = [1, 2, 3, 100, 65_536, 65_537, 200_003]

describe('stats matches the reference', () => {
  for (const Type of TYPES) {
    describe(Type.name, () => {
      test.each(LENGTHS)('random, length %i', async (n) => {
        const a = random(Type, n, n * 31 + 7)
        const before = a.slice()
        expectStats(await spindle.stats(a), a, { exactSum: !isFloat(Type) })
        expect(sameElements(a, before)).toBe(true) // read only
      })
      test('empty', async () => {
        const s = await spindle.stats(new Type(0))
        expect(s.count).toBe(0)
        expect(s.sum).toBe(isBig(Type) ? 0n : 0)
        for (const f of ['min', 'max', 'mean', 'variance']) expect(s[f]).toBeNaN()
      })
      test('length 1', async () => {
        const one = new Type(1)
        one[0] = isBig(Type) ? 42n : 42
        const s = await spindle.stats(one)
        expect(s).toEqual({ count: 1, sum: one[0], min: one[0], max: one[0], mean: 42, variance: 0 })
      })
      test('all equal', async () => {
        const a = new Type(150_000)
        a.fill(isBig(Type) ? 100n : isFloat(Type) ? 7.25 : 100)
        const s = await spindle.stats(a)
        const v = a[0]
        expect(s).toEqual({ count: a.length, sum: isBig(Type) ? v * 150_000n : Number(v) * 150_000, min: v, max: v, mean: Number(v), variance: 0 })
        expectStats(s, a, { exactSum: true })
      })
      test('a subarray at an offset sees only its own elements', async () => {
        const whole = random(Type, 10_000, 3)
        const sub = whole.subarray(17, 9000)
        expectStats(await spindle.stats(sub), sub, { exactSum: !isFloat(Type) })
      })
    })
  }

  test('extreme BigInt64Array values: sum, min and max are exact BigInts', async () => {
    const MAX = 2n ** 63n - 1n
    const MIN = -(2n ** 63n)
    const a = new BigInt64Array([MAX, MAX, MIN, MAX, -1n, 0n])
    const s = await spindle.stats(a)
    expect(s.sum).toBe(MAX * 3n + MIN - 1n)
    expect(s.min).toBe(MIN)
    expect(s.max).toBe(MAX)
    expectStats(s, a)
    const many = new BigInt64Array(100_000).fill(MAX)
    expect((await spindle.stats(many)).sum).toBe(MAX * 100_000n)
  })

  test('extreme BigUint64Array values: sum beyond 2^64 is exact', async () => {
    const MAX = 2n ** 64n - 1n
    const a = new BigUint64Array(70_000).fill(MAX)
    a[5] = 0n
    const s = await spindle.stats(a)
    expect(s.sum).toBe(MAX * 69_999n)
    expect(s.min).toBe(0n)
    expect(s.max).toBe(MAX)
    expect(s.mean).toBe(Number(MAX * 69_999n) / 70_000)
    expectStats(s, a)
  })

  test('integer sums are exact even where a float sum would round', async () => {
    // 2^53 + 1 is not a double; Uint32 sums stay exact as i128 and round once.
    const a = new Uint32Array(2 ** 21 + 1).fill(2 ** 32 - 1)
    const s = await spindle.stats(a)
    expect(s.sum).toBe(Number(BigInt(2 ** 32 - 1) * BigInt(a.length)))
  })
})

describe('floating-point edge cases', () => {
  for (const Type of [Float32Array, Float64Array]) {
    test(`${Type.name}: NaN anywhere makes every float field NaN`, async () => {
      for (const at of [0, 5, 65_536, 99_999]) {
        const a = random(Type, 100_000, at)
        a[at] = NaN
        const s = await spindle.stats(a)
        expect(s.count).toBe(100_000)
        for (const f of ['sum', 'min', 'max', 'mean', 'variance']) expect(s[f]).toBeNaN()
        expectStats(s, a)
      }
    })
    test(`${Type.name}: ±Infinity`, async () => {
      const cases = [
        [Infinity, 1],
        [1, 2, -Infinity],
        [-Infinity, Infinity],
        [Infinity, Infinity, 3],
        [-Infinity],
      ]
      for (const c of cases) {
        const a = Type.from(c)
        expectStats(await spindle.stats(a), a)
      }
      const s = await spindle.stats(Type.from([Infinity, 1]))
      expect(s).toEqual({ count: 2, sum: Infinity, min: 1, max: Infinity, mean: Infinity, variance: NaN })
      // An infinity in one block and finite values in the others.
      const big = new Type(200_000).fill(1.5)
      big[131_072 + 9] = -Infinity
      const b = await spindle.stats(big)
      expect(b.sum).toBe(-Infinity)
      expect(b.mean).toBe(-Infinity)
      expect(b.min).toBe(-Infinity)
      expect(b.max).toBe(1.5)
      expect(b.variance).toBeNaN()
    })
    test(`${Type.name}: -0 and +0 like Math.min / Math.max`, async () => {
      for (const c of [[0, -0], [-0, 0], [-0, -0], [0, 0], [-0]]) {
        const a = Type.from(c)
        const s = await spindle.stats(a)
        expect(Object.is(s.min, Math.min(...c))).toBe(true)
        expect(Object.is(s.max, Math.max(...c))).toBe(true)
        expectStats(s, a)
      }
    })
  }

  test('the sum is compensated: [1e16, 1 x 10000, -1e16] sums to 10000', async () => {
    const a = new Float64Array(10_002).fill(1)
    a[0] = 1e16
    a[a.length - 1] = -1e16
    expect(a.reduce((x, y) => x + y, 0)).not.toBe(10_000) // plain addition loses them
    const s = await spindle.stats(a)
    expect(s.sum).toBe(10_000)
    expect(s.mean).toBe(10_000 / 10_002)
    expectStats(s, a, { exactSum: true })
  })

  test('compensation carries across blocks', async () => {
    // 1e16 in the first block, -1e16 in the fourth, ones in between.
    const a = new Float64Array(200_000).fill(1)
    a[0] = 1e16
    a[199_999] = -1e16
    expect((await spindle.stats(a)).sum).toBe(199_998)
    const b = Float64Array.from([1, 1e100, 1, -1e100])
    expect((await spindle.stats(b)).sum).toBe(2)
  })

  test('a sum exactly representable is exact; variance matches two passes', async () => {
    const next = rng(99)
    const a = new Float64Array(300_000)
    for (let i = 0; i < a.length; i++) a[i] = Math.floor((next() - 0.5) * 2 ** 20) / 1024
    expectStats(await spindle.stats(a), a, { exactSum: true })
  })
})

describe('the result is identical whatever the thread count', () => {
  const before = spindle.internals().threads
  afterAll(() => {
    spindle.configure({ threads: before })
    expect(spindle.internals().threads).toBe(before)
  })
  test('3M-element Float64Array with threads 1, 2 and 3', async () => {
    const next = rng(2024)
    const a = new Float64Array(3_000_000)
    for (let i = 0; i < a.length; i++) a[i] = (next() - 0.3) * 10 ** Math.floor(next() * 10 - 3)
    const results = []
    for (const threads of [1, 2, 3]) {
      expect(spindle.configure({ threads })).toEqual({ threads })
      results.push(await spindle.stats(a))
    }
    for (const r of results.slice(1)) {
      for (const f of ['count', 'sum', 'min', 'max', 'mean', 'variance']) {
        if (!Object.is(r[f], results[0][f])) {
          throw new Error(`${f} differs by thread count: ${r[f]} vs ${results[0][f]}`)
        }
      }
    }
    expectStats(results[0], a)
  })
  test('Int32Array and BigInt64Array with threads 1 and 3', async () => {
    for (const Type of [Int32Array, BigInt64Array]) {
      const a = random(Type, 1_000_003, 5)
      spindle.configure({ threads: 1 })
      const one = await spindle.stats(a)
      spindle.configure({ threads: 3 })
      const three = await spindle.stats(a)
      for (const f of Object.keys(one)) expect(Object.is(one[f], three[f])).toBe(true)
    }
  })
})
