// Issue 12: spindle.spawn as a drop-in for child_process.spawn. Each case is
// compared with child_process on this same Node; what touches process
// liveness or descriptor limits runs in its own process.
const cp = require('node:child_process')
const path = require('node:path')
const spindle = require('../..')
const { record } = require('../support/children')

const root = path.join(__dirname, '..', '..')

/** Runs a Node script in a fresh process; resolves { code, signal, stdout, stderr }. */
function node(script, { shell } = {}) {
  return new Promise((resolve) => {
    const cb = (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, signal: err ? err.signal : null, stdout, stderr })
    }
    if (shell) {
      // For ulimit: the script goes through the environment, not the command line.
      cp.execFile('/bin/sh', ['-c', `${shell}; exec "$0" -e "$SCRIPT"`, process.execPath],
        { cwd: root, env: { ...process.env, SCRIPT: script }, timeout: 20000 }, cb)
    } else {
      cp.execFile(process.execPath, ['-e', script], { cwd: root, timeout: 20000 }, cb)
    }
  })
}

/** Runs `script` (which reads `impl`, the module under test) once with each implementation. */
async function bothInProcesses(script, opts) {
  const run = (impl) => node(`const impl = ${impl}; ${script}`, opts)
  const [theirs, ours] = await Promise.all([run("require('node:child_process')"), run("require('.')")])
  return { theirs, ours }
}

describe('the streams have the shape of child_process sockets (defect 5)', () => {
  test('direction flags and socket methods', async () => {
    const shape = (child) => {
      const s = {
        stdinReadable: child.stdin.readable,
        stdinWritable: child.stdin.writable,
        stdoutReadable: child.stdout.readable,
        stdoutWritable: child.stdout.writable,
      }
      for (const name of ['stdin', 'stdout', 'stderr']) {
        for (const m of ['ref', 'unref', 'setNoDelay', 'setKeepAlive', 'destroySoon']) {
          s[`${name}.${m}`] = typeof child[name][m]
        }
      }
      s.refReturnsStream = child.stdout.ref() === child.stdout && child.stdin.setNoDelay(true) === child.stdin
      return s
    }
    const shapes = {}
    await Promise.all([
      record(cp.spawn, 'cat', [], undefined, (child) => {
        shapes.node = shape(child)
        child.stdin.end('x')
      }),
      record(spindle.spawn, 'cat', [], undefined, (child) => {
        shapes.ours = shape(child)
        child.stdin.end('x')
      }),
    ])
    expect(shapes.ours).toEqual(shapes.node)
    expect(shapes.ours.stdinReadable).toBe(false)
  })

  test('stdin.destroySoon() ends the input after what was written, as with child_process', async () => {
    const drive = (child) => {
      child.stdin.write('first\n')
      child.stdin.destroySoon()
    }
    const [theirs, ours] = await Promise.all([
      record(cp.spawn, 'cat', [], undefined, drive),
      record(spindle.spawn, 'cat', [], undefined, drive),
    ])
    expect(ours.stdout.toString()).toBe('first\n')
    expect(ours.stdout.toString()).toBe(theirs.stdout.toString())
    expect(ours.close).toEqual(theirs.close)
  })
})

test('ChildProcess[Symbol.dispose] kills the child, as child_process (defect 6)', async () => {
  const disposed = {}
  const drive = (which) => (child) => {
    child.on('spawn', () => {
      child[Symbol.dispose]()
      disposed[which] = child.killed
    })
  }
  const [theirs, ours] = await Promise.all([
    record(cp.spawn, 'sleep', ['30'], undefined, drive('node')),
    record(spindle.spawn, 'sleep', ['30'], undefined, drive('ours')),
  ])
  expect(typeof spindle.spawn('true')[Symbol.dispose]).toBe('function')
  expect(disposed).toEqual({ node: true, ours: true })
  expect(ours.exit).toEqual(theirs.exit)
  expect(ours.exit).toEqual([null, 'SIGTERM'])
})

describe('unref() with piped stdio (defect 7)', () => {
  test('output being read keeps the process alive until the pipes close: nothing is lost', async () => {
    const { theirs, ours } = await bothInProcesses(`
      const child = impl.spawn('sh', ['-c', 'sleep 0.3; echo late; echo late-err >&2'])
      child.stdout.on('data', (d) => process.stdout.write('out ' + d))
      child.stderr.on('data', (d) => process.stdout.write('err ' + d))
      child.unref()
    `)
    expect(theirs.stdout.split('\n').sort()).toEqual(['', 'err late-err', 'out late'])
    expect(ours.stdout.split('\n').sort()).toEqual(theirs.stdout.split('\n').sort())
    expect(ours.code).toBe(0)
  })

  test('unread output keeps the process alive too, until the pipes close', async () => {
    const mark = path.join(require('node:os').tmpdir(), `spindle-unref-${process.pid}-`)
    const { theirs, ours } = await bothInProcesses(`
      const fs = require('node:fs')
      const mark = ${JSON.stringify(mark)} + (impl === require('.') ? 'ours' : 'node')
      const child = impl.spawn('sh', ['-c', 'sleep 0.3; echo > "$0"; echo done', mark])
      child.unref()
      process.on('exit', () => { console.log('marked', fs.existsSync(mark)); fs.rmSync(mark, { force: true }) })
    `)
    expect(theirs.stdout).toBe('marked true\n')
    expect(ours.stdout).toBe(theirs.stdout)
  })

  test('output streams unref()d too, or not piped: the process does not wait for the child', async () => {
    for (const drive of [
      "child.stdout.on('data', () => {}).unref(); child.stderr.unref()",
      "child.stdout.destroy(); child.stderr.destroy()",
    ]) {
      const { theirs, ours } = await bothInProcesses(`
        const child = impl.spawn('sh', ['-c', 'sleep 30; echo never'], { stdio: ['ignore', 'pipe', 'pipe'] })
        ${drive}
        child.unref()
        child.on('spawn', () => console.log('pid', child.pid))
        setTimeout(() => {}, 1)
      `)
      for (const r of [theirs, ours]) {
        const pid = Number(r.stdout.match(/pid (\d+)/)?.[1])
        if (pid > 0) {
          try { process.kill(pid, 'SIGKILL') } catch {}
        }
      }
      // A process that waited for the child would be killed by the 20 s limit.
      expect([drive, ours.code, ours.signal]).toEqual([drive, theirs.code, theirs.signal])
      expect(ours.code).toBe(0)
    }
  })

  test('ref() after unref() keeps it alive again', async () => {
    const { ours } = await bothInProcesses(`
      const child = impl.spawn('sh', ['-c', 'sleep 0.2; exit 7'], { stdio: 'ignore' })
      child.unref()
      child.ref()
      child.on('exit', (code) => console.log('exit', code))
    `)
    expect(ours.stdout).toBe('exit 7\n')
  })
})

test('out of descriptors (EMFILE): no streams, then error and close, as child_process (defect 9)', async () => {
  const { theirs, ours } = await bothInProcesses(`
    const fs = require('node:fs')
    const held = []
    try { for (;;) held.push(fs.openSync('/dev/null', 'r')) } catch {}
    fs.closeSync(held.pop())
    const child = impl.spawn('echo', ['x'])
    const seen = [typeof child.stdin, typeof child.stdout, typeof child.stderr, typeof child.stdio, typeof child.pid]
    child.on('error', (e) => seen.push('error ' + [e.message, e.code, e.errno, e.syscall, e.path, e.spawnargs].join('|')))
    child.on('close', (code, signal) => {
      seen.push('close ' + code + ' ' + signal)
      for (const fd of held) fs.closeSync(fd)
      console.log(JSON.stringify(seen))
    })
  `, { shell: 'ulimit -n 64' })
  expect(theirs.stderr).toBe('')
  expect(JSON.parse(ours.stdout)).toEqual(JSON.parse(theirs.stdout))
  expect(JSON.parse(ours.stdout)[0]).toBe('undefined')
})

test('exec out of descriptors rejects with EMFILE', async () => {
  const r = await node(`
    const fs = require('node:fs')
    const held = []
    try { for (;;) held.push(fs.openSync('/dev/null', 'r')) } catch {}
    fs.closeSync(held.pop())
    require('.').exec('echo', ['x']).then(
      () => console.log('resolved'),
      (e) => console.log(e.code, e.failed, JSON.stringify(e.stdout)),
    ).finally(() => { for (const fd of held) fs.closeSync(fd) })
  `, { shell: 'ulimit -n 64' })
  expect(r.stdout).toBe('EMFILE true ""\n')
})
