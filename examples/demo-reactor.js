'use strict'
// `node examples/demo-reactor.js`: the reactor's point made visible. The seed
// example (ls -lh /usr) through spindle.spawn, then /bin/true spawned 300
// times with child_process.spawn and with spindle.spawn while a 10 ms ticker
// measures how late the event loop runs — first in a small process, then
// holding 1 GiB of Buffers (DEMO_HEAP_MIB to change it).
const cp = require('node:child_process')
const { spawn } = require('..')
const { lagMonitor } = require('./lag')

const N = Number(process.env.DEMO_SPAWNS || 300)
const HEAP_MIB = Number(process.env.DEMO_HEAP_MIB || 1024)

async function spawnMany(label, spawnFn) {
  const stop = lagMonitor()
  const t0 = performance.now()
  let next = 0
  const worker = async () => {
    while (next++ < N) {
      await new Promise((resolve, reject) => {
        const child = spawnFn('/bin/true', [], { stdio: 'ignore' })
        child.on('error', reject)
        child.on('close', resolve)
      })
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  const ms = performance.now() - t0
  const lag = stop()
  console.log(`  ${label.padEnd(22)} ${(N / (ms / 1000)).toFixed(0).padStart(6)} spawns/s   worst event-loop lag ${lag.toFixed(1).padStart(7)} ms`)
}

async function reactorScenario() {
  console.log('\nThe seed example through spindle.spawn:')
  await new Promise((resolve) => {
    const child = spawn('ls', ['-lh', '/usr'])
    child.stdout.on('data', (data) => console.log(`stdout: ${data}`))
    child.stderr.on('data', (data) => console.error(`stderr: ${data}`))
    child.on('close', (code) => {
      console.log(`child process exited with code ${code}`)
      resolve()
    })
  })
  const rss = () => Math.round(process.memoryUsage.rss() / (1 << 20))
  console.log(`\nSpawning /bin/true ${N} times, 16 at a time, this process (RSS ${rss()} MiB):`)
  await spawnMany('child_process.spawn', cp.spawn)
  await spawnMany('spindle.spawn', spawn)
  const ballast = []
  for (let i = 0; i < HEAP_MIB; i++) ballast.push(Buffer.alloc(1 << 20, i & 0xff))
  console.log(`\nThe same while holding ${HEAP_MIB} MiB of Buffers (RSS ${rss()} MiB; fork copies page tables, spindle's clone(CLONE_VM) shares them):`)
  await spawnMany('child_process.spawn', cp.spawn)
  await spawnMany('spindle.spawn', spawn)
  void ballast.length
  ballast.length = 0
}

module.exports = { reactorScenario }

if (require.main === module) {
  reactorScenario().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
