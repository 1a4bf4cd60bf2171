// spindle.spawn beyond what child_process can be compared with: exit versus
// close with a grandchild, backpressure both ways, ref/unref and process
// exit, process groups, environments torn down with children running.
const cp = require('node:child_process')
const { thrown } = require('../support/thrown')
const path = require('node:path')
const fs = require('node:fs')
const os = require('node:os')
const spindle = require('../..')
const { binding } = require('../../lib/native')
const { isDead, record, sleep, waitFor } = require('../support/children')

const root = path.join(__dirname, '..', '..')

/** Runs a Node script in a fresh process; resolves { code, stdout, stderr }. */
function node(script) {
  return new Promise((resolve) => {
    cp.execFile(process.execPath, ['-e', script], { cwd: root, timeout: 60000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, signal: err ? err.signal : null, stdout, stderr })
    })
  })
}

test('the seed example: ls -lh /usr', async () => {
  const r = await record(spindle.spawn, 'ls', ['-lh', '/usr'])
  expect(r.close).toEqual([0, null])
  expect(r.stdout.toString()).toMatch(/^total /)
  expect(r.stdout.toString()).toContain('bin')
})

test('examples/seed-spawn.js runs', async () => {
  const r = await node("require('./examples/seed-spawn.js')")
  expect(r.code).toBe(0)
  expect(r.stdout).toContain('stdout: total')
  expect(r.stdout).toContain('child process exited with code 0')
})

test('a grandchild holding stdout does not hold back exit; close waits for EOF', async () => {
  const order = []
  const r = await record(spindle.spawn, 'sh', ['-c', 'sleep 1 & echo started'], undefined, (child) => {
    child.on('exit', () => order.push('exit'))
    child.stdout.on('end', () => order.push('stdout-end'))
    child.on('close', () => order.push('close'))
  })
  expect(order).toEqual(['exit', 'stdout-end', 'close'])
  expect(r.stdout.toString()).toBe('started\n')
  expect(r.exit).toEqual([0, null])
})

test('pid is set when spawn() returns, as with child_process (issue 12); undefined after a failed spawn', async () => {
  const child = spindle.spawn('sleep', ['30'])
  const node = cp.spawn('sleep', ['30'])
  expect(typeof child.pid).toBe(typeof node.pid)
  expect(child.pid).toBeGreaterThan(0)
  // Synchronously: the process exists already (it may still be exec'ing).
  expect(require('node:fs').existsSync(`/proc/${child.pid}`)).toBe(true)
  const pid = child.pid
  await new Promise((r) => child.once('spawn', r))
  expect(child.pid).toBe(pid)
  const stat = require('node:fs').readFileSync(`/proc/${child.pid}/stat`, 'utf8')
  expect(stat).toContain('(sleep)')
  child.kill()
  node.kill()
  await new Promise((r) => child.once('close', r))
  const missing = spindle.spawn('/nonexistent/spindle-missing')
  expect(missing.pid).toBe(cp.spawn('/nonexistent/spindle-missing').on('error', () => {}).pid)
  expect(await new Promise((r) => missing.once('error', r))).toMatchObject({ code: 'ENOENT' })
})

test('kill() right after spawn() reaches the child even before it has exec\'d', async () => {
  const child = spindle.spawn('sleep', ['30'])
  expect(child.kill('SIGKILL')).toBe(true)
  const [code, signal] = await new Promise((r) => child.once('exit', (c, s) => r([c, s])))
  expect([code, signal]).toEqual([null, 'SIGKILL'])
})

test('a file the kernel does not recognise runs through /bin/sh, as with child_process (execvp)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-noexec-'))
  const file = path.join(dir, 'script')
  // No #! line: execve gives ENOEXEC and execvp hands the file to /bin/sh.
  fs.writeFileSync(file, 'echo "from sh $1"\nexit 3\n', { mode: 0o755 })
  const run = (spawn) => new Promise((resolve) => {
    const child = spawn(file, ['arg'])
    const seen = { events: [], out: '' }
    child.stdout.on('data', (d) => { seen.out += d })
    child.on('spawn', () => seen.events.push('spawn'))
    child.on('error', (e) => seen.events.push(`error ${e.code}`))
    child.on('close', (code) => {
      seen.events.push(`close ${code}`)
      resolve(seen)
    })
  })
  const ours = await run(spindle.spawn)
  expect(ours).toEqual(await run(cp.spawn))
  expect(ours.out).toBe('from sh arg\n')
  fs.rmSync(dir, { recursive: true })
})

test('arguments too big for exec throw E2BIG from spawn(), as child_process does', () => {
  const huge = ['x'.repeat(200000)]
  const many = Array.from({ length: 5000 }, () => 'y'.repeat(1000))
  for (const args of [huge, many]) {
    expect(() => cp.spawn('/bin/true', args)).toThrow(expect.objectContaining({ code: 'E2BIG' }))
    expect(() => spindle.spawn('/bin/true', args)).toThrow(expect.objectContaining({ code: 'E2BIG', syscall: 'spawn' }))
  }
})

test('an exec failure no check can foresee (ETXTBSY) arrives as error + close, and pid is reset', async () => {
  // Documented difference: child_process throws it from spawn(); spindle has
  // returned the pid by the time the child's execve fails.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-txtbsy-'))
  const file = path.join(dir, 'busy')
  fs.copyFileSync('/bin/true', file)
  fs.chmodSync(file, 0o755)
  const fd = fs.openSync(file, 'r+')
  try {
    expect(() => cp.spawn(file)).toThrow(expect.objectContaining({ code: 'ETXTBSY' }))
    const child = spindle.spawn(file)
    expect(child.pid).toBeGreaterThan(0)
    const events = []
    child.on('spawn', () => events.push('spawn'))
    child.on('error', (e) => events.push(`error ${e.code} ${e.syscall}`))
    await new Promise((r) => child.on('close', (code) => { events.push(`close ${code}`); r() }))
    expect(events).toEqual([`error ETXTBSY spawn ${file}`, `close ${-os.constants.errno.ETXTBSY}`])
    expect(child.pid).toBeUndefined()
  } finally {
    fs.closeSync(fd)
    fs.rmSync(dir, { recursive: true })
  }
})

test('stdout backpressure: a paused stream holds the child back, resuming gets every byte', async () => {
  const child = spindle.spawn('sh', ['-c', 'head -c 67108864 /dev/zero; echo done >&2'])
  child.stdout.pause()
  let exited = false
  child.on('exit', () => {
    exited = true
  })
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr += d
  })
  await sleep(300)
  // The pipe and the stream's buffer are full: the child cannot have finished.
  expect(exited).toBe(false)
  expect(stderr).toBe('')
  expect(child.stdout.readableLength).toBeLessThan(67108864)
  let n = 0
  child.stdout.on('data', (d) => {
    n += d.length
  })
  child.stdout.resume()
  const [code] = await new Promise((r) => child.on('close', (...a) => r(a)))
  expect(code).toBe(0)
  expect(n).toBe(67108864)
  expect(stderr).toBe('done\n')
})

test('a blocked event loop does not let output pile up without bound (flow control)', async () => {
  const total = 64 << 20
  const child = spindle.spawn('head', ['-c', String(total), '/dev/zero'])
  let received = 0
  let writtenDuringBlock = -1
  child.stdout.on('data', (d) => {
    received += d.length
    if (writtenDuringBlock === -1) {
      // Hold the event loop for 500 ms; the reactor keeps reading meanwhile,
      // but only up to its 8 MiB credit, so the child soon blocks on a full
      // pipe. Without flow control it would write all 64 MiB in this time.
      const until = Date.now() + 500
      while (Date.now() < until);
      try {
        const io = require('node:fs').readFileSync(`/proc/${child.pid}/io`, 'utf8')
        writtenDuringBlock = Number(io.match(/^wchar: (\d+)$/m)[1])
      } catch {
        writtenDuringBlock = total // already exited: nothing held it back
      }
    }
  })
  await new Promise((r) => child.on('close', r))
  expect(received).toBe(total)
  // Credit (8 MiB) + the child's send buffer (at most 2 MiB) + the chunks
  // acked before the block, with room to spare; far below 64 MiB.
  expect(writtenDuringBlock).toBeGreaterThan(0)
  expect(writtenDuringBlock).toBeLessThanOrEqual(16 << 20)
})

test('stdin backpressure: write() returns false and the data still flows through a late reader', async () => {
  // The child reads nothing for a while; 16 MiB cannot fit in the channel
  // (its send buffer is at most 2 MiB, see spawner.rs).
  const child = spindle.spawn('sh', ['-c', 'read line; cat > /dev/null; echo read-all'])
  let done = false
  const big = Buffer.alloc(16 << 20, 0x61)
  big[big.length - 1] = 0x0a
  const ok = child.stdin.write(big, () => {
    done = true
  })
  expect(ok).toBe(false)
  const out = []
  child.stdout.on('data', (d) => out.push(d))
  child.stdin.end()
  await new Promise((r) => child.on('close', r))
  expect(done).toBe(true)
  expect(Buffer.concat(out).toString()).toBe('read-all\n')
})

test('a write to a child that never reads stays pending until it dies, then fails', async () => {
  const child = spindle.spawn('sleep', ['30'])
  child.stdin.on('error', () => {})
  let result = 'pending'
  child.stdin.write(Buffer.alloc(16 << 20), (err) => {
    result = err ? err.code : 'ok'
  })
  await sleep(300)
  expect(result).toBe('pending')
  child.kill('SIGKILL')
  await new Promise((r) => child.on('close', r))
  await waitFor(() => result !== 'pending', 'the write callback')
  expect(['EPIPE', 'ERR_STREAM_DESTROYED']).toContain(result)
})

test('writing after exit fails like child_process (stdin is destroyed at exit)', async () => {
  const child = spindle.spawn('true')
  const closed = new Promise((r) => child.on('close', r))
  await new Promise((r) => child.on('exit', r))
  expect(child.stdin.destroyed).toBe(true)
  const err = await new Promise((r) => child.stdin.write('late', r))
  expect(err.code).toBe('ERR_STREAM_DESTROYED')
  await closed
})

test('destroying stdout before EOF closes the pipe: an endless producer stops, as under child_process', async () => {
  // Both use a socketpair for 'pipe'. What the producer's next write sees
  // depends on timing: ECONNRESET (bytes were still unread when the socket
  // closed: child_process, which closes at once, nearly always), EPIPE, or
  // SIGPIPE. Whichever, `yes` stops.
  const run = (spawnFn) =>
    new Promise((resolve) => {
      const child = spawnFn('yes', [])
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      child.stdout.once('data', () => child.stdout.destroy())
      child.on('close', (code, signal) => resolve({ code, signal, stderr }))
    })
  const stopped = [
    { code: 1, signal: null, stderr: 'yes: standard output: Connection reset by peer\n' },
    { code: 1, signal: null, stderr: 'yes: standard output: Broken pipe\n' },
    { code: null, signal: 'SIGPIPE', stderr: '' },
  ]
  const [node, ours] = await Promise.all([run(cp.spawn), run(spindle.spawn)])
  expect(stopped).toContainEqual(node)
  expect(stopped).toContainEqual(ours)
})

test("stdio 'inherit' writes to the parent's own stdout and stderr", async () => {
  const r = await node(`
    const { spawn } = require('.')
    spawn('sh', ['-c', 'echo to-out; echo to-err >&2'], { stdio: 'inherit' })
      .on('close', (code) => console.log('close', code))
  `)
  expect(r.code).toBe(0)
  expect(r.stdout).toBe('to-out\nclose 0\n')
  expect(r.stderr).toBe('to-err\n')
})

test('without the reactor in the binding (non-Linux builds) spawn and exec go through child_process', async () => {
  const r = await node(`
    delete require('./binding.js').reactorSpawn
    const { spawn, exec } = require('.')
    const child = spawn('echo', ['via', 'node'])
    console.log(child instanceof require('node:child_process').ChildProcess, typeof child.pid)
    child.stdout.on('data', (d) => process.stdout.write(d))
    child.on('close', async (code) => {
      console.log('close', code)
      console.log((await exec('echo', ['exec', 'too'])).stdout.trim())
    })
  `)
  expect(r.stderr).toBe('')
  expect(r.stdout).toBe('true number\nvia node\nclose 0\nexec too\n')
})

test('bad option types throw synchronously', () => {
  const code = (fn) => thrown(fn).code
  expect(code(() => spindle.spawn('echo', [], { env: 'x' }))).toBe('ERR_INVALID_ARG_TYPE')
  // As child_process: an invalid stdio is ERR_INVALID_ARG_VALUE.
  expect(code(() => spindle.spawn('echo', [], { stdio: 42 }))).toBe(code(() => cp.spawn('echo', [], { stdio: 42 })))
  expect(code(() => spindle.spawn('echo', [], { cwd: {} }))).toBe('ERR_INVALID_ARG_TYPE')
})

test('detached children lead their own group; killGroup reaches grandchildren', async () => {
  const child = spindle.spawn('sh', ['-c', 'sleep 30 & echo $!; wait'], { detached: true })
  const line = await new Promise((r) => child.stdout.once('data', r))
  const grandchild = Number(String(line).trim())
  const pgid = Number(require('node:fs').readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ')[2])
  expect(pgid).toBe(child.pid)
  expect(child.killGroup('SIGKILL')).toBe(true)
  const [code, signal] = await new Promise((r) => child.on('close', (...a) => r(a)))
  expect([code, signal]).toEqual([null, 'SIGKILL'])
  await waitFor(() => isDead(grandchild), 'the grandchild to die')
})

test('unref: the process exits while an unref\'d child runs', async () => {
  // (Without pipes: as under child_process, open pipes keep the process alive.)
  const r = await node(`
    const { spawn } = require('.')
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' })
    child.on('spawn', () => { console.log('pid', child.pid); child.unref() })
  `)
  expect(r.code).toBe(0)
  const pid = Number(r.stdout.match(/pid (\d+)/)[1])
  process.kill(pid, 'SIGKILL') // reparented when the parent exited; clean up
})

test('a ref\'d child keeps the process alive until close; then it exits on its own', async () => {
  const r = await node(`
    const { spawn } = require('.')
    const child = spawn('sh', ['-c', 'sleep 0.3; echo late'])
    child.stdout.on('data', (d) => process.stdout.write('got ' + d))
    child.on('close', (code) => console.log('close', code))
  `)
  expect(r.code).toBe(0)
  expect(r.stdout).toBe('got late\nclose 0\n')
})

test('process.exit() with children running exits at once', async () => {
  const r = await node(`
    const { spawn } = require('.')
    const child = spawn('sleep', ['1000'])
    child.on('spawn', () => { console.log('pid', child.pid); process.exit(3) })
  `)
  expect(r.code).toBe(3)
  const pid = Number(r.stdout.match(/pid (\d+)/)[1])
  process.kill(pid, 'SIGKILL')
})

test('a worker terminated with children running: no crash, children still reaped', async () => {
  const { Worker } = require('node:worker_threads')
  const before = binding.reactorStats().children
  const w = new Worker(
    `
    const { parentPort } = require('node:worker_threads')
    const { spawn } = require(${JSON.stringify(root)})
    const pids = []
    for (let i = 0; i < 5; i++) {
      const c = spawn('sh', ['-c', 'sleep 0.3; head -c 300000 /dev/zero'])
      c.on('spawn', () => { pids.push(c.pid); if (pids.length === 5) parentPort.postMessage(pids) })
    }
    `,
    { eval: true },
  )
  const pids = await new Promise((r) => w.once('message', r))
  await w.terminate()
  await waitFor(() => pids.every(isDead), 'the children to exit')
  await waitFor(() => binding.reactorStats().children <= before, 'the reactor to forget them')
  // They were reaped (not zombies of this process).
  for (const pid of pids) {
    expect(require('node:fs').existsSync(`/proc/${pid}`)).toBe(false)
  }
})

test('the reactor thread stops when idle and starts again on demand', async () => {
  await record(spindle.spawn, 'true', [])
  await waitFor(() => !binding.reactorStats().running, 'the reactor to go idle', 30000)
  const started = binding.reactorStats().threadsStarted
  const r = await record(spindle.spawn, 'echo', ['again'])
  expect(r.stdout.toString()).toBe('again\n')
  expect(binding.reactorStats().threadsStarted).toBe(started + 1)
})
