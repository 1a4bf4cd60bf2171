// Differential tests: spindle.sort against TypedArray.prototype.sort().
const spindle = require('../..')

const TYPES = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array,
  Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
]

function random(Type, n, seed = 1) {
  let s = seed >>> 0
  const next = () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s
  }
  const a = new Type(n)
  const big = Type === BigInt64Array || Type === BigUint64Array
  for (let i = 0; i < n; i++) {
    if (big) a[i] = BigInt.asIntN(64, (BigInt(next()) << 32n) | BigInt(next()))
    else if (Type === Float64Array || Type === Float32Array) a[i] = (next() - 2 ** 31) / (next() + 1)
    else a[i] = next()
  }
  return a
}

function floatEdges(Type, n) {
  const specials = [NaN, -0, 0, Infinity, -Infinity, 1e-310, -1e-310, Number.MAX_VALUE, -Number.MIN_VALUE]
  const a = random(Type, n, 9)
  for (let i = 0; i < n; i += 7) a[i] = specials[i % specials.length]
  return a
}

/** Element-wise equality that tells -0 from +0 and accepts NaN = NaN. */
function expectSame(actual, expected) {
  expect(actual.length).toBe(expected.length)
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      throw new Error(`index ${i}: got ${actual[i]}, expected ${expected[i]}`)
    }
  }
}

async function check(a) {
  const expected = a.slice().sort()
  const result = await spindle.sort(a)
  expect(result).toBe(a)
  expectSame(a, expected)
}

describe('sort matches TypedArray.prototype.sort', () => {
  for (const Type of TYPES) {
    describe(Type.name, () => {
      test.each([0, 1, 2, 100, 4096, 4097, 100_000])('random, length %i', async (n) => {
        await check(random(Type, n, n + 3))
      })
      test('all equal', async () => {
        const a = new Type(50_000)
        a.fill(Type === BigInt64Array || Type === BigUint64Array ? 7n : 7)
        await check(a)
      })
      test('already sorted and reversed', async () => {
        const a = random(Type, 70_000, 5).sort()
        await check(a)
        const r = a.slice().reverse()
        await check(r)
      })
      test('a subarray at an offset', async () => {
        const whole = random(Type, 60_000, 4)
        const before = whole.slice()
        const sub = whole.subarray(1000, 50_000)
        await check(sub)
        expectSame(whole.subarray(0, 1000), before.subarray(0, 1000))
        expectSame(whole.subarray(50_000), before.subarray(50_000))
      })
    })
  }
  for (const Type of [Float32Array, Float64Array]) {
    test(`${Type.name}: NaN, ±0, ±Infinity and subnormals`, async () => {
      await check(floatEdges(Type, 10))
      await check(floatEdges(Type, 100_003))
      await check(Type.from([NaN, 0, -0, NaN, -0, 0, -Infinity, Infinity]))
    })
  }
  test('Float64Array with 2^24 + 3 elements', async () => {
    await check(floatEdges(Float64Array, 2 ** 24 + 3))
  })
  test('Float64Array of 4M uneven values: the first radix split leaves big buckets to split again', async () => {
    // Uniform in ±1e6 (half the values share one exponent) and values in
    // [1, 2) (all share it), then a mix with long runs of one value.
    let s = 12345
    const next = () => {
      s = (s * 1664525 + 1013904223) >>> 0
      return s / 2 ** 32
    }
    const n = 4_000_000
    await check(Float64Array.from({ length: n }, () => next() * 2e6 - 1e6))
    await check(Float64Array.from({ length: n }, () => 1 + next()))
    await check(Float64Array.from({ length: n }, (_, i) => (i % 5 === 0 ? next() : 0.25)))
  })
  test('Int32Array with 2^24 + 1 elements', async () => {
    await check(random(Int32Array, 2 ** 24 + 1, 77))
  })
})
