// spindle/bullmq under faults, against real redis-servers and real serving
// processes: a server killed mid-task, Redis restarted (with and without its
// data), server.close() during a burst, several servers and callers at once.
// No timed assertions: counts, values and who served what.
const { RemotePool } = require('../../bullmq')
const { startRedis } = require('../support/redis-server')
const { runCaller, startServer, stopAll, waitFor } = require('../support/remote')

const pools = []
const redises = []

async function redisServer(opts) {
  const r = await startRedis(opts)
  redises.push(r)
  return r
}

function remotePool(options) {
  const r = new RemotePool(options)
  r.on('error', () => {}) // reconnects are expected here
  pools.push(r)
  return r
}

afterEach(async () => {
  await Promise.allSettled(pools.splice(0).map((p) => p.destroy()))
  await stopAll()
  await Promise.allSettled(redises.splice(0).map((r) => r.stop()))
})

/** Settles each promise into { ok, value | err }, counting settlements. */
function settleAll(promises) {
  return Promise.all(promises.map((p) => p.then((value) => ({ ok: true, value }), (err) => ({ ok: false, err }))))
}

test('a serving process killed with SIGKILL mid-task: every task still resolves once, served by the other', async () => {
  const redis = await redisServer()
  // Short locks, frequent stalled checks: BullMQ's stalled-job recovery.
  const worker = { lockDuration: 1000, stalledInterval: 250 }
  const a = await startServer({ queue: 'kill', connection: redis.connection, maxThreads: 1, worker })
  const b = await startServer({ queue: 'kill', connection: redis.connection, maxThreads: 1, worker })
  const remote = remotePool({ queue: 'kill', connection: redis.connection })

  const N = 12
  const startedOn = new Map() // id → pids it started on
  let killed = null
  const onMessage = (m) => {
    startedOn.set(m.started, [...(startedOn.get(m.started) ?? []), m.pid])
    if (killed === null && m.pid === a.pid) killed = a.kill('SIGKILL')
  }
  let settlements = 0
  const results = await settleAll(Array.from({ length: N }, (_, i) =>
    remote.run({ id: `k${i}`, ms: 150 }, { name: 'work', onMessage }).finally(() => settlements++)))
  await killed

  expect(settlements).toBe(N)
  expect(results.filter((r) => !r.ok)).toEqual([])
  expect(results.map((r) => r.value.id)).toEqual(Array.from({ length: N }, (_, i) => `k${i}`))
  // The task A was running when it died was run again, and finished, by B.
  const interrupted = results.filter((r) => r.value.pid === b.pid && startedOn.get(r.value.id)?.[0] === a.pid)
  expect(interrupted.length).toBeGreaterThanOrEqual(1)
  for (const r of interrupted) expect(startedOn.get(r.value.id)).toEqual([a.pid, b.pid])
  // What A finished before it died, it finished once; everything else is B's.
  for (const r of results) {
    expect([a.pid, b.pid]).toContain(r.value.pid)
    if (r.value.pid === a.pid) expect(startedOn.get(r.value.id)).toEqual([a.pid])
  }
  expect(await remote.queue.getJobCounts('failed', 'waiting', 'active')).toEqual({ failed: 0, waiting: 0, active: 0 })
})

test('Redis restarted mid-run (data kept): clients and servers reconnect, every task resolves', async () => {
  const redis = await redisServer({ persist: true })
  await startServer({ queue: 'restart', connection: redis.connection, maxThreads: 1, worker: { runRetryDelay: 100 } })
  const remote = remotePool({ queue: 'restart', connection: redis.connection, checkInterval: 500 })

  const N = 20
  let done = 0
  const all = settleAll(Array.from({ length: N }, (_, i) =>
    remote.run({ id: `r${i}`, ms: 40 }, { name: 'work' }).finally(() => done++)))
  await waitFor(() => done >= 4)
  await redis.restart()
  const results = await all

  expect(results.length).toBe(N)
  expect(results.filter((r) => !r.ok).map((r) => r.err)).toEqual([])
  expect(results.map((r) => r.value.id)).toEqual(Array.from({ length: N }, (_, i) => `r${i}`))
  // Both sides are back: a new task goes through.
  expect((await remote.run({ id: 'after', ms: 0 }, { name: 'work' })).id).toBe('after')
})

test('Redis restarted empty mid-run: every promise settles, lost jobs reject with ERR_SPINDLE_JOB_LOST', async () => {
  const redis = await redisServer({ persist: false })
  await startServer({ queue: 'lost', connection: redis.connection, maxThreads: 1, worker: { runRetryDelay: 100 } })
  const remote = remotePool({ queue: 'lost', connection: redis.connection, checkInterval: 300 })

  const N = 20
  let done = 0
  const all = settleAll(Array.from({ length: N }, (_, i) =>
    remote.run({ id: `l${i}`, ms: 40 }, { name: 'work' }).finally(() => done++)))
  await waitFor(() => done >= 4)
  await redis.restart()
  const results = await all

  expect(results.length).toBe(N)
  const ok = results.filter((r) => r.ok)
  const lost = results.filter((r) => !r.ok)
  expect(ok.length).toBeGreaterThanOrEqual(4)
  for (const r of ok) expect(r.value.id).toBe(`l${results.indexOf(r)}`)
  expect(lost.length).toBeGreaterThanOrEqual(1)
  for (const r of lost) expect(r.err.code).toBe('ERR_SPINDLE_JOB_LOST')
  expect((await remote.run({ id: 'after', ms: 0 }, { name: 'work' })).id).toBe('after')
})

test('server.close() during a burst: the running task finishes, waiting ones stay in Redis for another server', async () => {
  const redis = await redisServer()
  const a = await startServer({ queue: 'close', connection: redis.connection, maxThreads: 1 })
  const remote = remotePool({ queue: 'close', connection: redis.connection })

  const N = 6
  const started = []
  let closing = null
  const onMessage = (m) => {
    started.push(m)
    if (closing === null) closing = a.close()
  }
  const all = settleAll(Array.from({ length: N }, (_, i) => remote.run({ id: `c${i}`, ms: 200 }, { name: 'work', onMessage })))
  await waitFor(() => closing !== null)
  await closing

  // A finished what it was running (at least the task that asked it to close)
  // and took nothing more: the rest waits in Redis.
  const counts = await remote.queue.getJobCounts('completed', 'waiting', 'active', 'failed')
  const finishedByA = counts.completed
  expect(finishedByA).toBeGreaterThanOrEqual(1)
  expect(counts).toEqual({ completed: finishedByA, waiting: N - finishedByA, active: 0, failed: 0 })

  const b = await startServer({ queue: 'close', connection: redis.connection, maxThreads: 1 })
  const results = await all
  expect(results.every((r) => r.ok)).toBe(true)
  expect(results.map((r) => r.value.id)).toEqual(Array.from({ length: N }, (_, i) => `c${i}`))
  const servedBy = results.map((r) => r.value.pid)
  expect(servedBy.filter((p) => p === a.pid).length).toBe(finishedByA)
  expect(servedBy.filter((p) => p === b.pid).length).toBe(N - finishedByA)
  expect(started.filter((m) => m.pid === a.pid).length).toBe(finishedByA)
})

test('two serving processes, callers in several processes: each result reaches the caller that submitted it', async () => {
  const redis = await redisServer()
  const s1 = await startServer({ queue: 'shared', connection: redis.connection, maxThreads: 1 })
  const s2 = await startServer({ queue: 'shared', connection: redis.connection, maxThreads: 1 })
  const ids = (caller) => Array.from({ length: 25 }, (_, i) => `${caller}-${i}`)
  const config = (caller) => ({ queue: 'shared', connection: redis.connection, ids: ids(caller), ms: 5 })

  const remote = remotePool({ queue: 'shared', connection: redis.connection })
  const [x, y, z, here] = await Promise.all([
    runCaller(config('x')),
    runCaller(config('y')),
    runCaller(config('z')),
    Promise.all(ids('here').map((id) => remote.run({ id, ms: 5 }, { name: 'work' }))),
  ])

  expect(x.map((r) => r.id)).toEqual(ids('x'))
  expect(y.map((r) => r.id)).toEqual(ids('y'))
  expect(z.map((r) => r.id)).toEqual(ids('z'))
  expect(here.map((r) => r.id)).toEqual(ids('here'))
  const pids = new Set([...x, ...y, ...z, ...here].map((r) => r.pid))
  expect(pids).toEqual(new Set([s1.pid, s2.pid]))
})
