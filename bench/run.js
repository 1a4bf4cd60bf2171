'use strict'
// `npm run bench` = `node bench/run.js [group|scenario ...]`
//
// Runs the scenario groups (kernels, pool, spawn, remote), or only those named on the
// command line (a group name, or a scenario id such as `sort` or `tiny-throughput`).
// Every run writes what it measured, and only that, into a directory of its own,
// bench/results/runs/<date>/ (git-ignored): results.json, RESULTS.md, chart.svg and
// latency.svg. With --publish it also merges its results into the committed files:
//   bench/results/latest.json   machine, date, every row of every scenario
//   bench/RESULTS.md            one Markdown table per scenario
//   bench/results/chart.svg     normalised bars per scenario
//   bench/results/latency.svg   task latency distributions (scenarios with per-task latencies)
// A published run of some groups keeps the other groups' last results in those
// files (each group carries its own date). BENCH_QUICK=1 shrinks every size;
// published, it goes to bench/results/quick/ instead, so quick numbers never
// overwrite the full-size ones. BENCH_OUT=<dir> writes the merged files there
// (merged with what that directory holds) and nothing else.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const h = require('./harness')
const report = require('./report')

const GROUPS = ['kernels', 'pool', 'spawn', 'remote']

function parseArgs(argv) {
  const groups = new Set()
  const only = new Set()
  let render = false
  let publish = false
  for (const a of argv) {
    if (a === '--help' || a === '-h') {
      console.log('usage: node bench/run.js [--publish] [kernels|pool|spawn|remote|<scenario id> ...]  (BENCH_QUICK=1 for small sizes)')
      console.log('       (writes bench/results/runs/<date>/; --publish also updates bench/RESULTS.md, results/latest.json and the charts)')
      console.log('       node bench/run.js --render   rewrite RESULTS.md and the charts from latest.json, running nothing')
      process.exit(0)
    }
    if (a === '--render') {
      render = true
      continue
    }
    if (a === '--publish') {
      publish = true
      continue
    }
    if (GROUPS.includes(a)) groups.add(a)
    else only.add(a)
  }
  return { groups, only, render, publish }
}

/** This run's own directory: its results only, never merged, never committed. */
function runPaths(date) {
  const dir = path.join(__dirname, 'results', 'runs', date.toISOString().replace(/[:.]/g, '-'))
  return { dir, json: path.join(dir, 'results.json'), md: path.join(dir, 'RESULTS.md'), svg: path.join(dir, 'chart.svg') }
}

/** Where published (merged) results go: the committed files, or BENCH_OUT, or quick/. */
function publishedPaths() {
  if (process.env.BENCH_OUT) {
    const dir = path.resolve(process.env.BENCH_OUT)
    return { dir, json: path.join(dir, 'latest.json'), md: path.join(dir, 'RESULTS.md'), svg: path.join(dir, 'chart.svg') }
  }
  if (h.QUICK) {
    const dir = path.join(__dirname, 'results', 'quick')
    return { dir, json: path.join(dir, 'latest.json'), md: path.join(dir, 'RESULTS.md'), svg: path.join(dir, 'chart.svg') }
  }
  const dir = path.join(__dirname, 'results')
  return { dir, json: path.join(dir, 'latest.json'), md: path.join(__dirname, 'RESULTS.md'), svg: path.join(dir, 'chart.svg') }
}

function fmtRow(r) {
  if (r.skipped) return `    ${r.impl.padEnd(40)} ${r.skipped}`
  const f = (x, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '—')
  const tp = r.throughput ? `${f(r.throughput.value, r.throughput.value < 10 ? 2 : 0)} ${r.throughput.unit}` : ''
  const rt = r.ratio ? `ratio ${r.ratio.toFixed(2)}` : ''
  const tg = r.targets.map((t) => `${t.text}: ${t.met === null ? 'not evaluated' : t.met ? 'met' : 'NOT met'}`).join('; ')
  return `    ${r.impl.padEnd(40)} ${f(r.wallMs).padStart(9)} ms  worst ${f(r.worstDelayMs, 2).padStart(8)} ms  ${tp.padEnd(18)} ${rt.padEnd(12)} ${tg}`
}

async function runGroup(mod, only) {
  const wanted = mod.scenarios.filter((sc) => !only.size || only.has(sc.id) || only.has(mod.group))
  if (!wanted.length) return { scenarios: [] }
  const started = new Date()
  const group = {
    group: mod.group,
    title: mod.title,
    date: started.toISOString(),
    quick: h.QUICK,
    reps: h.REPS,
    threads: h.THREADS,
    loadavgStart: os.loadavg().map((x) => h.round(x, 2)),
    machine: h.machine(),
    scenarios: [],
  }
  group.addon = h.addonInfo()
  if (group.addon.build === 'debug') {
    console.warn(`  !! the loaded addon (${group.addon.path}, ${group.addon.sizeMiB} MiB) is a DEBUG build: spindle's numbers are not representative`)
  }
  const available = mod.available()
  if (mod.info) group.info = mod.info()
  console.log(`\n== ${mod.title}${available ? '' : ' — spindle API not implemented: spindle rows skipped, anchors still run'}`)
  for (const sc of wanted) {
    const t0 = performance.now()
    const cpu0 = h.cpuSnapshot()
    console.log(`  -- ${sc.id}`)
    let results
    try {
      results = await sc.run()
    } catch (err) {
      console.error(`  !! ${sc.id} failed:`, err && err.stack ? err.stack : err)
      results = { title: sc.id, error: String(err && err.message ? err.message : err), rows: [] }
    }
    const others = h.otherCores(cpu0, h.cpuSnapshot())
    for (const res of [].concat(results)) {
      res.otherCpuCores = others === null ? null : h.round(others, 2)
      res.id = res.id || sc.id
      res.group = mod.group
      res.date = new Date().toISOString()
      res.seconds = h.round((performance.now() - t0) / 1000, 1)
      res.loadavg = os.loadavg().map((x) => h.round(x, 2))
      group.scenarios.push(res)
      console.log(`  ${res.title}${res.error ? `  ERROR: ${res.error}` : ''}  [others busy ≈ ${res.otherCpuCores} cores]`)
      for (const r of res.rows) console.log(fmtRow(r))
    }
    h.gc()
  }
  group.seconds = h.round((Date.now() - started.getTime()) / 1000, 1)
  group.loadavgEnd = os.loadavg().map((x) => h.round(x, 2))
  return group
}

async function main() {
  const started = new Date()
  const { groups, only, render, publish } = parseArgs(process.argv.slice(2))
  const selected = groups.size || only.size ? GROUPS.filter((g) => groups.has(g) || only.size) : GROUPS
  // BENCH_OUT names the directory to merge into (bench/scaling.js uses it).
  const out = publish || render || process.env.BENCH_OUT ? publishedPaths() : null

  let previous = null
  if (out !== null) {
    try {
      previous = JSON.parse(fs.readFileSync(out.json, 'utf8'))
    } catch {}
  }

  if (render) {
    if (!previous) throw new Error(`--render: no results at ${out.json}`)
    writeReports(out, previous)
    return
  }

  console.log(`spindle bench — ${h.QUICK ? 'QUICK sizes' : 'full sizes'}, ${h.REPS} reps, ${h.THREADS} pool threads`)
  const m = h.machine()
  console.log(`${m.cpuModel} × ${m.cpuCount}, ${m.totalMemoryGiB} GiB, Node ${m.node}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)

  const ran = {} // merged with the previous published results
  const ranOwn = {} // this run's alone
  for (const name of selected) {
    const mod = require(`./scenarios/${name}.js`)
    const g = await runGroup(mod, only)
    if (!g.scenarios.length) continue
    ranOwn[name] = g
    if (out !== null) ran[name] = mergeGroup(previous && previous.groups ? previous.groups[name] : null, g, mod)
  }

  const generated = new Date().toISOString()
  if (!process.env.BENCH_OUT) {
    const own = { generated, machine: m, groups: ranOwn }
    const mine = runPaths(started)
    fs.mkdirSync(mine.dir, { recursive: true })
    fs.writeFileSync(mine.json, JSON.stringify(own, null, 2) + '\n')
    writeReports(mine, own)
  }
  if (out === null) {
    console.log('(not published: `node bench/run.js --publish ...` updates bench/RESULTS.md and bench/results/)')
    return
  }

  const merged = {
    generated,
    machine: m,
    groups: { ...(previous && previous.groups ? previous.groups : {}), ...ran },
  }
  // Keep the groups in their canonical order.
  merged.groups = Object.fromEntries(GROUPS.filter((g) => merged.groups[g]).map((g) => [g, merged.groups[g]]))

  fs.mkdirSync(out.dir, { recursive: true })
  fs.writeFileSync(out.json, JSON.stringify(merged, null, 2) + '\n')
  writeReports(out, merged)
}

/**
 * A run of single scenarios (`node bench/run.js fork-join`) keeps the group's
 * other scenarios from the previous results: those that ran replace the ones
 * with the same id, in the module's order. The group header (date, load,
 * duration) stays the previous run's; each scenario carries its own date.
 */
function mergeGroup(prev, cur, mod) {
  if (!prev || !prev.scenarios || prev.quick !== cur.quick) return cur
  const reran = new Set(cur.scenarios.map((sc) => sc.id))
  const kept = prev.scenarios.filter((sc) => !reran.has(sc.id))
  if (!kept.length) return cur
  const order = mod.scenarios.map((sc) => sc.id)
  const rank = (sc) => (order.includes(sc.id) ? order.indexOf(sc.id) : order.length)
  const scenarios = [...kept, ...cur.scenarios].sort((a, b) => rank(a) - rank(b))
  console.log(`  (kept ${kept.length} earlier ${mod.group} scenario(s) from ${prev.date}; replaced or added: ${[...reran].join(', ')})`)
  return { ...prev, scenarios }
}

function writeReports(out, results) {
  fs.writeFileSync(out.md, report.markdown(results, GROUPS, path.relative(path.dirname(out.md), out.svg).split(path.sep).join('/')))
  fs.writeFileSync(out.svg, report.svg(results))
  const written = [out.json, out.md, out.svg]
  const latency = report.latencySvg(results)
  if (latency) {
    const file = path.join(path.dirname(out.svg), 'latency.svg')
    fs.writeFileSync(file, latency)
    written.push(file)
  }
  console.log(`\nwrote ${written.map((f) => path.relative(process.cwd(), f)).join(', ')}`)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
