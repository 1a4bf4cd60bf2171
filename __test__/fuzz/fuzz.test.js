'use strict'
// The fuzz suite in `npm test`: every export, argument position and option
// key with hostile values, each case in its own process (see README.md in
// this folder). Seeded (SPINDLE_FUZZ_SEED, default below) and bounded in
// time (SPINDLE_FUZZ_BUDGET_MS of wall time, SPINDLE_FUZZ_JOBS processes at
// once). Every failing case is listed with the command that replays it.

const { area, campaign, generate } = require('./harness')

const SEED = Number(process.env.SPINDLE_FUZZ_SEED ?? 20261130) >>> 0
const BUDGET_MS = Number(process.env.SPINDLE_FUZZ_BUDGET_MS ?? 45000)
const JOBS = Number(process.env.SPINDLE_FUZZ_JOBS ?? 2)
const CASE_MS = 15000

test(`hostile input: no crash, no hang, no uncoded error, no inherited option honoured (seed ${SEED})`, async () => {
  const cases = generate(SEED)
  const { ran, failures } = await campaign(cases, { budgetMs: BUDGET_MS, jobs: JOBS, caseMs: CASE_MS })
  const header = `spindle fuzz: seed ${SEED}, ran ${ran} of ${cases.length} cases in a ${BUDGET_MS} ms budget`
  console.log(header)
  expect(ran).toBeGreaterThan(0)
  if (failures.length > 0) {
    const lines = failures.map((f) => `[${area(f.c.site)}/${f.kind}] ${f.c.site} ${f.c.pos} ${f.c.value}: ${f.reason}\n    ${f.replay}`)
    throw new Error(`${header}: ${failures.length} failed\n${lines.join('\n')}`)
  }
}, BUDGET_MS + CASE_MS + 30000)
