'use strict'
// The fuzz harness's own checks: the verdict on synthetic runs (so a crash,
// a hang or an uncoded error can never pass unnoticed), and the seeded order.

const { generate, judge, slots } = require('./harness')
const { SITES } = require('./sites')
const { VALUES } = require('./values')

const c = { site: 'hash', pos: '0', value: 'symbol' }
const run = (result, extra = {}) => ({
  c,
  code: 0,
  signal: null,
  hung: false,
  ms: 10,
  stdout: result === undefined ? '' : `noise\nFUZZ-RESULT ${JSON.stringify({ case: c, events: [], uncaught: [], cleanup: null, ...result })}\n`,
  stderr: '',
  ...extra,
})
const coded = (code, more = {}) => ({ type: 'object', code, name: 'TypeError', message: 'm', user: false, ...more })

describe('verdict', () => {
  test('a coded error, a user error and DataCloneError pass', () => {
    expect(judge(run({ outcome: 'threw', error: coded('ERR_INVALID_ARG_TYPE') })).ok).toBe(true)
    expect(judge(run({ outcome: 'rejected', error: coded('ABORT_ERR') })).ok).toBe(true)
    expect(judge(run({ outcome: 'rejected', error: coded('ENOENT') })).ok).toBe(true)
    expect(judge(run({ outcome: 'threw', error: coded(undefined, { user: true }) })).ok).toBe(true)
    expect(judge(run({ outcome: 'threw', error: coded(undefined, { name: 'DataCloneError', domException: true }) })).ok).toBe(true)
    expect(judge(run({ outcome: 'ok' })).ok).toBe(true)
  })

  test('signals, abort messages, exit codes and missing results are crashes', () => {
    expect(judge(run({ outcome: 'ok' }, { signal: 'SIGSEGV', code: null })).kind).toBe('crash')
    expect(judge(run(undefined, { signal: 'SIGABRT', code: null })).kind).toBe('crash')
    expect(judge(run({ outcome: 'ok' }, { stderr: 'double free or corruption (out)\n' })).kind).toBe('crash')
    expect(judge(run({ outcome: 'ok' }, { stderr: 'munmap_chunk(): invalid pointer' })).kind).toBe('crash')
    expect(judge(run({ outcome: 'ok' }, { code: 1 })).kind).toBe('crash')
    expect(judge(run(undefined, { code: 0 })).kind).toBe('crash')
  })

  test('never settling, not exiting and a pool that will not stop are hangs', () => {
    expect(judge(run({ outcome: 'pending' })).kind).toBe('hang')
    expect(judge(run({ outcome: 'ok' }, { hung: true, signal: 'SIGKILL', code: null })).kind).toBe('hang')
    expect(judge(run(undefined, { hung: true, signal: 'SIGKILL', code: null })).kind).toBe('hang')
    expect(judge(run({ outcome: 'ok', cleanup: 'pool.destroy() did not settle' })).kind).toBe('hang')
    expect(judge(run({ outcome: 'ok', nested: { outcome: 'pending' } })).kind).toBe('hang')
  })

  test('no code, a napi status, an odd code or a thrown primitive are uncoded', () => {
    expect(judge(run({ outcome: 'threw', error: coded(undefined) })).kind).toBe('uncoded')
    expect(judge(run({ outcome: 'rejected', error: coded('InvalidArg') })).kind).toBe('uncoded')
    expect(judge(run({ outcome: 'rejected', error: coded('NumberExpected') })).kind).toBe('uncoded')
    expect(judge(run({ outcome: 'rejected', error: coded('whatever') })).kind).toBe('uncoded')
    expect(judge(run({ outcome: 'rejected', error: { type: 'string', message: 'x', user: false } })).kind).toBe('uncoded')
    expect(judge(run({ outcome: 'ok', events: [coded(undefined)] })).kind).toBe('uncoded')
    expect(judge(run({ outcome: 'ok', nested: { outcome: 'threw', error: coded(undefined) } })).kind).toBe('uncoded')
  })

  test('uncaught errors, wrong results and honoured pollution fail', () => {
    expect(judge(run({ outcome: 'ok', uncaught: [coded('ERR_X')] })).kind).toBe('uncaught')
    expect(judge(run({ outcome: 'ok', callback: true, uncaught: [coded(undefined, { user: true })] })).ok).toBe(true)
    expect(judge(run({ outcome: 'ok', wrong: 'digest differs' })).kind).toBe('wrong')
    const same = { outcome: 'ok', value: 'a' }
    expect(judge(run({ outcome: 'pollution', baseline: same, polluted: same })).ok).toBe(true)
    expect(judge(run({ outcome: 'pollution', baseline: same, polluted: { outcome: 'ok', value: 'b' } })).kind).toBe('pollution')
  })
})

describe('cases', () => {
  test('the order is a function of the seed', () => {
    expect(generate(5).slice(0, 50)).toEqual(generate(5).slice(0, 50))
    expect(generate(5).slice(0, 50)).not.toEqual(generate(6).slice(0, 50))
  })

  test('the first round reaches every position of every site, and every case names known things', () => {
    const all = slots()
    const first = generate(9).slice(0, all.length)
    const key = (x) => `${x.site} ${x.pos}`
    expect(new Set(first.map(key))).toEqual(new Set(all.map(key)))
    for (const site of SITES) expect(site.positions.length).toBeGreaterThan(0)
    for (const x of generate(9)) {
      if (x.value !== 'pollution') expect(VALUES[x.value]).toBeDefined()
    }
  })
})
