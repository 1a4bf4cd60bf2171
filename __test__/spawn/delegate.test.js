// Issue 12: what the reactor cannot do goes to node:child_process, with
// the same semantics and objects: every stdio form ('ipc' with
// serialization, descriptor numbers, streams with a descriptor, extra
// descriptors), uid/gid, and SPINDLE_REACTOR=node forcing it. Each case is
// run through child_process and spindle and compared.
const cp = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const spindle = require('../..')
const { record } = require('../support/children')

const root = path.join(__dirname, '..', '..')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-delegate-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

let n = 0
const tmpFile = () => path.join(tmp, `f${n++}`)

test('a descriptor number as stdout, and as an extra descriptor (fd 3)', async () => {
  const run = async (fn) => {
    const file = tmpFile()
    const fd = fs.openSync(file, 'w')
    try {
      const r = await record(fn, 'sh', ['-c', 'echo to-stdout; echo to-fd3 >&3'], { stdio: ['ignore', fd, 'pipe', fd] })
      return { close: r.close, file: fs.readFileSync(file, 'utf8') }
    } finally {
      fs.closeSync(fd)
    }
  }
  const [theirs, ours] = await Promise.all([run(cp.spawn), run(spindle.spawn)])
  expect(ours).toEqual(theirs)
  expect(ours.file).toBe('to-stdout\nto-fd3\n')
})

test('a stream that has a descriptor (a file stream after open)', async () => {
  const run = async (fn) => {
    const file = tmpFile()
    const stream = fs.createWriteStream(file)
    await new Promise((r) => stream.once('open', r))
    const r = await record(fn, 'echo', ['into-stream'], { stdio: ['ignore', stream, 'inherit'] })
    await new Promise((r2) => stream.end(r2))
    return { close: r.close, file: fs.readFileSync(file, 'utf8') }
  }
  const [theirs, ours] = await Promise.all([run(cp.spawn), run(spindle.spawn)])
  expect(ours).toEqual(theirs)
  expect(ours.file).toBe('into-stream\n')
})

test("'ipc' with serialization 'advanced': messages both ways", async () => {
  const run = (fn) => new Promise((resolve, reject) => {
    const child = fn(process.execPath, ['-e', 'process.on("message", (m) => { process.send({ back: m.big * 2n }); process.disconnect() })'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    })
    let got = null
    child.on('message', (m) => { got = m })
    child.on('error', reject)
    child.on('spawn', () => child.send({ big: 21n }))
    child.on('close', (code) => resolve({ code, got, connected: child.connected }))
  })
  const [theirs, ours] = await Promise.all([run(cp.spawn), run(spindle.spawn)])
  expect(ours).toEqual(theirs)
  expect(ours.got).toEqual({ back: 42n })
})

test('uid and gid (this process\'s own: no privileges needed)', async () => {
  const opts = { uid: process.getuid(), gid: process.getgid() }
  const [theirs, ours] = await Promise.all([
    record(cp.spawn, 'sh', ['-c', 'id -u; id -g'], opts),
    record(spindle.spawn, 'sh', ['-c', 'id -u; id -g'], opts),
  ])
  expect(ours.stdout.toString()).toBe(theirs.stdout.toString())
  expect(ours.stdout.toString()).toBe(`${process.getuid()}\n${process.getgid()}\n`)
  expect(ours.close).toEqual(theirs.close)
})

test('a falsy stdio means pipe, as child_process', async () => {
  for (const stdio of [0, false, '']) {
    const [theirs, ours] = await Promise.all([
      record(cp.spawn, 'echo', ['x'], { stdio }),
      record(spindle.spawn, 'echo', ['x'], { stdio }),
    ])
    expect([stdio, ours.stdout.toString(), ours.close]).toEqual([stdio, theirs.stdout.toString(), theirs.close])
    expect(ours.stdout.toString()).toBe('x\n')
  }
})

test('uid/gid -0 is 0: no abort (child_process itself asserts on it), in its own process', async () => {
  const r = await new Promise((resolve) => {
    cp.execFile(process.execPath, ['-e', `
      const child = require('.').spawn('id', ['-u'], { uid: ${process.getuid() === 0 ? '-0' : process.getuid()}, gid: -0 * ${process.getgid()} })
      child.on('error', (e) => console.log('error', e.code))
      child.on('close', (code) => console.log('close', code))
    `], { cwd: root, timeout: 20000 }, (err, stdout) => resolve({ signal: err?.signal ?? null, stdout }))
  })
  expect(r.signal).toBe(null)
  expect(r.stdout).toMatch(/^close /m)
})

test("stdio '__proto__' or 'constructor' is not a mode: child_process's error", () => {
  for (const stdio of ['__proto__', 'constructor', ['__proto__'], ['pipe', 'constructor']]) {
    const code = (fn) => {
      try {
        fn().kill('SIGKILL')
        return 'no throw'
      } catch (err) {
        return err.code
      }
    }
    expect([stdio, code(() => spindle.spawn('true', [], { stdio }))]).toEqual([stdio, code(() => cp.spawn('true', [], { stdio }))])
  }
})

test('exec takes uid and gid too', async () => {
  const res = await spindle.exec('sh', ['-c', 'id -u; id -g'], { uid: process.getuid(), gid: process.getgid() })
  expect(res.stdout).toBe(`${process.getuid()}\n${process.getgid()}\n`)
})

test('bad uid and stdio values: the same errors as child_process', () => {
  const cases = [
    { uid: 'root' },
    { gid: 1.5 },
    { stdio: ['pipe', 'pipe', 'pipe', 'bogus'] },
    { stdio: 'bogus' },
    { stdio: ['ipc', 'ipc'] },
    { stdio: [{}] },
    { stdio: 42 },
    { stdio: {} },
  ]
  const outcome = (fn) => {
    try {
      fn().kill('SIGKILL')
      return 'no throw'
    } catch (err) {
      return `${err.name} ${err.code}`
    }
  }
  for (const opts of cases) {
    expect([opts, outcome(() => spindle.spawn('true', [], opts))]).toEqual([opts, outcome(() => cp.spawn('true', [], opts))])
  }
})

test('exec with killTree on the delegate path kills the whole group', async () => {
  {
    // exec takes no stdio option: force the delegate.
    const r = await new Promise((resolve) => {
      cp.execFile(process.execPath, ['-e', `
        const { exec } = require('.')
        exec('sh', ['-c', 'sleep 30 & echo $!; wait'], { timeout: 100, killTree: true, forceKillAfter: false, reject: false })
          .then((res) => console.log(JSON.stringify({ timedOut: res.timedOut, signal: res.signal, grandchild: Number(res.stdout) })))
      `], { cwd: root, env: { ...process.env, SPINDLE_REACTOR: 'node' }, timeout: 20000 }, (err, stdout) => resolve({ err, stdout }))
    })
    const out = JSON.parse(r.stdout)
    expect([out.timedOut, out.signal]).toEqual([true, 'SIGTERM'])
    const alive = (() => {
      try {
        const stat = fs.readFileSync(`/proc/${out.grandchild}/stat`, 'utf8')
        return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
      } catch {
        return false
      }
    })()
    if (alive) process.kill(out.grandchild, 'SIGKILL')
    expect(alive).toBe(false)
  }
})

test('SPINDLE_REACTOR=node: children are child_process\'s own; unset: spindle\'s', async () => {
  const script = `
    const child = require('.').spawn('true')
    console.log(child instanceof require('node:child_process').ChildProcess)
  `
  const run = (env) => new Promise((resolve) => {
    cp.execFile(process.execPath, ['-e', script], { cwd: root, env, timeout: 20000 }, (err, stdout) => resolve(stdout))
  })
  const { SPINDLE_REACTOR: _, ...plain } = process.env
  expect(await run({ ...plain, SPINDLE_REACTOR: 'node' })).toBe('true\n')
  expect(await run(plain)).toBe('false\n')
})
