// stdin writes (src/reactor/stdin.rs): written at once from the caller's
// Buffer while nothing is queued, the rest queued on the reactor — small
// rests copied, large ones lent (the reactor writes from the caller's Buffer
// until it reports them written). Order, integrity, errors like
// child_process, and no use of lent memory after release or teardown.
const cp = require('node:child_process')
const crypto = require('node:crypto')
const path = require('node:path')
const spindle = require('../..')

const root = path.join(__dirname, '..', '..')
const MiB = 1024 * 1024

/** Writes `chunks` in order honouring backpressure, then ends; resolves { out, code }. */
function through(spawnFn, command, args, chunks) {
  return new Promise((resolve, reject) => {
    const child = spawnFn(command, args)
    const parts = []
    child.stdout.on('data', (d) => parts.push(d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ out: Buffer.concat(parts), code }))
    let i = 0
    const next = () => {
      while (i < chunks.length) {
        if (!child.stdin.write(chunks[i++])) {
          child.stdin.once('drain', next)
          return
        }
      }
      child.stdin.end()
    }
    next()
  })
}

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')

test('small and large writes, interleaved, behind a reader that starts late: every byte in order', async () => {
  const chunks = []
  for (let i = 0; i < 40; i++) {
    chunks.push(crypto.randomBytes(i % 3 === 0 ? 3 * MiB + i : 100 + i)) // lent and copied rests
  }
  const expected = Buffer.concat(chunks)
  const r = await through(spindle.spawn, 'sh', ['-c', 'sleep 0.2; exec cat'], chunks)
  expect(r.code).toBe(0)
  expect(r.out.length).toBe(expected.length)
  expect(sha(r.out)).toBe(sha(expected))
})

test('one 64 MiB write: the callback waits until it is written, and every byte arrives', async () => {
  const big = crypto.randomBytes(64 * MiB)
  const child = spindle.spawn('sh', ['-c', 'sleep 0.1; exec cat'])
  const parts = []
  child.stdout.on('data', (d) => parts.push(d))
  let received = 0
  child.stdout.on('data', (d) => {
    received += d.length
  })
  const receivedAtCallback = await new Promise((resolve, reject) => {
    child.stdin.write(big, (err) => (err ? reject(err) : resolve(received)))
  })
  // Lent, not copied: the callback only comes once the pipe took the last
  // byte, so at most a pipe's worth (plus what cat holds) is still in flight.
  expect(receivedAtCallback).toBeGreaterThan(big.length - 8 * MiB)
  child.stdin.end()
  const code = await new Promise((resolve) => child.on('close', resolve))
  expect(code).toBe(0)
  expect(sha(Buffer.concat(parts))).toBe(sha(big))
})

test('a child that closes its stdin: the next write fails with EPIPE, as with child_process', async () => {
  const run = (spawnFn) => new Promise((resolve) => {
    const child = spawnFn('sh', ['-c', 'exec 0<&-; sleep 0.3'])
    child.stdin.on('error', (err) => resolve({ code: err.code, syscall: err.syscall }))
    setTimeout(() => child.stdin.write(Buffer.alloc(256 * 1024, 1)), 100)
  })
  const [viaSpindle, viaNode] = await Promise.all([run(spindle.spawn), run(cp.spawn)])
  expect(viaNode.code).toBe('EPIPE')
  expect(viaSpindle).toEqual(viaNode)
})

/** Runs a Node script (with --expose-gc) in a fresh process; resolves its stdout. */
function node(script) {
  return new Promise((resolve, reject) => {
    cp.execFile(process.execPath, ['--expose-gc', '-e', script], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`))
      else resolve(stdout.trim())
    })
  })
}

test('lent writes still queued when the child is killed and released: nothing touches the freed Buffers', async () => {
  const out = await node(`
    const spindle = require('.')
    const crypto = require('node:crypto')
    async function once() {
      const child = spindle.spawn('sleep', ['10']) // never reads its stdin
      let failed = 0
      for (let i = 0; i < 8; i++) child.stdin.write(Buffer.alloc(4 << 20, i), (err) => { if (err) failed++ })
      child.stdin.on('error', () => {})
      await new Promise((r) => setTimeout(r, 20))
      child.kill('SIGKILL')
      await new Promise((r) => child.on('close', r))
    }
    ;(async () => {
      for (let i = 0; i < 10; i++) {
        await once()
        globalThis.gc()
        // Fill the freed memory with other data; a late write would send it.
        const junk = []
        for (let j = 0; j < 16; j++) junk.push(Buffer.alloc(4 << 20, 0xee))
      }
      // The reactor is still healthy: a round trip through cat is exact.
      const data = crypto.randomBytes(8 << 20)
      const c = spindle.spawn('cat')
      const parts = []
      c.stdout.on('data', (d) => parts.push(d))
      c.stdin.end(data)
      await new Promise((r) => c.on('close', r))
      console.log(Buffer.concat(parts).equals(data) ? 'ok' : 'corrupt')
    })()
  `)
  expect(out).toBe('ok')
})

test('a worker terminated with lent writes queued: no crash, the child is reaped, spawning goes on', async () => {
  const out = await node(`
    const { Worker } = require('node:worker_threads')
    const spindle = require('.')
    const src = \`
      const spindle = require(\${JSON.stringify(require.resolve('.'))})
      const { parentPort } = require('node:worker_threads')
      const child = spindle.spawn('sleep', ['2'])
      child.stdin.on('error', () => {})
      for (let i = 0; i < 8; i++) child.stdin.write(Buffer.alloc(4 << 20, i))
      parentPort.postMessage(child.pid)
    \`
    ;(async () => {
      for (let i = 0; i < 5; i++) {
        const w = new Worker(src, { eval: true })
        await new Promise((r) => w.once('message', r))
        await w.terminate()
        globalThis.gc()
      }
      const r = await spindle.exec('sh', ['-c', 'echo alive'])
      console.log(r.stdout.trim())
    })()
  `)
  expect(out).toBe('alive')
})
