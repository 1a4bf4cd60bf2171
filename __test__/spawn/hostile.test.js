// spawn/exec under hostile input (issue 10): prototype pollution, values that
// cannot become strings, revoked Proxies, huge durations, a cwd that is a
// file, PATHs full of relative entries. Whatever can run a command the
// caller did not ask for runs in its own process.
const cp = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const spindle = require('../..')
const { setLongTimeout } = require('../../lib/spawn')
const { record } = require('../support/children')

const root = path.join(__dirname, '..', '..')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-hostile-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** Runs a Node script in a fresh process; resolves { code, signal, stdout, stderr }. */
function node(script, env = process.env) {
  return new Promise((resolve) => {
    cp.execFile(process.execPath, ['-e', script], { cwd: root, env, timeout: 60000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, signal: err ? err.signal : null, stdout, stderr })
    })
  })
}

/** What `fn` throws (or 'no throw', after killing what it started). */
function outcome(fn) {
  try {
    const r = fn()
    if (r && typeof r.kill === 'function') r.kill('SIGKILL')
    if (r && typeof r.catch === 'function') r.catch(() => {})
    return 'no throw'
  } catch (err) {
    return err
  }
}

describe('prototype pollution is never honoured (issue 10 item 9, issue 12 defect 2)', () => {
  test('an inherited shell, cwd, argv0, uid, stdio, timeout or detached changes nothing', async () => {
    const r = await node(`
      const spindle = require('.')
      const out = {}
      Object.prototype.shell = true
      Object.prototype.cwd = '/'
      Object.prototype.argv0 = 'polluted'
      Object.prototype.uid = 12345
      Object.prototype.gid = 12345
      Object.prototype.stdio = 'ignore'
      Object.prototype.timeout = 1
      Object.prototype.killSignal = 'SIGKILL'
      Object.prototype.detached = true
      Object.prototype.input = 'polluted input'
      Object.prototype.encoding = 'hex'
      ;(async () => {
        out.exec = (await spindle.exec('echo', ['$(id -u)'])).stdout
        out.execOpts = (await spindle.exec('echo', ['$(id -u)'], {})).stdout
        out.pwd = (await spindle.exec('pwd')).stdout
        out.argv0 = (await spindle.exec('sh', ['-c', 'echo $0'])).stdout
        const child = spindle.spawn('sh', ['-c', 'sleep 0.2; echo $0; pwd; ps -o sid= -p $$ | tr -d " "'], {})
        let text = ''
        child.stdout.on('data', (d) => { text += d })
        await new Promise((r) => child.on('close', (code, sig) => { out.spawnClose = [code, sig]; r() }))
        out.spawn = text
        console.log(JSON.stringify(out))
      })().catch((e) => { console.log('FAILED', e.code, e.message); process.exitCode = 1 })
    `)
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout)
    const sid = String(Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[3]))
    expect(out.exec).toBe('$(id -u)\n')
    expect(out.execOpts).toBe('$(id -u)\n')
    expect(out.pwd).toBe(`${root}\n`)
    expect(out.argv0).toBe('sh\n')
    expect(out.spawnClose).toEqual([0, null])
    // Not detached: the child is in our session (the script's node is in ours too).
    expect(out.spawn).toBe(`sh\n${root}\n${sid}\n`)
  })

  test("keys inherited from Object.prototype never reach a child's environment; a user's own chain does", async () => {
    const r = await node(`
      const cp = require('node:child_process')
      const spindle = require('.')
      Object.prototype.NODE_OPTIONS = '--require /nonexistent/polluted.js'
      Object.prototype.POLLUTED = 'yes'
      const base = { PATH: process.env.PATH, FROM_PARENT: 'p' }
      const env = Object.create(base)
      env.OWN = 'o'
      const script = 'echo "$POLLUTED|$NODE_OPTIONS|$FROM_PARENT|$OWN"'
      const run = (fn) => new Promise((resolve) => {
        let text = ''
        const c = fn('sh', ['-c', script], { env })
        c.stdout.on('data', (d) => { text += d })
        c.on('close', () => resolve(text))
      })
      ;(async () => {
        const viaExec = (await spindle.exec('sh', ['-c', script], { env: { PATH: process.env.PATH } })).stdout
        console.log(JSON.stringify({ ours: await run(spindle.spawn), node: await run(cp.spawn), viaExec }))
      })()
    `)
    expect(r.stderr).toBe('')
    const { ours, node: theirs, viaExec } = JSON.parse(r.stdout)
    // child_process passes the polluted keys on (for..in); spindle does not.
    expect(theirs).toBe('yes|--require /nonexistent/polluted.js|p|o\n')
    expect(ours).toBe('||p|o\n')
    expect(viaExec).toBe('|||\n')
  })

  test('a polluted Array.prototype fills no hole in args or stdio; a polluted signal name is unknown', async () => {
    const r = await node(`
      const spindle = require('.')
      Array.prototype[1] = '$(echo polluted)'
      Object.prototype.SIGPOLLUTED = 9
      ;(async () => {
        const args = ['-c', 'echo "$0"', 'x']
        const res = await spindle.exec('sh', [args[0], args[1], , 'y'])
        let code
        try { spindle.spawn('true', [], { killSignal: 'SIGPOLLUTED' }) } catch (e) { code = e.code }
        console.log(JSON.stringify({ stdout: res.stdout, code }))
      })()
    `)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({ stdout: 'undefined\n', code: 'ERR_UNKNOWN_SIGNAL' })
  })
})

describe('every argument error has a code (issue 10)', () => {
  const { proxy: revoked, revoke } = Proxy.revocable({}, {})
  revoke()
  const { proxy: revokedArray, revoke: revokeArray } = Proxy.revocable([], {})
  revokeArray()
  const nullProto = Object.create(null)
  const sym = Symbol('s')

  test('same code as child_process where it has one; a coded TypeError where it throws an engine error', () => {
    const cases = [
      ['echo', [sym]],
      ['echo', [nullProto]],
      ['echo', revokedArray],
      ['echo', revoked],
      ['echo', [], revoked],
      ['echo', [], revokedArray],
      ['echo', [], { env: revoked }],
      ['echo', [], { env: { A: sym } }],
      ['echo', [], { env: { A: nullProto } }],
      ['echo', [], { killSignal: sym }],
      ['echo', [], { killSignal: nullProto }],
      ['echo', [], { killSignal: revoked }],
      [sym],
      [nullProto],
      ['echo', [], { cwd: sym }],
      ['echo', [], { cwd: nullProto }],
      ['echo', [], { argv0: sym }],
      ['echo', [], { shell: 'a\u0000b' }],
      ['echo', [], { shell: sym }],
      ['echo', [], { stdio: revokedArray }],
      ['echo', [], { stdio: [sym] }],
      ['echo', [], { stdio: [nullProto] }],
      ['echo', [], { timeout: sym }],
      ['echo', [], { timeout: 1.5 }],
      ['echo', [], { timeout: Infinity }],
      ['echo', [], { uid: 'x' }],
      ['echo', [], { detached: sym }],
      ['echo', [], { windowsHide: 1 }],
      ['echo', [], { signal: revoked }],
      ['echo', [], { cwd: revoked }],
    ]
    for (const [i, c] of cases.entries()) {
      const theirs = outcome(() => cp.spawn(...c))
      const ours = outcome(() => spindle.spawn(...c))
      expect([i, ours === 'no throw']).toEqual([i, false])
      expect([i, typeof ours.code]).toEqual([i, 'string'])
      expect(ours.code).not.toMatch(/^[A-Z][a-z]+[A-Z]/) // no napi status names (StringExpected...)
      if (theirs !== 'no throw' && theirs.code !== undefined) {
        expect([i, ours.code, ours.name]).toEqual([i, theirs.code, theirs.name])
      } else {
        expect([i, ours.name]).toEqual([i, 'TypeError'])
      }
    }
  })

  test('options.shell with a NUL byte: TypeError ERR_INVALID_ARG_VALUE, as child_process (issue 12 defect 3)', () => {
    const ours = outcome(() => spindle.spawn('echo', [], { shell: '/bin/sh\u0000x' }))
    const theirs = outcome(() => cp.spawn('echo', [], { shell: '/bin/sh\u0000x' }))
    expect(ours).toBeInstanceOf(TypeError)
    expect([ours.code, ours.message]).toEqual([theirs.code, theirs.message])
  })

  test('exec: hostile values in every string position are coded', () => {
    const cases = [
      [sym],
      ['echo', [sym]],
      ['echo', [nullProto]],
      ['echo', revokedArray],
      ['echo', revoked],
      ['echo', [], revoked],
      ['echo', [], { env: revoked }],
      ['echo', [], { env: revoked, extendEnv: false }],
      ['echo', [], { env: { A: sym } }],
      ['echo', [], { killSignal: sym }],
      ['echo', [], { killSignal: nullProto }],
      ['echo', [], { cwd: sym }],
      ['echo', [], { shell: 'a\u0000b' }],
      ['echo', [], { signal: revoked }],
    ]
    for (const [i, c] of cases.entries()) {
      const ours = outcome(() => spindle.exec(...c))
      expect([i, typeof ours.code]).toEqual([i, 'string'])
      expect([i, ours.name]).toEqual([i, 'TypeError'])
    }
  })

  test('kill() with a Symbol, a null-prototype object or a revoked Proxy: ERR_UNKNOWN_SIGNAL as Node', async () => {
    const codes = { ours: [], node: [] }
    const drive = (which) => (child) => {
      for (const sig of [sym, nullProto, revoked]) {
        const err = outcome(() => child.kill(sig))
        codes[which].push(`${err.name} ${err.code} ${err.message}`)
      }
      child.kill('SIGKILL')
    }
    await Promise.all([
      record(cp.spawn, 'sleep', ['30'], undefined, drive('node')),
      record(spindle.spawn, 'sleep', ['30'], undefined, drive('ours')),
    ])
    expect(codes.ours).toEqual(codes.node)
    expect(codes.ours[0]).toBe('TypeError ERR_UNKNOWN_SIGNAL Unknown signal: Symbol(s)')
  })
})

test('a view of a detached buffer as kill() signal or stdin chunk: coded errors (fuzz finds)', async () => {
  const detached = (Ctor) => {
    const v = new Ctor(4)
    structuredClone(v.buffer, { transfer: [v.buffer] })
    return v
  }
  const detachedDataView = () => {
    const dv = new DataView(new ArrayBuffer(4))
    structuredClone(dv.buffer, { transfer: [dv.buffer] })
    return dv
  }
  const errs = []
  await record(spindle.spawn, 'cat', [], undefined, (child) => {
    try {
      for (const v of [detached(Uint8Array), detached(Float64Array)]) {
        const err = outcome(() => child.kill(v))
        errs.push(`${err.name} ${err.code}`)
      }
      for (const v of [detached(Float64Array), detached(Uint8Array), detachedDataView(), new DataView(new ArrayBuffer(0))]) {
        const err = outcome(() => child.stdin.write(v))
        errs.push(err === 'no throw' ? err : `${err.name} ${err.code}`)
      }
    } finally {
      child.stdin.end('ok')
    }
  })
  expect(errs).toEqual([
    'TypeError ERR_UNKNOWN_SIGNAL',
    'TypeError ERR_UNKNOWN_SIGNAL',
    'TypeError ERR_INVALID_ARG_VALUE',
    'TypeError ERR_INVALID_ARG_VALUE',
    'TypeError ERR_INVALID_ARG_VALUE',
    'no throw', // an empty DataView over a live buffer
  ])
})

test('stdin chunks are read through the intrinsics: lying lengths, Proxies and detached views are coded errors or the real bytes (fuzz finds)', async () => {
  const { proxy: revoked, revoke } = Proxy.revocable(() => {}, {})
  revoke()
  const lying = Buffer.from('real bytes\n')
  Object.defineProperty(lying, 'byteLength', { value: 2 ** 40 })
  const offset = new Uint8Array(Buffer.from('xxoffset ok\n'))
  Object.defineProperty(offset, 'byteOffset', { value: 64 })
  const view = new Uint8Array(new Uint8Array(Buffer.from('yyview\n')).buffer, 2)
  const outcomes = []
  const r = await record(spindle.spawn, 'cat', [], undefined, (child) => {
    try {
      for (const chunk of [lying, offset.subarray(2), view, revoked, new Proxy([], {}), { length: 3 }]) {
        const err = outcome(() => child.stdin.write(chunk))
        outcomes.push(err === 'no throw' ? err : `${err.name} ${err.code}`)
      }
      const { proxy: revokedObject, revoke: revokeObject } = Proxy.revocable({}, {})
      revokeObject()
      const err = outcome(() => child.stdin.end(revokedObject))
      outcomes.push(`${err.name} ${err.code}`)
    } finally {
      child.stdin.end()
    }
  })
  expect(outcomes).toEqual([
    'no throw',
    'no throw',
    'no throw',
    'TypeError ERR_INVALID_ARG_TYPE',
    'TypeError ERR_INVALID_ARG_TYPE',
    'TypeError ERR_INVALID_ARG_TYPE',
    'TypeError ERR_INVALID_ARG_TYPE',
  ])
  expect(r.stdout.toString()).toBe('real bytes\noffset ok\nview\n')
})

test('a revoked function Proxy as a signal: ERR_UNKNOWN_SIGNAL; arrays with a lying length: ERR_OUT_OF_RANGE, no endless loop', () => {
  const { proxy: revokedFn, revoke } = Proxy.revocable(() => {}, {})
  revoke()
  const child = spindle.spawn('sleep', ['30'])
  try {
    expect(outcome(() => child.kill(revokedFn)).code).toBe('ERR_UNKNOWN_SIGNAL')
    expect(outcome(() => child.killGroup(revokedFn)).code).toBe('ERR_UNKNOWN_SIGNAL')
  } finally {
    child.kill('SIGKILL')
  }
  const lyingLength = () => new Proxy(['x'], { get: (t, k) => (k === 'length' ? 2 ** 32 - 1 : t[k]) })
  for (const c of [
    ['echo', lyingLength()],
    ['echo', [], { env: { A: lyingLength() } }],
    ['echo', [], { stdio: lyingLength() }],
  ]) {
    expect(outcome(() => spindle.spawn(...c)).code).toBe('ERR_OUT_OF_RANGE')
  }
})

test('exec input backed by a detached buffer throws before anything starts; a lying byteLength feeds the real bytes', async () => {
  const dv = new DataView(new ArrayBuffer(4))
  structuredClone(dv.buffer, { transfer: [dv.buffer] })
  expect(outcome(() => spindle.exec('cat', [], { input: dv })).code).toBe('ERR_INVALID_ARG_VALUE')
  const lying = Buffer.from('exact\n')
  Object.defineProperty(lying, 'byteLength', { value: 2 ** 40 })
  expect((await spindle.exec('cat', [], { input: lying })).stdout).toBe('exact\n')
})

test('an argument or env value nested too deep to become a string: a coded error, not a stack overflow', () => {
  let deep = ['x']
  for (let i = 0; i < 1e6; i++) deep = [deep]
  for (const c of [['echo', ['a', deep]], ['echo', [], { env: { A: deep } }]]) {
    const err = outcome(() => spindle.spawn(...c))
    expect([err.name, err.code]).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE'])
  }
})

describe('durations of 2^31 ms or more (issue 10 item 12)', () => {
  test('spawn: timeout 2^31 does not kill the child after 1 ms (child_process does, with a warning)', async () => {
    const r = await record(spindle.spawn, 'sh', ['-c', 'sleep 0.3; echo done'], { timeout: 2 ** 31 })
    expect(r.close).toEqual([0, null])
    expect(r.stdout.toString()).toBe('done\n')
  })

  test('exec: timeout and forceKillAfter of 2^31 and more are honoured, not 1 ms', async () => {
    const res = await spindle.exec('sh', ['-c', 'sleep 0.3; echo done'], { timeout: 2 ** 31, forceKillAfter: 2 ** 40 })
    expect([res.stdout, res.timedOut]).toEqual(['done\n', false])
    // The timeout fires; SIGTERM is ignored; forceKillAfter 2^31 must not SIGKILL after 1 ms.
    const child = spindle.exec('sh', ['-c', 'trap "" TERM; sleep 0.5; echo survived'], {
      timeout: 50,
      forceKillAfter: 2 ** 31,
      reject: false,
    })
    const out = await child
    expect([out.stdout, out.timedOut, out.signal]).toEqual(['survived\n', true, null])
  })

  test('exec: durations past Number.MAX_SAFE_INTEGER are refused with ERR_OUT_OF_RANGE', () => {
    for (const key of ['timeout', 'forceKillAfter']) {
      const err = outcome(() => spindle.exec('true', [], { [key]: 2 ** 53 }))
      expect(err.code).toBe('ERR_OUT_OF_RANGE')
    }
  })

  test('the long timer fires exactly once, at its full duration (fake clock)', () => {
    jest.useFakeTimers()
    try {
      let fired = 0
      const ms = 3 * 2 ** 31 + 7
      setLongTimeout(() => fired++, ms)
      jest.advanceTimersByTime(ms - 1)
      expect(fired).toBe(0)
      jest.advanceTimersByTime(1)
      expect(fired).toBe(1)
      jest.advanceTimersByTime(10 * 2 ** 31)
      expect(fired).toBe(1)
      const cleared = setLongTimeout(() => fired++, 2 ** 32)
      jest.advanceTimersByTime(2 ** 31)
      cleared.clear()
      jest.advanceTimersByTime(2 ** 33)
      expect(fired).toBe(1)
    } finally {
      jest.useRealTimers()
    }
  })
})

describe('cwd (issue 10 item 13, issue 12 defect 1)', () => {
  test('a cwd that is a file: ENOTDIR thrown by spawn(), the same error as child_process', () => {
    const file = path.join(tmp, 'a-file')
    fs.writeFileSync(file, 'x')
    for (const cwd of [file, path.join(file, 'below')]) {
      const theirs = outcome(() => cp.spawn('echo', ['x'], { cwd }))
      const ours = outcome(() => spindle.spawn('echo', ['x'], { cwd }))
      const shape = (e) => ({ name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall })
      expect(shape(ours)).toEqual(shape(theirs))
      expect(ours.code).toBe('ENOTDIR')
    }
  })

  test('exec with a cwd that is a file rejects with ENOTDIR', async () => {
    const file = path.join(tmp, 'another-file')
    fs.writeFileSync(file, 'x')
    const err = await spindle.exec('echo', ['x'], { cwd: file }).catch((e) => e)
    expect([err.code, err.failed, err.exitCode]).toEqual(['ENOTDIR', true, null])
  })

  test("cwd '' runs the child in this process's directory, as child_process", async () => {
    const [node, ours] = await Promise.all([
      record(cp.spawn, 'pwd', [], { cwd: '' }),
      record(spindle.spawn, 'pwd', [], { cwd: '' }),
    ])
    expect(ours.close).toEqual([0, null])
    expect(ours.stdout.toString()).toBe(node.stdout.toString())
    expect(ours.stdout.toString()).toBe(`${process.cwd()}\n`)
  })
})

describe('relative PATH entries (issue 10, also seen)', () => {
  test('resolved in the child cwd, as child_process does', async () => {
    const dir = path.join(tmp, 'relpath')
    fs.mkdirSync(path.join(dir, 'tools'), { recursive: true })
    fs.writeFileSync(path.join(dir, 'tools', 'hello-rel'), '#!/bin/sh\necho from-rel\n', { mode: 0o755 })
    const opts = { cwd: dir, env: { PATH: 'nothere:tools:/usr/bin:/bin' } }
    const [node, ours] = await Promise.all([
      record(cp.spawn, 'hello-rel', [], opts),
      record(spindle.spawn, 'hello-rel', [], opts),
    ])
    expect(ours.stdout.toString()).toBe('from-rel\n')
    expect(ours.close).toEqual(node.close)
    // Not found when the cwd lacks it: ENOENT on both.
    const missing = { env: opts.env, cwd: tmp }
    const [n2, o2] = await Promise.all([
      record(cp.spawn, 'hello-rel', [], missing),
      record(spindle.spawn, 'hello-rel', [], missing),
    ])
    expect([o2.error.code, o2.close]).toEqual([n2.error.code, n2.close])
  })

  test('2,000 relative entries cost no process each (pids used, counted in a fresh process)', async () => {
    const r = await node(`
      const fs = require('node:fs')
      const spindle = require('.')
      const last = () => Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'))
      ;(async () => {
        await spindle.exec('/bin/true')
        const rel = Array.from({ length: 2000 }, (_, i) => 'rel' + i).join(':')
        const before = last()
        const res = await spindle.exec('true', { env: { PATH: rel + ':/usr/bin:/bin' }, extendEnv: false })
        console.log(JSON.stringify({ exitCode: res.exitCode, pids: last() - before }))
      })()
    `)
    expect(r.stderr).toBe('')
    const { exitCode, pids } = JSON.parse(r.stdout)
    expect(exitCode).toBe(0)
    // One for the child itself; other processes on the machine may take a
    // few. Before the fix each entry cost a posix_spawn: about 2,000.
    expect(pids).toBeLessThan(500)
  })
})

describe('hostile values found by the fuzz suite (__test__/fuzz)', () => {
  const revoke = (target) => { const r = Proxy.revocable(target, {}); r.revoke(); return r.proxy }
  const detached = (view) => { structuredClone(view.buffer, { transfer: [view.buffer] }); return view }
  const detachedDataView = () => { const b = new ArrayBuffer(64); const d = new DataView(b); structuredClone(b, { transfer: [b] }); return d }

  test('a revoked Proxy as cwd: ERR_INVALID_ARG_TYPE from spawn and exec, before anything starts', () => {
    for (const cwd of [revoke({}), revoke([])]) {
      for (const fn of [spindle.spawn, spindle.exec]) {
        const err = outcome(() => fn('echo', [], { cwd }))
        expect([err.name, err.code]).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE'])
      }
    }
  })

  test('stdio or args whose length lies (a Proxy answering 2^32 - 1) are refused at once: no spin', async () => {
    const r = await node(`
      const spindle = require('.')
      const lying = () => new Proxy(['pipe'], { get: (t, k) => (k === 'length' ? 2 ** 32 - 1 : t[k]) })
      const codes = []
      for (const call of [
        () => spindle.spawn('echo', [], { stdio: lying() }),
        () => spindle.spawn('echo', lying()),
        () => spindle.exec('echo', lying()),
      ]) {
        try { call(); codes.push('no throw') } catch (e) { codes.push(e.code) }
      }
      console.log(JSON.stringify(codes))
    `)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual(['ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE'])
  })

  test('exec with a detached view as input throws a code before spawning; the process exits by itself', async () => {
    const r = await node(`
      const spindle = require('.')
      const f = new Float64Array(64)
      structuredClone(f.buffer, { transfer: [f.buffer] })
      try { spindle.exec('cat', [], { input: f }).catch((e) => console.log('rejected', e.code)); console.log('no throw') }
      catch (e) { console.log(e.code) }
    `)
    expect(r.signal).toBe(null) // not killed by the 60 s timeout: nothing was left running
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('ERR_INVALID_ARG_VALUE\n')
  })

  test('exec input whose own byteOffset lies is sent as its real bytes', async () => {
    const input = Uint8Array.from(Buffer.from('real bytes'))
    Object.defineProperty(input, 'byteOffset', { value: 2 ** 31 })
    expect((await spindle.exec('cat', [], { input })).stdout).toBe('real bytes')
  })

  test('kill/killGroup with views over detached buffers or a Proxy over a TypedArray: ERR_UNKNOWN_SIGNAL', async () => {
    const bad = () => [detached(new Uint8Array(8)), detachedDataView(), new Proxy(new Uint8Array(16), {})]
    const codes = []
    await record(spindle.spawn, 'sleep', ['30'], undefined, (child) => {
      for (const method of ['kill', 'killGroup']) {
        for (const sig of bad()) codes.push(outcome(() => child[method](sig)).code)
      }
      child.kill('SIGKILL')
    })
    for (const sig of bad()) codes.push(outcome(() => new spindle.ChildProcess().kill(sig)).code)
    expect(codes).toEqual(Array(9).fill('ERR_UNKNOWN_SIGNAL'))
  })

  test('args or env values that cannot become strings: nested too deep ERR_INVALID_ARG_VALUE, too long ERR_OUT_OF_RANGE', () => {
    let deep = []
    for (let i = 0; i < 20000; i++) deep = [deep]
    const sparse = []
    sparse.length = 2 ** 32 - 1
    const codes = [
      outcome(() => spindle.spawn('echo', ['a', 'b', deep])),
      outcome(() => spindle.exec('echo', [deep])),
      outcome(() => spindle.exec('echo', [], { env: { FUZZ_VAR: sparse } })),
      outcome(() => spindle.spawn('echo', [], { env: { FUZZ_VAR: sparse } })),
    ].map((e) => e.code)
    expect(codes).toEqual(['ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE'])
  })

  test('stdin.write/end with an object that is not a view (a revoked Proxy too): ERR_INVALID_ARG_TYPE, as Node', async () => {
    const codes = []
    await record(spindle.spawn, 'cat', [], undefined, (child) => {
      for (const chunk of [revoke([]), {}, [1]]) {
        codes.push(outcome(() => child.stdin.write(chunk)).code)
        codes.push(outcome(() => child.stdin.end(chunk)).code)
      }
      child.stdin.end()
    })
    expect(codes).toEqual(Array(6).fill('ERR_INVALID_ARG_TYPE'))
  })

  test("stdio '__proto__' or 'constructor' is not a mode: the same code as child_process", () => {
    for (const stdio of ['__proto__', 'constructor', ['__proto__'], ['pipe', 'constructor']]) {
      const ours = outcome(() => spindle.spawn('echo', [], { stdio }))
      const theirs = outcome(() => cp.spawn('echo', [], { stdio }))
      expect([stdio, ours.code]).toEqual([stdio, theirs.code])
      expect(typeof ours.code).toBe('string')
    }
  })

  test('stdin.write/end with a detached view: ERR_INVALID_ARG_VALUE; a view whose own byteOffset lies writes its real bytes', async () => {
    const codes = []
    const r = await record(spindle.spawn, 'cat', [], undefined, (child) => {
      for (const view of [detached(new Float64Array(8)), detachedDataView()]) {
        codes.push(outcome(() => child.stdin.write(view)).code)
        codes.push(outcome(() => child.stdin.end(view)).code)
      }
      const lying = Uint8Array.from(Buffer.from('written'))
      Object.defineProperty(lying, 'byteOffset', { value: 2 ** 31 })
      Object.defineProperty(lying, 'byteLength', { value: 2 ** 40 })
      child.stdin.write(lying)
      child.stdin.end(lying)
    })
    expect(codes).toEqual(Array(4).fill('ERR_INVALID_ARG_VALUE'))
    expect(r.stdout.toString()).toBe('writtenwritten')
    expect(r.close).toEqual([0, null])
  })
})
