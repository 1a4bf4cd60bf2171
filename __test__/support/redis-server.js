'use strict'
// A real redis-server for the tests (and the remote bench and demo): started
// on a free loopback port with a temporary directory, stopped afterwards.
//
//   const redis = await startRedis({ persist: true })
//   redis.connection          // { host: '127.0.0.1', port } for BullMQ
//   await redis.restart()     // stop (SIGTERM) and start again on the same port and dir
//   await redis.stop()        // and the directory is removed
//
// `persist: true` runs with an append-only file fsynced on every write, so a
// restart keeps every job; without it a restart starts empty.

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const HOST = '127.0.0.1'

function redisServerPath() {
  for (const p of [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (p && fs.existsSync(p)) return p
  }
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null
  } catch {
    return null
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, HOST, () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Resolves once `PING` answers `+PONG` on the port; rejects after `ms`. */
async function waitForPong(port, ms = 10_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, HOST)
      let buf = ''
      const done = (v) => {
        sock.destroy()
        resolve(v)
      }
      sock.setTimeout(1000, () => done(false))
      sock.on('error', () => done(false))
      sock.on('connect', () => sock.write('PING\r\n'))
      sock.on('data', (d) => {
        buf += d
        if (buf.includes('\r\n')) done(buf.startsWith('+PONG'))
      })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

async function startRedis({ persist = false } = {}) {
  const bin = redisServerPath()
  if (!bin) throw new Error('redis-server not found (Debian: apt-get install -y redis-server)')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-redis-'))
  let port = await freePort()
  let child = null
  let exited = null

  const args = () => [
    '--port', String(port), '--bind', HOST, '--dir', dir, '--daemonize', 'no',
    '--save', '', '--protected-mode', 'no', '--loglevel', 'warning',
    '--logfile', path.join(dir, 'redis.log'),
    ...(persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
  ]

  async function start() {
    child = spawn(bin, args(), { stdio: 'ignore' })
    exited = new Promise((resolve) => child.once('exit', resolve))
    const failed = exited.then(() => {
      throw new Error(`redis-server exited at start: ${readLog()}`)
    })
    await Promise.race([waitForPong(port), failed])
  }

  function readLog() {
    try {
      return fs.readFileSync(path.join(dir, 'redis.log'), 'utf8').slice(-2000)
    } catch {
      return ''
    }
  }

  async function halt(signal) {
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    child.kill(signal)
    await exited
  }

  // A port taken between freePort() and the bind: try another.
  for (let attempt = 0; ; attempt++) {
    try {
      await start()
      break
    } catch (err) {
      await halt('SIGKILL')
      if (attempt >= 3) {
        fs.rmSync(dir, { recursive: true, force: true })
        throw err
      }
      port = await freePort()
    }
  }

  return {
    host: HOST,
    get port() {
      return port
    },
    get connection() {
      return { host: HOST, port }
    },
    get pid() {
      return child?.pid
    },
    dir,
    /** Stops (SIGTERM: a clean shutdown, the AOF flushed) and starts again on the same port. */
    async restart({ downMs = 0 } = {}) {
      await halt('SIGTERM')
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs))
      await start()
    },
    async stop() {
      await halt('SIGTERM')
      fs.rmSync(dir, { recursive: true, force: true })
    },
    log: readLog,
  }
}

module.exports = { startRedis, redisServerPath }
