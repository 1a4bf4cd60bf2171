'use strict'
// Reactor benchmark (standalone: `node bench/reactor-pipe.js [--mib 1024]`):
// pipe N MiB through `cat` with child_process.spawn and spindle.spawn;
// reports MiB/s for each.
const cp = require('node:child_process')
const spindle = require('..')

const i = process.argv.indexOf('--mib')
const MIB = i === -1 ? 1024 : Number(process.argv[i + 1])
const block = Buffer.alloc(1 << 20, 0x5a)

function pipe(spawnFn) {
  return new Promise((resolve, reject) => {
    const child = spawnFn('cat', [])
    let got = 0
    child.stdout.on('data', (d) => {
      got += d.length
    })
    child.on('error', reject)
    child.on('close', (code) => (code === 0 && got === MIB << 20 ? resolve() : reject(new Error(`code ${code}, ${got} bytes`))))
    let sent = 0
    const write = () => {
      while (sent < MIB) {
        sent++
        if (!child.stdin.write(block)) {
          child.stdin.once('drain', write)
          return
        }
      }
      child.stdin.end()
    }
    write()
  })
}

;(async () => {
  for (const [label, fn] of [['child_process.spawn', cp.spawn], ['spindle.spawn', spindle.spawn]]) {
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    await pipe(fn)
    const s = (performance.now() - t0) / 1000
    const c = process.cpuUsage(c0)
    const cpu = (c.user + c.system) / 1000
    console.log(`${label.padEnd(22)} ${MIB} MiB through cat: ${(MIB / s).toFixed(0).padStart(5)} MiB/s, this process's CPU ${cpu.toFixed(0)} ms (all threads)`)
  }
})()
