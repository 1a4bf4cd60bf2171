'use strict'
// Errors print as Node's own do, and options are read through own properties.
const childProcess = require('node:child_process')
const spindle = require('../..')
const { snapshot, getOwn } = require('../../lib/options')

function thrown(fn) {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('did not throw')
}

describe('error printing', () => {
  test('String(err) and the stack header carry the code, as child_process errors do', () => {
    const ours = thrown(() => spindle.spawn('true', [], { timeout: -1 }))
    const node = thrown(() => childProcess.spawn('true', [], { timeout: -1 }))
    expect(ours.code).toBe(node.code)
    expect(ours.name).toBe(node.name)
    // The message text may differ between Node versions; the format may not.
    for (const err of [ours, node]) expect(String(err)).toBe(`${err.name} [${err.code}]: ${err.message}`)
    expect(Object.keys(ours)).toEqual(Object.keys(node))
  })

  test('the first stack line matches Node outside jest (jest rewrites stack headers)', () => {
    const script = `
      const cp = require('node:child_process'); const spindle = require(${JSON.stringify(require.resolve('../..'))})
      const first = (fn) => { try { fn() } catch (e) { return [e.stack.split('\\n')[0], \`\${e.name} [\${e.code}]: \${e.message}\`] } }
      console.log(JSON.stringify([first(() => spindle.spawn('true', [], { timeout: -1 })),
                                  first(() => cp.spawn('true', [], { timeout: -1 }))]))`
    const out = childProcess.execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    const [ours, node] = JSON.parse(out)
    expect(node[0]).toMatch(/^RangeError \[ERR_OUT_OF_RANGE\]: /)
    expect(node[0]).toBe(node[1])
    expect(ours[0]).toBe(ours[1])
  })

  test('kernel argument errors print their code too', () => {
    const err = thrown(() => spindle.sort('nope'))
    expect(String(err)).toMatch(/^TypeError \[ERR_INVALID_ARG_TYPE\]: /)
    expect(err.name).toBe('TypeError')
  })
})

describe('own-property snapshots', () => {
  afterEach(() => {
    delete Object.prototype.polluted
  })

  test('inherited properties are not read', () => {
    Object.prototype.polluted = 'yes' // eslint-disable-line no-extend-native
    const snap = snapshot({ mine: 1 }, ['mine', 'polluted'])
    expect(snap.mine).toBe(1)
    expect('polluted' in snap).toBe(false)
    expect(getOwn({}, 'polluted')).toBeUndefined()
  })

  test('each getter is read exactly once', () => {
    let reads = 0
    const snap = snapshot({ get n() { reads += 1; return reads } }, ['n'])
    expect(snap.n).toBe(1)
    expect(snap.n).toBe(1)
    expect(reads).toBe(1)
  })

  test('a revoked Proxy gives ERR_INVALID_ARG_VALUE; a user getter error passes through', () => {
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    const err = thrown(() => snapshot(proxy, ['a']))
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(err.cause).toBeDefined()
    const mine = new Error('mine')
    expect(thrown(() => snapshot({ get a() { throw mine } }, ['a']))).toBe(mine)
  })
})
