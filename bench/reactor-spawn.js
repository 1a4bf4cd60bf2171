'use strict'
// Reactor benchmark (standalone: `node bench/reactor-spawn.js [--heap-mib 1024]`).
// Spawns /bin/true N times at concurrency C with child_process.spawn and with
// spindle.spawn, reporting spawns/s and the event loop's worst delay
// (a 1 ms ticker), optionally while the process holds `--heap-mib` of Buffers.
const cp = require('node:child_process')
const spindle = require('..')

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? dflt : Number(process.argv[i + 1])
}
const N = arg('n', 1000)
const C = arg('concurrency', 16)
const HEAP_MIB = arg('heap-mib', 0)

const ballast = []
for (let i = 0; i < HEAP_MIB; i++) ballast.push(Buffer.alloc(1 << 20, i & 0xff))

function monitor() {
  let worst = 0
  let last = performance.now()
  const t = setInterval(() => {
    const now = performance.now()
    worst = Math.max(worst, now - last - 1)
    last = now
  }, 1)
  return () => {
    clearInterval(t)
    return Math.max(0, worst)
  }
}

async function run(label, spawnFn) {
  let next = 0
  const one = () =>
    new Promise((resolve, reject) => {
      const child = spawnFn('/bin/true', [], { stdio: 'ignore' })
      child.on('error', reject)
      child.on('close', resolve)
    })
  const worker = async () => {
    while (next++ < N) await one()
  }
  await new Promise((r) => setTimeout(r, 50))
  const stop = monitor()
  const t0 = performance.now()
  await Promise.all(Array.from({ length: C }, worker))
  const ms = performance.now() - t0
  const lag = stop()
  console.log(`${label.padEnd(22)} ${(N / (ms / 1000)).toFixed(0).padStart(6)} spawns/s   worst loop delay ${lag.toFixed(1).padStart(6)} ms`)
  return { rate: N / (ms / 1000), lag }
}

;(async () => {
  console.log(`/bin/true x ${N}, concurrency ${C}, heap ballast ${HEAP_MIB} MiB (rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB)`)
  await run('warm-up spindle', spindle.spawn)
  const a = await run('child_process.spawn', cp.spawn)
  const b = await run('spindle.spawn', spindle.spawn)
  console.log(`ratio ${(b.rate / a.rate).toFixed(2)}x`)
  void ballast.length
})()
