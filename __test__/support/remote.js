'use strict'
// Processes for the spindle/bullmq specs: serving processes and submitting
// processes (fixtures/remote-server.js, fixtures/remote-caller.js), all
// stopped by stopAll(); and waitFor(), which polls a condition with no time
// limit of its own (jest's test timeout bounds it).
const { fork } = require('node:child_process')
const path = require('node:path')

const FIXTURES = path.join(__dirname, 'fixtures')
const children = new Set()

function track(child) {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** A serving process; resolves once it serves. */
function startServer(config) {
  const child = track(fork(path.join(FIXTURES, 'remote-server.js'), [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`serving process exited (${code ?? signal}) before it was ready`)))
    child.once('message', (m) => {
      if (!m || !m.ready) return reject(new Error(`unexpected message ${JSON.stringify(m)}`))
      resolve({
        child,
        pid: m.pid,
        /** server.close() in the process; resolves when it has closed. */
        close: () => new Promise((res) => {
          child.once('message', (x) => x === 'closed' && res())
          child.send('close')
        }),
        kill: (signal = 'SIGKILL') => new Promise((res) => {
          if (child.exitCode !== null || child.signalCode !== null) return res()
          child.once('exit', () => res())
          child.kill(signal)
        }),
      })
    })
  })
}

/** A submitting process; resolves with the results it got. */
function runCaller(config) {
  const child = track(fork(path.join(FIXTURES, 'remote-caller.js'), [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  return new Promise((resolve, reject) => {
    let got = null
    child.once('message', (m) => {
      got = m
    })
    child.once('exit', (code) => (got ? resolve(got.results) : reject(new Error(`caller exited with ${code} and no results`))))
  })
}

async function stopAll() {
  await Promise.all([...children].map((c) => new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve()
    c.once('exit', resolve)
    c.kill('SIGKILL')
  })))
}

/** Polls `fn` until it returns a truthy value (or resolves to one), and returns it. */
async function waitFor(fn, everyMs = 20) {
  for (;;) {
    const v = await fn()
    if (v) return v
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

module.exports = { startServer, runCaller, stopAll, waitFor }
