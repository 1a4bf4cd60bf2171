'use strict'
// `npm run demo:remote`: the two-process example against a local redis-server
// this script starts (on a free port, in a temporary directory) and stops:
// examples/remote-serve.js serves the queue, examples/remote-submit.js submits.
const { spawn } = require('node:child_process')
const path = require('node:path')
const { startRedis } = require('../__test__/support/redis-server')

function run(file, env) {
  return spawn(process.execPath, [path.join(__dirname, file)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
}

async function main() {
  const redis = await startRedis()
  console.log(`redis-server on 127.0.0.1:${redis.port}`)
  const env = { REDIS_PORT: String(redis.port) }
  const server = run('remote-serve.js', env)
  const serverDone = new Promise((resolve) => server.once('exit', resolve))
  try {
    await new Promise((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`remote-serve.js exited with ${code}`)))
      server.stdout.on('data', (d) => {
        process.stdout.write(d)
        if (String(d).includes('serving queue')) resolve()
      })
    })
    const submit = run('remote-submit.js', env)
    submit.stdout.pipe(process.stdout)
    const code = await new Promise((resolve) => submit.once('exit', resolve))
    if (code !== 0) throw new Error(`remote-submit.js exited with ${code}`)
  } finally {
    server.kill('SIGTERM')
    await serverDone
    await redis.stop()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
