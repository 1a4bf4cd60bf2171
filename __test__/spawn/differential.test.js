// Differential suite: the same commands through child_process.spawn and
// spindle.spawn, in the same process, compared on everything observable:
// stdout, stderr, exit code, signal, the order of spawn/error/exit/close,
// error shapes. Real processes throughout.
const cp = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')
const spindle = require('../..')
const { record } = require('../support/children')

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-diff-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

async function both(cmd, args, opts, drive) {
  const [node, ours] = await Promise.all([
    record(cp.spawn, cmd, args, opts, drive),
    record(spindle.spawn, cmd, args, opts, drive),
  ])
  return { node, ours }
}

function expectSame({ node, ours }) {
  expect(ours.stdout.toString('latin1')).toBe(node.stdout.toString('latin1'))
  expect(ours.stderr.toString('latin1')).toBe(node.stderr.toString('latin1'))
  expect(ours.exit).toEqual(node.exit)
  expect(ours.close).toEqual(node.close)
  expect(ours.events).toEqual(node.events)
  expect(ours.exitCode).toBe(node.exitCode)
  expect(ours.signalCode).toBe(node.signalCode)
  expect(ours.killed).toBe(node.killed)
  expect(ours.pidSeen).toBe(node.pidSeen)
  expect(ours.dataAfterClose).toBe(false)
  expect(node.dataAfterClose).toBe(false)
}

function errorShape(err) {
  if (err === null) return null
  return {
    message: err.message,
    code: err.code,
    errno: err.errno,
    syscall: err.syscall,
    path: err.path,
    spawnargs: err.spawnargs,
    name: err.name,
  }
}

describe('spawn: same results as child_process.spawn', () => {
  test('echo', async () => {
    const r = await both('echo', ['hello', 'wörld'])
    expectSame(r)
    expect(r.ours.stdout.toString()).toBe('hello wörld\n')
    expect(r.ours.events).toEqual(['spawn', 'exit', 'close'])
  })

  test('large output (seq 1 400000, ~2.7 MB)', async () => {
    const r = await both('seq', ['1', '400000'])
    expectSame(r)
    expect(r.ours.stdout.length).toBeGreaterThan(2_000_000)
  })

  test('large output on stdout and stderr at once', async () => {
    const r = await both('sh', ['-c', 'seq 1 100000; seq 1 100000 >&2; seq 5 50000'])
    expectSame(r)
  })

  test('large input through cat (8 MiB)', async () => {
    const input = crypto.randomBytes(8 << 20)
    const r = await both('cat', [], undefined, (child) => child.stdin.end(input))
    expectSame(r)
    expect(r.ours.stdout.equals(input)).toBe(true)
  })

  test("the child's piped stdio is the same kind of descriptor (a socket, as libuv makes it)", async () => {
    const script = 'for f in 0 1 2; do if [ -S /proc/self/fd/$f ]; then echo socket; elif [ -p /proc/self/fd/$f ]; then echo fifo; else echo other; fi; done'
    const r = await both('sh', ['-c', script])
    expectSame(r)
    expect(r.ours.stdout.toString()).toBe('socket\nsocket\nsocket\n')
  })

  test('non-zero exit with stdout and stderr', async () => {
    const r = await both('sh', ['-c', 'echo out; echo err >&2; exit 7'])
    expectSame(r)
    expect(r.ours.exit).toEqual([7, null])
  })

  test('a child that kills itself with a signal', async () => {
    const r = await both('sh', ['-c', 'kill -TERM $$'])
    expectSame(r)
    expect(r.ours.exit).toEqual([null, 'SIGTERM'])
  })

  test.each([['SIGKILL'], ['SIGINT'], [15], ['sigusr1']])('kill(%p) after spawn', async (sig) => {
    const r = await both('sleep', ['30'], undefined, (child) => {
      child.on('spawn', () => child.kill(sig))
    })
    expectSame(r)
    expect(r.ours.killed).toBe(true)
    expect(r.ours.exit[1]).toBe(typeof sig === 'number' ? 'SIGTERM' : sig.toUpperCase())
  })

  test('kill() after exit returns false', async () => {
    const results = []
    const r = await both('true', [], undefined, (child) => {
      child.on('exit', () => results.push(child.kill()))
    })
    expectSame(r)
    expect(results).toEqual([false, false])
  })

  test('SIGPIPE is at its default in the child (a pipeline stops early)', async () => {
    // `yes` dies of SIGPIPE once `head` exits; with SIGPIPE ignored it would
    // get EPIPE and print an error instead.
    const r = await both('sh', ['-c', 'yes | head -n 3; echo "${PIPESTATUS:-done}"'])
    expectSame(r)
    expect(r.ours.stderr.toString()).toBe('')
  })

  test('a shell pipeline (shell: true)', async () => {
    const r = await both("printf 'b\\na\\nc\\n' | sort | tr a-z A-Z", [], { shell: true })
    expectSame(r)
    expect(r.ours.stdout.toString()).toBe('A\nB\nC\n')
  })

  test('env and cwd', async () => {
    const opts = { env: { FOO: 'bar baz', PATH: process.env.PATH }, cwd: tmp }
    const r = await both('sh', ['-c', 'echo "$FOO"; pwd; echo "${HOME:-nohome}"'], opts)
    expectSame(r)
    expect(r.ours.stdout.toString()).toBe(`bar baz\n${fs.realpathSync(tmp)}\nnohome\n`)
  })

  test('an env without PATH still finds /usr/bin programs', async () => {
    const r = await both('env', [], { env: { ONLY: '1' } })
    expectSame(r)
    expect(r.ours.stdout.toString()).toBe('ONLY=1\n')
  })

  test('argv0', async () => {
    const r = await both('sh', ['-c', 'echo "$0"'], { argv0: 'custom-name' })
    expectSame(r)
    expect(r.ours.stdout.toString()).toBe('custom-name\n')
  })

  test("stdio 'ignore' and per-stream arrays", async () => {
    expectSame(await both('sh', ['-c', 'echo out; echo err >&2'], { stdio: 'ignore' }))
    expectSame(await both('sh', ['-c', 'echo out; echo err >&2'], { stdio: ['ignore', 'pipe', 'ignore'] }))
    expectSame(await both('sh', ['-c', 'echo out; echo err >&2'], { stdio: [null, 'ignore', undefined] }))
  })

  test('missing command: error then close, same error shape', async () => {
    const r = await both('spindle-no-such-command', ['a', 'b'])
    expectSame(r)
    expect(errorShape(r.ours.error)).toEqual(errorShape(r.node.error))
    expect(r.ours.error.code).toBe('ENOENT')
    expect(r.ours.events).toEqual(['error', 'close'])
    expect(r.ours.close).toEqual([-2, null])
  })

  test('missing command given as a path', async () => {
    const r = await both(path.join(tmp, 'nope'), [])
    expectSame(r)
    expect(errorShape(r.ours.error)).toEqual(errorShape(r.node.error))
  })

  test('non-executable file: EACCES', async () => {
    const file = path.join(tmp, 'not-executable.sh')
    fs.writeFileSync(file, '#!/bin/sh\necho hi\n', { mode: 0o644 })
    const r = await both(file, ['x'])
    expectSame(r)
    expect(errorShape(r.ours.error)).toEqual(errorShape(r.node.error))
    expect(r.ours.error.code).toBe('EACCES')
  })

  test('a bad cwd', async () => {
    const r = await both('echo', ['x'], { cwd: path.join(tmp, 'missing-dir') })
    expectSame(r)
    expect(errorShape(r.ours.error)).toEqual(errorShape(r.node.error))
  })

  test('writing to a child that closed its stdin: EPIPE as a stream error', async () => {
    const drive = (child) => {
      child.stdout.once('data', () => {
        child.stdin.write(Buffer.alloc(256 * 1024), () => {})
        child.stdin.once('error', () => child.kill('SIGKILL'))
      })
    }
    const r = await both('sh', ['-c', 'exec 0<&-; echo closed; exec sleep 30'], undefined, drive)
    expectSame(r)
    expect(r.ours.stdinError.code).toBe('EPIPE')
    expect(r.ours.stdinError.syscall).toBe(r.node.stdinError.syscall)
    expect(r.ours.stdinError.errno).toBe(r.node.stdinError.errno)
  })

  test('AbortSignal: kill, then AbortError as error', async () => {
    const run = (fn) => {
      const ac = new AbortController()
      return record(fn, 'sleep', ['30'], { signal: ac.signal }, (child) => {
        child.on('spawn', () => ac.abort())
      })
    }
    const [node, ours] = await Promise.all([run(cp.spawn), run(spindle.spawn)])
    expectSame({ node, ours })
    expect(ours.error.name).toBe('AbortError')
    expect(ours.error.code).toBe(node.error.code)
  })

  test('an already-aborted signal', async () => {
    const run = (fn) => record(fn, 'sleep', ['30'], { signal: AbortSignal.abort() })
    const [node, ours] = await Promise.all([run(cp.spawn), run(spindle.spawn)])
    expectSame({ node, ours })
    expect(ours.events).toEqual(['spawn', 'error', 'exit', 'close'])
  })

  test('timeout + killSignal', async () => {
    const r = await both('sleep', ['30'], { timeout: 50, killSignal: 'SIGKILL' })
    expectSame(r)
    expect(r.ours.exit).toEqual([null, 'SIGKILL'])
  })

  test('invalid arguments throw the same codes synchronously', () => {
    const cases = [
      [42],
      [''],
      ['echo', 'not-an-array'],
      ['echo', [1]],
      ['echo', [], 'opts'],
      ['echo', [], { cwd: 42 }],
      ['echo', [], { detached: 'yes' }],
      ['echo', [], { argv0: 1 }],
      ['echo', [], { shell: 1 }],
      ['echo', [], { timeout: 'soon' }],
      ['echo', [], { timeout: -1 }],
      ['echo', [], { killSignal: 'SIGNOPE' }],
      ['echo', [], { signal: {} }],
      ['echo', ['a\u0000b']],
    ]
    const codeOf = (fn, c) => {
      try {
        const child = fn(...c)
        child.kill('SIGKILL')
        return 'no throw'
      } catch (err) {
        return err.code
      }
    }
    for (const c of cases) {
      expect([c, codeOf(spindle.spawn, c)]).toEqual([c, codeOf(cp.spawn, c)])
    }
  })

  test('unknown kill signal throws ERR_UNKNOWN_SIGNAL like Node', async () => {
    const codes = []
    await both('true', [], undefined, (child) => {
      try {
        child.kill('SIGNOPE')
      } catch (err) {
        codes.push(err.code)
      }
    })
    expect(codes).toEqual(['ERR_UNKNOWN_SIGNAL', 'ERR_UNKNOWN_SIGNAL'])
  })

  test('no descriptor leaks into children, even while other children hold pipes', async () => {
    const busy = Array.from({ length: 5 }, () => spindle.spawn('sleep', ['30']))
    await Promise.all(busy.map((c) => new Promise((r) => c.once('spawn', r))))
    const r = await both('ls', ['/proc/self/fd'])
    for (const c of busy) c.kill('SIGKILL')
    await Promise.all(busy.map((c) => new Promise((r) => c.once('close', r))))
    // Node's list holds 0-2, ls's own directory fd and whatever the jest
    // worker inherited without close-on-exec; ours must be the same.
    expectSame(r)
  })

  test('child_process keeps working side by side (interleaved, concurrent)', async () => {
    const runs = []
    for (let i = 0; i < 40; i++) {
      runs.push(both('sh', ['-c', `echo ${i}; exit ${i % 5}`]))
    }
    for (const [i, r] of (await Promise.all(runs)).entries()) {
      expectSame(r)
      expect(r.ours.exit).toEqual([i % 5, null])
    }
  })
})
