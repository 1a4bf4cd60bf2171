// spindle.exec: a child run to completion, resolved or rejected with its output.
const fs = require('node:fs')
const { thrown } = require('../support/thrown')
const os = require('node:os')
const path = require('node:path')
const { exec, AbortError } = require('../..')
const { isDead, waitFor } = require('../support/children')

test('resolves stdout, stderr, exitCode, signal, durationMs and command', async () => {
  const r = await exec('sh', ['-c', 'echo out; echo err >&2'])
  expect(r).toEqual({
    command: 'sh -c echo out; echo err >&2',
    exitCode: 0,
    signal: null,
    stdout: 'out\n',
    stderr: 'err\n',
    durationMs: expect.any(Number),
    timedOut: false,
    failed: false,
  })
  expect(r.durationMs).toBeGreaterThanOrEqual(0)
})

test('the issue example: git status --short with cwd and timeout', async () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-git-'))
  await exec('git', ['init', '-q'], { cwd })
  fs.writeFileSync(path.join(cwd, 'new.txt'), 'x')
  const { stdout, exitCode } = await exec('git', ['status', '--short'], { cwd, timeout: 5000 })
  expect(exitCode).toBe(0)
  expect(stdout).toBe('?? new.txt\n')
  fs.rmSync(cwd, { recursive: true, force: true })
})

test('rejects on a non-zero exit with the same fields', async () => {
  const err = await exec('sh', ['-c', 'echo partial; echo bad >&2; exit 3']).catch((e) => e)
  expect(err).toBeInstanceOf(Error)
  expect(err.code).toBe('ERR_SPINDLE_EXEC_FAILED')
  expect(err.message).toContain('exit code 3')
  expect(err.message).toContain('sh -c')
  expect(err).toMatchObject({ exitCode: 3, signal: null, stdout: 'partial\n', stderr: 'bad\n', failed: true })
  expect(typeof err.durationMs).toBe('number')
  expect(err.command).toBe('sh -c echo partial; echo bad >&2; exit 3')
})

test('rejects when a signal ends the child', async () => {
  const err = await exec('sh', ['-c', 'kill -KILL $$']).catch((e) => e)
  expect(err).toMatchObject({ exitCode: null, signal: 'SIGKILL', failed: true })
})

test('reject: false resolves instead', async () => {
  const r = await exec('sh', ['-c', 'exit 5'], { reject: false })
  expect(r).toMatchObject({ exitCode: 5, failed: true, stdout: '' })
  const missing = await exec('spindle-no-such-command', { reject: false })
  expect(missing).toMatchObject({ exitCode: null, failed: true })
})

test('a missing command rejects with ENOENT in child_process shape', async () => {
  const err = await exec('spindle-no-such-command', ['x']).catch((e) => e)
  expect(err).toMatchObject({
    code: 'ENOENT',
    errno: -2,
    syscall: 'spawn spindle-no-such-command',
    path: 'spindle-no-such-command',
    spawnargs: ['x'],
    failed: true,
  })
})

test('input: a string and a Buffer are fed to stdin', async () => {
  expect((await exec('cat', { input: 'héllo\n' })).stdout).toBe('héllo\n')
  const bytes = Buffer.from([0, 1, 2, 255])
  const r = await exec('cat', [], { input: bytes, encoding: 'buffer' })
  expect(Buffer.isBuffer(r.stdout)).toBe(true)
  expect(r.stdout.equals(bytes)).toBe(true)
})

test('input a child never reads is not an error', async () => {
  const r = await exec('true', [], { input: Buffer.alloc(1 << 20) })
  expect(r.exitCode).toBe(0)
})

test('without input, stdin is /dev/null (cat ends at once)', async () => {
  expect((await exec('cat')).stdout).toBe('')
})

test('multi-byte characters split across chunks decode correctly', async () => {
  // '€' is E2 82 AC; the pause makes the reactor read the halves apart.
  const script = "printf '\\342\\202'; sleep 0.2; printf '\\254'; printf '\\360\\237'; sleep 0.2; printf '\\230\\200'"
  const r = await exec('sh', ['-c', script])
  expect(r.stdout).toBe('€😀')
  const latin = await exec('sh', ['-c', "printf '\\351'"], { encoding: 'latin1' })
  expect(latin.stdout).toBe('é')
})

test('maxBuffer keeps output up to the limit and says so', async () => {
  const err = await exec('head', ['-c', '5000000', '/dev/zero'], { maxBuffer: 100000 }).catch((e) => e)
  expect(err.code).toBe('ERR_CHILD_PROCESS_STDIO_MAXBUFFER')
  expect(err).toBeInstanceOf(RangeError)
  expect(err.stdout.length).toBe(100000)
  expect(err.failed).toBe(true)
  const errOut = await exec('sh', ['-c', 'head -c 70000 /dev/zero >&2'], { maxBuffer: 65536, encoding: 'buffer' }).catch((e) => e)
  expect(errOut.message).toBe('stderr maxBuffer length exceeded')
  expect(errOut.stderr.length).toBe(65536)
})

test('timeout kills with killSignal and rejects with timedOut', async () => {
  const err = await exec('sleep', ['30'], { timeout: 100 }).catch((e) => e)
  expect(err).toMatchObject({ code: 'ERR_SPINDLE_EXEC_TIMEOUT', timedOut: true, signal: 'SIGTERM', exitCode: null })
})

test('forceKillAfter: SIGKILL when killSignal is ignored', async () => {
  const err = await exec('sh', ['-c', "trap '' TERM; echo ready; exec sleep 30"], {
    timeout: 200,
    forceKillAfter: 200,
  }).catch((e) => e)
  expect(err).toMatchObject({ timedOut: true, signal: 'SIGKILL', stdout: 'ready\n' })
})

test('killTree: a shell and its children all die', async () => {
  const err = await exec('sh', ['-c', 'sleep 30 & echo $!; sleep 30 & echo $!; wait'], {
    timeout: 300,
    killTree: true,
  }).catch((e) => e)
  expect(err.timedOut).toBe(true)
  const pids = err.stdout.trim().split('\n').map(Number)
  expect(pids).toHaveLength(2)
  await waitFor(() => pids.every(isDead), 'the grandchildren to die')
})

test('extendEnv: merged over process.env by default, alone when false', async () => {
  process.env.SPINDLE_EXEC_TEST = 'inherited'
  try {
    const merged = await exec('sh', ['-c', 'echo "$FOO:$SPINDLE_EXEC_TEST"'], { env: { FOO: 'x' } })
    expect(merged.stdout).toBe('x:inherited\n')
    const alone = await exec('sh', ['-c', 'echo "$FOO:$SPINDLE_EXEC_TEST"'], { env: { FOO: 'x' }, extendEnv: false })
    expect(alone.stdout).toBe('x:\n')
  } finally {
    delete process.env.SPINDLE_EXEC_TEST
  }
})

test('cwd and shell', async () => {
  const r = await exec('pwd | tr / :', [], { cwd: '/usr', shell: true })
  expect(r.stdout).toBe(':usr\n')
})

test('AbortSignal: rejects with AbortError; an aborted signal never starts it', async () => {
  const ac = new AbortController()
  const p = exec('sleep', ['30'], { signal: ac.signal })
  setTimeout(() => ac.abort(), 50)
  const err = await p.catch((e) => e)
  expect(err.name).toBe('AbortError')
  expect(err.code).toBe('ABORT_ERR')
  expect(err.signal).toBe('SIGTERM')
  const err2 = await exec('sleep', ['30'], { signal: AbortSignal.abort() }).catch((e) => e)
  expect(err2).toBeInstanceOf(AbortError)
})

test('bad options throw synchronously', () => {
  const code = (fn) => thrown(fn).code
  expect(code(() => exec(42))).toBe('ERR_INVALID_ARG_TYPE')
  expect(code(() => exec('echo', 'x'))).toBe('ERR_INVALID_ARG_TYPE')
  expect(code(() => exec('echo', [], { input: 42 }))).toBe('ERR_INVALID_ARG_TYPE')
  expect(code(() => exec('echo', [], { maxBuffer: '1' }))).toBe('ERR_INVALID_ARG_TYPE')
  expect(code(() => exec('echo', [], { encoding: 'nope' }))).toBe('ERR_INVALID_ARG_VALUE')
  expect(code(() => exec('echo', [], { killTree: 'yes' }))).toBe('ERR_INVALID_ARG_TYPE')
  expect(code(() => exec('echo', [], { extendEnv: 1 }))).toBe('ERR_INVALID_ARG_TYPE')
  expect(code(() => exec('echo', [], { reject: 'no' }))).toBe('ERR_INVALID_ARG_TYPE')
  expect(code(() => exec('echo', [], { killSignal: 'SIGNOPE' }))).toBe('ERR_UNKNOWN_SIGNAL')
  expect(code(() => exec('echo', [], { typo: 1 }))).toBe('ERR_INVALID_ARG_VALUE')
})
