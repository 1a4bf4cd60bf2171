// The environment a child inherits when no `env` option is given. On the
// main thread spindle snapshots the process's real environment natively
// (what process.env reads and writes there); in a worker thread it passes
// that thread's own process.env copy. Either way the child must see exactly
// what child_process.spawn's child sees, including changes made just before.
const cp = require('node:child_process')
const path = require('node:path')
const spindle = require('../..')
const { record } = require('../support/children')

const root = path.join(__dirname, '..', '..')
const SHOW = ['-c', 'echo "A=${SPINDLE_ENV_A-unset} B=${SPINDLE_ENV_B-unset} HOME=${HOME-unset}"']

/** Runs a Node script in a fresh process (its process.env is the real one there). */
function node(script) {
  return new Promise((resolve, reject) => {
    cp.execFile(process.execPath, ['-e', script], { cwd: root, timeout: 60000, env: { ...process.env, SPINDLE_ENV_B: 'from-parent' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`))
      else resolve(JSON.parse(stdout))
    })
  })
}

const SCRIPT_BODY = `
  const cp = require('node:child_process')
  const spindle = require('.')
  const show = ${JSON.stringify(SHOW)}
  const viaNode = () => new Promise((resolve) => {
    let out = ''
    const c = cp.spawn('sh', show)
    c.stdout.on('data', (d) => (out += d))
    c.on('close', () => resolve(out))
  })
  const viaSpindle = () => new Promise((resolve) => {
    let out = ''
    const c = spindle.spawn('sh', show)
    c.stdout.on('data', (d) => (out += d))
    c.on('close', () => resolve(out))
  })
  async function compare() {
    process.env.SPINDLE_ENV_A = 'set just now'
    delete process.env.HOME
    const before = { node: await viaNode(), spindle: await viaSpindle(), exec: (await spindle.exec('sh', show)).stdout }
    process.env.SPINDLE_ENV_A = 'changed again'
    process.env.SPINDLE_ENV_B = 'overwritten'
    const after = { node: await viaNode(), spindle: await viaSpindle(), exec: (await spindle.exec('sh', show, { extendEnv: false })).stdout }
    return { before, after }
  }
`

test('main thread: changes to process.env reach the child exactly as with child_process', async () => {
  const r = await node(`${SCRIPT_BODY}; compare().then((r) => console.log(JSON.stringify(r)))`)
  expect(r.before.node).toBe('A=set just now B=from-parent HOME=unset\n')
  expect(r.before.spindle).toBe(r.before.node)
  expect(r.before.exec).toBe(r.before.node)
  expect(r.after.node).toBe('A=changed again B=overwritten HOME=unset\n')
  expect(r.after.spindle).toBe(r.after.node)
  expect(r.after.exec).toBe(r.after.node)
})

test("worker thread: the worker's own process.env copy reaches the child, as with child_process", async () => {
  const script = `
    const { Worker } = require('node:worker_threads')
    const w = new Worker(${JSON.stringify(`${SCRIPT_BODY}; compare().then((r) => require('node:worker_threads').parentPort.postMessage(r))`)}, { eval: true })
    w.on('message', async (r) => {
      // The worker's changes stayed in its copy: the main thread's child sees none.
      const main = (await require('.').exec('sh', ${JSON.stringify(SHOW)})).stdout
      console.log(JSON.stringify({ ...r, main }))
      w.terminate()
    })`
  const r = await node(script)
  expect(r.before.node).toBe('A=set just now B=from-parent HOME=unset\n')
  expect(r.before.spindle).toBe(r.before.node)
  expect(r.before.exec).toBe(r.before.node)
  expect(r.after.spindle).toBe(r.after.node)
  expect(r.after.exec).toBe(r.after.node)
  expect(r.main).toMatch(/^A=unset B=from-parent HOME=(?!unset)/)
})

test('inside this test environment spindle sees what child_process sees', async () => {
  // (jest gives each test file its own process.env object; whatever its
  // semantics, spindle must agree with child_process here too.)
  process.env.SPINDLE_ENV_A = 'jest'
  try {
    const viaSpindle = await record(spindle.spawn, 'sh', SHOW)
    const viaNode = await record(cp.spawn, 'sh', SHOW)
    expect(viaSpindle.stdout.toString()).toBe(viaNode.stdout.toString())
  } finally {
    delete process.env.SPINDLE_ENV_A
  }
})
