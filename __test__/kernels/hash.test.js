// Differential tests: spindle.hash / hashMany against node:crypto and the
// published BLAKE3 test vectors.
const crypto = require('node:crypto')
const spindle = require('../..')
const vectors = require('../support/fixtures/blake3-vectors.json')

function bytes(n, seed = 0) {
  const b = Buffer.alloc(n)
  let s = seed
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0
    b[i] = s >>> 24
  }
  return b
}

const SIZES = [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 65536, 1 << 20, (1 << 20) + 17]

describe('hash matches node:crypto', () => {
  for (const algo of ['sha256', 'sha512']) {
    test.each(SIZES)(`${algo}, %i bytes`, async (n) => {
      const data = bytes(n, n)
      expect(await spindle.hash(data, algo)).toBe(crypto.createHash(algo).update(data).digest('hex'))
    })
    test(`${algo}: every input kind, every encoding`, async () => {
      const data = bytes(4099, 3)
      const expected = crypto.createHash(algo).update(data).digest()
      const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.length)
      const inputs = [
        data,
        new Uint8Array(ab),
        new DataView(ab),
        ab,
        new Uint32Array(ab.slice(0, 4096)),
      ]
      for (const input of inputs.slice(0, 4)) {
        expect(await spindle.hash(input, algo)).toBe(expected.toString('hex'))
      }
      const u32 = inputs[4]
      expect(await spindle.hash(u32, algo)).toBe(
        crypto.createHash(algo).update(new Uint8Array(u32.buffer)).digest('hex'))
      expect(await spindle.hash(data, algo, { encoding: 'base64' })).toBe(expected.toString('base64'))
      expect(await spindle.hash(data, algo, { encoding: 'base64url' })).toBe(expected.toString('base64url'))
      const buf = await spindle.hash(data, algo, { encoding: 'buffer' })
      expect(Buffer.isBuffer(buf)).toBe(true)
      expect(buf.equals(expected)).toBe(true)
    })
    test(`${algo}: strings are UTF-8`, async () => {
      for (const s of ['', 'abc', 'żółć 🎉', 'x'.repeat(100_000)]) {
        expect(await spindle.hash(s, algo)).toBe(crypto.createHash(algo).update(s, 'utf8').digest('hex'))
      }
    })
  }
  test('a subarray hashes only its own bytes', async () => {
    const data = bytes(10_000, 8)
    const sub = data.subarray(100, 9000)
    expect(await spindle.hash(sub, 'sha256')).toBe(crypto.createHash('sha256').update(sub).digest('hex'))
  })
  test('a 64 MiB input', async () => {
    const data = bytes(64 << 20, 5)
    expect(await spindle.hash(data, 'sha256')).toBe(crypto.createHash('sha256').update(data).digest('hex'))
  })
})

describe('blake3 matches the published test vectors', () => {
  // Input of length n is the byte sequence 0, 1, ..., 250, 0, 1, ... (i % 251).
  test.each(vectors.cases.map((c) => [c.input_len, c.hash.slice(0, 64)]))(
    'length %i',
    async (len, expected) => {
      const input = Buffer.alloc(len)
      for (let i = 0; i < len; i++) input[i] = i % 251
      expect(await spindle.hash(input, 'blake3')).toBe(expected)
    },
  )
})

describe('hashMany', () => {
  test('results in input order, identical to one-by-one hashing', async () => {
    const list = Array.from({ length: 500 }, (_, i) => bytes(i * 37, i))
    list.push('a string', new ArrayBuffer(3), new Float64Array([1, 2, 3]))
    for (const algo of ['sha256', 'sha512', 'blake3']) {
      const many = await spindle.hashMany(list, algo)
      const one = await Promise.all(list.map((x) => spindle.hash(x, algo)))
      expect(many).toEqual(one)
    }
    const expected = list.slice(0, 500).map((b) => crypto.createHash('sha256').update(b).digest('hex'))
    expect((await spindle.hashMany(list, 'sha256')).slice(0, 500)).toEqual(expected)
  })
  test('empty list', async () => {
    expect(await spindle.hashMany([], 'sha256')).toEqual([])
  })
  test('buffer encoding', async () => {
    const out = await spindle.hashMany(['x', 'y'], 'sha256', { encoding: 'buffer' })
    expect(out.map((b) => b.toString('hex'))).toEqual(
      ['x', 'y'].map((s) => crypto.createHash('sha256').update(s).digest('hex')))
  })
})
