'use strict'
// `node bench/scaling.js [threads,...]`: how the pools scale with cores.
//
// For each thread count T (default 1, 2, 4, 8 and every core), runs the
// scenarios whose result depends on T in a fresh `node bench/run.js` with
// SPINDLE_BENCH_THREADS=T (every pool, spindle's and the anchors', gets T
// threads) and SPINDLE_THREADS=T (spindle's kernel pool), then writes one
// table per scenario with a row per pool and a column per T:
//   cpu-bound         wall ÷ ideal (1.00 = perfect scaling; ideal = single-thread time ÷ T)
//   tiny-throughput   tasks/s with 100,000 tasks in flight
//   fork-join         wall ms of fib(36) split into 3,193 tasks
//   sort              wall ms of 10M f64 (spindle.sort against Float64Array#sort)
// Each T's full results (every row, notes, loop delays) are kept beside the table.
//
// The numbers only mean something on a machine with at least as many cores as
// the largest T plus one for the main thread; on the 2-core CI machine use
// `npm run bench`. Output: bench/SCALING.md, bench/results/scaling.json (every
// run's full results) and bench/results/scaling-runs/t<T>/ (each run's own
// report files, git-ignored), or all three in SCALING_OUT.
// `node bench/scaling.js --render [scaling.json]` rewrites SCALING.md only.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const SCENARIOS = ['cpu-bound', 'tiny-throughput', 'fork-join', 'sort']
const cores = os.availableParallelism ? os.availableParallelism() : os.cpus().length

function threadCounts() {
  const arg = process.argv[2] || process.env.SCALING_THREADS
  if (arg) return arg.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0)
  return [...new Set([1, 2, 4, 8, cores].filter((n) => n <= cores))]
}

/** Where the report goes: SCALING_OUT holds everything; by default bench/SCALING.md, bench/results/scaling.json, bench/results/scaling-runs/. */
function outputs() {
  const d = process.env.SCALING_OUT && path.resolve(process.env.SCALING_OUT)
  return {
    md: d ? path.join(d, 'SCALING.md') : path.join(__dirname, 'SCALING.md'),
    json: d ? path.join(d, 'scaling.json') : path.join(__dirname, 'results', 'scaling.json'),
    runs: d ? path.join(d, 'runs') : path.join(__dirname, 'results', 'scaling-runs'),
  }
}

function runAt(t, runs) {
  const out = path.join(runs, `t${t}`)
  fs.mkdirSync(out, { recursive: true })
  const env = { ...process.env, SPINDLE_BENCH_THREADS: String(t), SPINDLE_THREADS: String(t), BENCH_OUT: out }
  const t0 = Date.now()
  execFileSync(process.execPath, [path.join(__dirname, 'run.js'), ...SCENARIOS], { env, stdio: 'inherit' })
  console.log(`== T=${t}: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return JSON.parse(fs.readFileSync(path.join(out, 'latest.json'), 'utf8'))
}

/** Row names that carry T ("2 bare workers, each 1,000 × …") read the same in every column. */
function sameName(impl) {
  return impl.replace(/^\d+ bare workers, each [\d,]+ ×/, 'T bare workers, each 2,000/T ×').replace(/\(\d+ workers\)/, '(T workers)')
}

/** Every scenario of a run by id, rows renamed by sameName. */
function byId(results) {
  const all = {}
  for (const g of Object.values(results.groups)) {
    for (const sc of g.scenarios) all[sc.id] = { ...sc, rows: (sc.rows || []).map((r) => ({ ...r, impl: sameName(r.impl) })) }
  }
  return all
}

const fmt = (x, d) => (typeof x === 'number' && Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—')

/** The wall time of the T-bare-workers reference row of the cpu-bound run that holds row `r`. */
function floorMs(perT, r) {
  for (const t of Object.keys(perT)) {
    const sc = perT[t]['cpu-bound']
    if (sc && sc.rows.includes(r)) {
      const floor = sc.rows.find((x) => x.impl.startsWith('T bare workers'))
      return floor ? floor.wallMs : NaN
    }
  }
  return NaN
}

/** One Markdown table: a row per implementation, a column per T. */
function table(title, counts, perT, id, value, digits, note) {
  const impls = []
  for (const t of counts) {
    const sc = perT[t][id]
    for (const r of (sc && sc.rows) || []) if (!impls.includes(r.impl) && value(r) !== undefined) impls.push(r.impl)
  }
  const lines = [`### ${title}`, '', `| implementation | ${counts.map((t) => `T=${t}`).join(' | ')} |`, `| --- | ${counts.map(() => '---:').join(' | ')} |`]
  for (const impl of impls) {
    const cells = counts.map((t) => {
      const sc = perT[t][id]
      const r = sc && sc.rows.find((x) => x.impl === impl)
      if (!r) return '—'
      if (r.skipped || r.error) return 'error'
      return fmt(value(r), digits)
    })
    lines.push(`| ${impl} | ${cells.join(' | ')} |`)
  }
  if (note) lines.push('', note)
  return lines.join('\n')
}

function main() {
  const out = outputs()
  if (process.argv[2] === '--render') {
    // Rewrite SCALING.md from a scaling.json (default: the one written last), running nothing.
    const saved = JSON.parse(fs.readFileSync(process.argv[3] || out.json, 'utf8'))
    const perT = Object.fromEntries(saved.counts.map((t) => [t, byId(saved.runs[t])]))
    write(out, saved.counts, perT, saved.runs, saved.generated)
    return
  }
  const counts = threadCounts()
  const perT = {}
  const raw = {}
  for (const t of counts) {
    raw[t] = runAt(t, out.runs)
    perT[t] = byId(raw[t])
    write(out, Object.keys(raw).map(Number), perT, raw, new Date().toISOString())
  }
}

/** Writes SCALING.md and scaling.json for the counts run so far (after each T, so a cut-off run keeps them). */
function write(out, counts, perT, raw, generated) {
  const m = raw[counts[0]].machine
  const wall = (r) => r.wallMs
  const md = [
    '# spindle: scaling with threads',
    '',
    `Generated by \`node bench/scaling.js\` on ${generated.slice(0, 10)}: ${m.cpuModel} × ${m.cpuCount}, ${m.totalMemoryGiB} GiB, Node ${m.node}.`,
    `Each column is a fresh \`node bench/run.js ${SCENARIOS.join(' ')}\` with every pool at T threads (SPINDLE_BENCH_THREADS=T) and spindle's kernel pool at T (SPINDLE_THREADS=T); measured runs per row (median): ${raw[counts[0]].groups.pool ? raw[counts[0]].groups.pool.reps : 3}.`,
    '',
    table('CPU-bound: 2,000 × fib(25), wall ÷ ideal (1.00 = perfect; ideal = fastest single-thread time ÷ T)', counts, perT, 'cpu-bound', (r) => (r.throughput && r.throughput.unit === '× ideal' ? r.throughput.value : undefined), 2),
    '',
    table('CPU-bound: wall ms', counts, perT, 'cpu-bound', wall, 1),
    '',
    table(
      'CPU-bound: wall ÷ the static split (T bare workers, each handed 2,000/T tasks up front, no pool)',
      counts,
      perT,
      'cpu-bound',
      (r) => (r.role === 'reference' ? undefined : r.wallMs / floorMs(perT, r)),
      2,
      'The static split runs in the same process just before the pools. On a machine whose cores differ in speed from moment to moment it is a steadier yardstick than the single-thread time ÷ T; a pool can beat it (< 1.00) by handing more tasks to the faster cores.',
    ),
    '',
    table('Tiny tasks: 100,000 `x => x + 1` in flight, tasks/s', counts, perT, 'tiny-throughput', (r) => (r.throughput ? r.throughput.value : undefined), 0),
    '',
    table('Fork–join fib(36), 3,193 tasks: wall ms', counts, perT, 'fork-join', wall, 1),
    '',
    table('Sort 10M f64: wall ms (spindle.sort on T kernel threads; the anchor is single-threaded)', counts, perT, 'sort', wall, 1),
    '',
    process.env.BENCH_QUICK ? '**BENCH_QUICK sizes: the titles give the full sizes, these rows are smaller.**\n' : '',
  ].join('\n')
  fs.mkdirSync(path.dirname(out.md), { recursive: true })
  fs.mkdirSync(path.dirname(out.json), { recursive: true })
  fs.writeFileSync(out.md, md)
  fs.writeFileSync(out.json, JSON.stringify({ generated, machine: m, counts, runs: raw }, null, 1) + '\n')
  console.log('\n' + md)
}

main()
