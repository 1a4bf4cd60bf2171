// The seed's worker example on spindle (examples/seed-worker.js): the main
// thread sends "Hello, worker" as a task argument; the worker answers with a
// progress message "Received: Hello, worker", which the program prints. It
// must print exactly that line and exit 0 on its own, promptly (an idle pool
// does not keep the process alive, and the example closes its pool).
const { execFile } = require('node:child_process')
const path = require('node:path')
const { ROOT } = require('../support/pool-helpers')
const { hangBound } = require('../support/timing')

const EXAMPLE = path.join(ROOT, 'examples', 'seed-worker.js')

function run(args, options) {
  return new Promise((resolve) => {
    const t0 = Date.now()
    execFile(process.execPath, args, { timeout: 60_000, ...options }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, signal: err ? err.signal : null, killed: err?.killed ?? false, stdout, stderr, ms: Date.now() - t0 })
    })
  })
}

test('node examples/seed-worker.js prints "Received: Hello, worker" and exits 0 promptly', async () => {
  const r = await run([EXAMPLE], { cwd: ROOT })
  expect(r.killed).toBe(false) // not stopped by the 60 s timeout
  expect(r.signal).toBeNull()
  expect(r.code).toBe(0)
  expect(r.stdout).toBe('Received: Hello, worker\n')
  expect(r.stderr).toBe('')
  expect(r.ms).toBeLessThan(hangBound(15_000))
})

test('it works from another working directory too', async () => {
  const r = await run([EXAMPLE], { cwd: require('node:os').tmpdir() })
  expect(r.code).toBe(0)
  expect(r.stdout).toBe('Received: Hello, worker\n')
  expect(r.stderr).toBe('')
})
