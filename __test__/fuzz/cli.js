'use strict'
// A fuzz campaign from the command line (see README.md in this folder):
//   node __test__/fuzz/cli.js [--seed N] [--budget-ms MS] [--jobs J] [--site ID] [--value ID] [--class race,getter,...]
//        [--limit N|first-pass] [--json FILE]
// With no budget it runs every case: the exhaustive pass over (site ×
// position × value class), then every remaining value. Exits 1 on failures.

const fs = require('node:fs')
const { area, campaign, generate, slots } = require('./harness')

const firstPassSize = () => slots().reduce((n, s) => n + s.byClass.size, 0)

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1]
}

async function main() {
  const seed = Number(arg('seed', process.env.SPINDLE_FUZZ_SEED ?? Date.now() % 1e9)) >>> 0
  const budgetMs = Number(arg('budget-ms', Infinity))
  const jobs = Number(arg('jobs', 2))
  const onlySite = arg('site')
  const onlyValue = arg('value')
  let cases = generate(seed)
  if (onlySite) cases = cases.filter((c) => c.site === onlySite)
  if (onlyValue) cases = cases.filter((c) => c.value === onlyValue)
  const onlyClasses = arg('class')?.split(',')
  if (onlyClasses) {
    const { VALUES } = require('./values')
    cases = cases.filter((c) => onlyClasses.includes(c.value === 'pollution' ? 'pollution' : VALUES[c.value].cls))
  }
  const limit = arg('limit')
  if (limit === 'first-pass') cases = cases.slice(0, firstPassSize())
  else if (limit !== undefined) cases = cases.slice(0, Number(limit))
  console.log(`spindle fuzz: seed ${seed}, ${cases.length} cases, budget ${budgetMs} ms, ${jobs} jobs`)
  let done = 0
  const { ran, failures } = await campaign(cases, {
    budgetMs,
    jobs,
    onResult: (c, v) => {
      done++
      if (!v.ok) console.log(`FAIL [${area(c.site)}/${v.kind}] ${c.site} ${c.pos} ${c.value}: ${v.reason}`)
      else if (done % 100 === 0) console.log(`… ${done} cases`)
    },
  })
  console.log(`ran ${ran} of ${cases.length} cases (seed ${seed}); ${failures.length} failed`)
  for (const f of failures) console.log(`  ${f.replay}`)
  const out = arg('json')
  if (out) fs.writeFileSync(out, JSON.stringify({ seed, ran, failures }, null, 1))
  process.exitCode = failures.length ? 1 : 0
}

main()
