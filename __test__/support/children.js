// Shared helpers for the reactor specs: run a child to 'close' and record
// everything observable, the same way for child_process and spindle.
const fs = require('node:fs')

/**
 * Runs `spawnFn(cmd, args, opts)` to its 'close' (or a thrown error) and
 * resolves with what was seen. `drive(child, rec)` may feed stdin or kill.
 */
function record(spawnFn, cmd, args, opts, drive) {
  return new Promise((resolve, reject) => {
    const rec = {
      events: [],
      stdout: [],
      stderr: [],
      exit: null,
      close: null,
      error: null,
      stdinError: null,
      dataAfterClose: false,
      killed: null,
      pidSeen: false,
    }
    let child
    try {
      child = spawnFn(cmd, args, opts)
    } catch (err) {
      reject(err)
      return
    }
    const push = (e) => rec.events.push(e)
    child.on('spawn', () => {
      rec.pidSeen = typeof child.pid === 'number' && child.pid > 0
      push('spawn')
    })
    child.on('error', (err) => {
      rec.error = err
      push('error')
    })
    child.on('exit', (code, signal) => {
      rec.exit = [code, signal]
      push('exit')
    })
    child.stdout?.on('data', (d) => {
      if (rec.close) rec.dataAfterClose = true
      rec.stdout.push(d)
    })
    child.stderr?.on('data', (d) => {
      if (rec.close) rec.dataAfterClose = true
      rec.stderr.push(d)
    })
    child.stdin?.on('error', (err) => {
      rec.stdinError = err
    })
    child.on('close', (code, signal) => {
      rec.close = [code, signal]
      push('close')
      rec.stdout = Buffer.concat(rec.stdout)
      rec.stderr = Buffer.concat(rec.stderr)
      rec.killed = child.killed
      rec.exitCode = child.exitCode
      rec.signalCode = child.signalCode
      resolve(rec)
    })
    if (drive) drive(child, rec)
  })
}

/** Pids of this process's children that are zombies. */
function zombieChildren() {
  const out = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let stat
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(fields[1]) === process.pid && fields[0] === 'Z') out.push(Number(name))
  }
  return out
}

/** True once /proc/<pid> is gone or a zombie (killed, reparented). */
function isDead(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return true
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function waitFor(pred, what, ms = 20000) {
  const until = Date.now() + ms
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

module.exports = { isDead, record, sleep, waitFor, zombieChildren }
