// Volume and churn: 256 MiB through cat, and 2,000 spawns with random kills
// and timeouts; afterwards no zombie children and no leaked descriptors.
const cp = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const spindle = require('../..')
const { binding } = require('../../lib/native')
const { waitFor, zombieChildren } = require('../support/children')

const fdCount = () => fs.readdirSync('/proc/self/fd').length

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Waits for the reactor thread to stop, so its own descriptors are closed. */
const reactorIdle = () => waitFor(() => !binding.reactorStats().running, 'the reactor to go idle', 30000)

test('256 MiB through cat: the SHA-256 of what comes back equals what went in', async () => {
  const total = 256 << 20
  const block = 1 << 20
  const inHash = crypto.createHash('sha256')
  const outHash = crypto.createHash('sha256')
  const child = spindle.spawn('cat')
  let received = 0
  child.stdout.on('data', (d) => {
    received += d.length
    outHash.update(d)
  })
  const closed = new Promise((resolve) => child.on('close', (...a) => resolve(a)))
  const rnd = prng(256)
  const seedBlock = crypto.randomBytes(block)
  for (let sent = 0; sent < total; sent += block) {
    // Every block differs (a rolling xor), so reordered blocks change the hash.
    const chunk = Buffer.from(seedBlock)
    chunk.writeUInt32LE((rnd() * 2 ** 32) >>> 0, (sent / block) % (block - 4))
    chunk.writeUInt32LE(sent / block, 0)
    inHash.update(chunk)
    if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r))
  }
  child.stdin.end()
  expect(await closed).toEqual([0, null])
  expect(received).toBe(total)
  expect(outHash.digest('hex')).toBe(inHash.digest('hex'))
})

test('2,000 spawns with random kills and timeouts: all settle, no zombies, no leaked fds', async () => {
  // Warm up, then let the reactor go idle so its epoll/eventfd are closed.
  await new Promise((r) => spindle.spawn('true').on('close', r))
  await reactorIdle()
  const fdsBefore = fdCount()

  const rnd = prng(2000)
  const N = 2000
  const CONCURRENCY = 24
  const outcomes = { exited: 0, killed: 0, timedOut: 0, failed: 0 }
  let next = 0

  async function one(i) {
    const kind = Math.floor(rnd() * 5)
    let child
    const expect_ = {}
    if (kind === 0) {
      child = spindle.spawn('true')
      expect_.code = 0
    } else if (kind === 1) {
      const code = Math.floor(rnd() * 4)
      child = spindle.spawn('sh', ['-c', `echo ${i}; echo e >&2; exit ${code}`])
      expect_.code = code
      expect_.stdout = `${i}\n`
    } else if (kind === 2) {
      // Killed at a random moment, possibly before it has even started.
      child = spindle.spawn('sleep', ['30'])
      const delay = Math.floor(rnd() * 5)
      if (delay === 0) child.kill('SIGKILL')
      else setTimeout(() => child.kill('SIGKILL'), delay)
      expect_.signal = 'SIGKILL'
    } else if (kind === 3) {
      child = spindle.spawn('sleep', ['30'], { timeout: 1 + Math.floor(rnd() * 20) })
      expect_.signal = 'SIGTERM'
    } else {
      child = spindle.spawn('spindle-no-such-command')
      expect_.error = 'ENOENT'
    }
    let stdout = ''
    let error = null
    child.stdout?.on('data', (d) => {
      stdout += d
    })
    child.on('error', (err) => {
      error = err
    })
    const [code, signal] = await new Promise((r) => child.on('close', (...a) => r(a)))
    if (expect_.error) {
      expect(error.code).toBe(expect_.error)
      outcomes.failed++
    } else if (expect_.signal) {
      expect([code, signal]).toEqual([null, expect_.signal])
      if (kind === 2) outcomes.killed++
      else outcomes.timedOut++
    } else {
      expect([code, signal]).toEqual([expect_.code, null])
      if (expect_.stdout !== undefined) expect(stdout).toBe(expect_.stdout)
      outcomes.exited++
    }
  }

  async function worker() {
    while (next < N) await one(next++)
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))

  expect(outcomes.exited + outcomes.killed + outcomes.timedOut + outcomes.failed).toBe(N)
  expect(outcomes.killed).toBeGreaterThan(100)
  expect(outcomes.timedOut).toBeGreaterThan(100)
  expect(zombieChildren()).toEqual([])
  await waitFor(() => binding.reactorStats().children === 0, 'the reactor to forget every child')
  await reactorIdle()
  expect(fdCount()).toBe(fdsBefore)
})

test('spindle and child_process churn side by side without stealing each other\'s exits', async () => {
  const runs = []
  for (let i = 0; i < 200; i++) {
    const fn = i % 2 ? spindle.spawn : cp.spawn
    runs.push(
      new Promise((resolve) => {
        const child = fn('sh', ['-c', `exit ${i % 7}`])
        child.on('close', (code) => resolve([i, code]))
      }),
    )
  }
  for (const [i, code] of await Promise.all(runs)) expect(code).toBe(i % 7)
  expect(zombieChildren()).toEqual([])
})
