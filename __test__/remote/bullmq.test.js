// spindle/bullmq against a real redis-server: values, errors, progress,
// names, job options, cancellation, plain BullMQ jobs, options and the entry.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Queue, QueueEvents } = require('bullmq')
const { serve, RemotePool } = require('../../bullmq')
const { startRedis } = require('../support/redis-server')
const { startServer, stopAll, waitFor } = require('../support/remote')

const ROOT = path.resolve(__dirname, '..', '..')
const TASKS = path.join(__dirname, '..', 'support', 'fixtures', 'workers', 'remote.js')

let redis
let server
let remote
const closers = []

beforeAll(async () => {
  redis = await startRedis()
  server = await serve({ queue: 'api', connection: redis.connection, filename: TASKS, maxThreads: 2 })
  remote = new RemotePool({ queue: 'api', connection: redis.connection })
})

afterAll(async () => {
  await Promise.allSettled(closers.map((c) => c()))
  await remote?.close()
  await server?.close()
  await stopAll()
  await redis?.stop()
})

async function rejection(promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('values', () => {
  test('structured clones arrive as they left, both ways', async () => {
    const big = Buffer.alloc(100_000, 7)
    const values = [
      { image: Buffer.from('png bytes'), width: 200 },
      new Uint8Array([1, 2, 3]),
      Float64Array.of(-0, NaN, 1.5),
      new Map([[1, { deep: new Set(['a', 2n]) }]]),
      new Date(1_700_000_000_000),
      12345678901234567890n,
      [undefined, null, NaN, -0, Infinity],
      /x+y/gi,
      { nested: { big, small: Buffer.from([9]) } },
      'text with a lone surrogate \ud800 and emoji 🧵',
      undefined,
    ]
    const out = await Promise.all(values.map((v) => remote.run(v)))
    for (let i = 0; i < values.length; i++) expect(out[i]).toStrictEqual(values[i])
    expect(Buffer.isBuffer(out[0].image)).toBe(true)
    expect(out[1]).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(out[1])).toBe(false)
    expect(Object.is(out[2][0], -0)).toBe(true)
    expect(Buffer.isBuffer(out[8].nested.big)).toBe(true)
  })

  test('JSON primitives travel as themselves (no v8 bytes in Redis); the near misses as structured clones', async () => {
    const exact = [0, 42, -1.5, 1e308, 5e-324, '', 'text 🧵', true, false, null]
    const nearMisses = [-0, NaN, Infinity, -Infinity, 'lone \ud800', undefined, 2n]
    const all = [...exact, ...nearMisses]
    const ids = all.map((_, i) => `prim-${Date.now()}-${i}`)
    const out = await Promise.all(all.map((v, i) => remote.run(v, { job: { jobId: ids[i] } })))
    for (let i = 0; i < all.length; i++) expect(Object.is(out[i], all[i])).toBe(true)
    for (let i = 0; i < all.length; i++) {
      const job = await remote.queue.getJob(ids[i])
      const asJson = i < exact.length
      // What the submitter wrote and what the server answered, as BullMQ keeps them.
      expect(Object.hasOwn(job.data, 'json')).toBe(asJson)
      expect(typeof job.data.v8 === 'string').toBe(!asJson)
      expect(Object.hasOwn(job.returnvalue, 'json')).toBe(asJson)
      if (asJson) expect(job.data.json).toBe(all[i])
    }
  })

  test('an integral number reaches the task as a small integer, as v8.deserialize gives it', async () => {
    const queue = `smi-${Date.now()}`
    const s = await serve({ queue, connection: redis.connection, filename: path.join(path.dirname(TASKS), 'remote-smi.js'), maxThreads: 1 })
    const r = new RemotePool({ queue, connection: redis.connection })
    try {
      expect(await Promise.all([27, 0, -5, 2 ** 20, 1.5, 2 ** 40].map((x) => r.run(x)))).toEqual([true, true, true, true, false, false])
    } finally {
      await r.close()
      await s.close()
    }
  })

  test('a named export runs; run without a name runs the default export', async () => {
    expect(await remote.run(41, { name: 'inc' })).toBe(42)
    expect(await remote.run({ same: true })).toEqual({ same: true })
  })

  test('subtasks (ctx.run) on the serving pool carry structured clones too', async () => {
    expect(await remote.run(7, { name: 'fork' })).toStrictEqual({ inc: 8, echoed: new Map([['x', Buffer.from([7])]]) })
  })

  test('a value that cannot be cloned rejects, and nothing is added', async () => {
    const before = await remote.queue.count()
    const err = await rejection(remote.run({ f() {} }))
    expect(err.message).toMatch(/could not be cloned/)
    expect(await remote.queue.count()).toBe(before)
  })
})

describe('errors', () => {
  test('name, message, stack, code, cause and own properties survive the trip', async () => {
    const err = await rejection(remote.run('it broke', { name: 'fail' }))
    expect(err).toBeInstanceOf(TypeError)
    expect(err.name).toBe('TypeError')
    expect(err.message).toBe('it broke')
    expect(err.code).toBe('E_REMOTE_TASK')
    expect(err.detail).toEqual({ n: 1n })
    expect(err.stack).toContain('remote.js')
    expect(err.cause).toBeInstanceOf(RangeError)
    expect(err.cause.message).toBe('the root cause')
  })

  test('a thrown non-Error arrives as it was thrown', async () => {
    expect(await rejection(remote.run(null, { name: 'throwString' }))).toBe('just a string')
  })

  test('an unknown export rejects with a TypeError', async () => {
    const err = await rejection(remote.run(1, { name: 'noSuchExport' }))
    expect(err).toBeInstanceOf(TypeError)
    expect(err.message).toMatch(/does not export a function named "noSuchExport"/)
  })

  describe('retried only when job.attempts asks for it', () => {
    let dir
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-flaky-'))
    })
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
    const runs = (file) => Number(fs.readFileSync(file, 'utf8'))

    test('no attempts: one run, and the caller gets its code', async () => {
      const file = path.join(dir, 'a')
      const err = await rejection(remote.run({ file, failures: 2 }, { name: 'flaky' }))
      expect(err.code).toBe('E_FLAKY')
      expect(err.message).toBe('run 1 fails')
      expect(runs(file)).toBe(1)
    })

    test('attempts: 3 survives two failures', async () => {
      const file = path.join(dir, 'b')
      expect(await remote.run({ file, failures: 2 }, { name: 'flaky', job: { attempts: 3 } })).toBe(3)
      expect(runs(file)).toBe(3)
    })

    test('attempts: 2 fails with the last attempt\'s error', async () => {
      const file = path.join(dir, 'c')
      const err = await rejection(remote.run({ file, failures: 5 }, { name: 'flaky', job: { attempts: 2 } }))
      expect(err.code).toBe('E_FLAKY')
      expect(err.message).toBe('run 2 fails')
      expect(runs(file)).toBe(2)
    })
  })
})

describe('messages', () => {
  test('ctx.postMessage reaches onMessage in order, as structured clones, before the promise settles', async () => {
    const seen = []
    const list = [1, new Map([['k', 2n]]), Buffer.from('three'), { four: new Date(4) }]
    const p = remote.run(list, { name: 'progress', onMessage: (m) => seen.push(m) })
    const n = await p
    seen.push('settled')
    expect(n).toBe(4)
    expect(seen).toStrictEqual([...list, 'settled'])
  })
})

describe('job options', () => {
  test('jobId, priority and attempts reach BullMQ; results are kept an hour by default', async () => {
    expect(await remote.run(1, { name: 'inc', job: { jobId: 'opts-1', priority: 3, attempts: 2, delay: 20 } })).toBe(2)
    const job = await remote.queue.getJob('opts-1')
    expect(job.opts.priority).toBe(3)
    expect(job.opts.attempts).toBe(2)
    expect(job.opts.delay).toBe(20)
    expect(job.opts.removeOnComplete).toEqual({ age: 3600 })
    expect(await job.getState()).toBe('completed')
  })

  test('a caller-chosen jobId of a job that already finished settles from Redis', async () => {
    expect(await remote.run(10, { name: 'inc', job: { jobId: 'done-once' } })).toBe(11)
    // The same id again: BullMQ keeps the finished job; its result is read back.
    expect(await remote.run(99, { name: 'inc', job: { jobId: 'done-once' } })).toBe(11)
  })

  test('the same caller-chosen jobId twice at once is refused', async () => {
    const a = remote.run({ id: 'd', ms: 50 }, { name: 'work', job: { jobId: 'dup-1' } })
    const err = await rejection(remote.run(1, { job: { jobId: 'dup-1' } }))
    expect(err.code).toBe('ERR_SPINDLE_DUPLICATE_JOB')
    expect((await a).id).toBe('d')
  })
})

describe('plain BullMQ jobs', () => {
  let queue
  let events
  beforeAll(async () => {
    queue = new Queue('api', { connection: redis.connection })
    events = new QueueEvents('api', { connection: redis.connection })
    await events.waitUntilReady()
    closers.push(() => queue.close(), () => events.close())
  })

  test('queue.add(name, jsonData): the task gets the JSON data, its value is the return value', async () => {
    const job = await queue.add('inc', 41)
    expect(await job.waitUntilFinished(events)).toBe(42)
    const echo = await queue.add('default', { list: [1, 'two', { three: 3 }] })
    expect(await echo.waitUntilFinished(events)).toEqual({ list: [1, 'two', { three: 3 }] })
  })

  test('ctx.postMessage becomes plain job progress', async () => {
    const progress = []
    const job = await queue.add('progress', [10, { at: 'half' }, 100])
    const onProgress = ({ jobId, data }) => jobId === job.id && progress.push(data)
    events.on('progress', onProgress)
    try {
      expect(await job.waitUntilFinished(events)).toBe(3)
    } finally {
      events.off('progress', onProgress)
    }
    expect(progress).toEqual([10, { at: 'half' }, 100])
    expect((await queue.getJob(job.id)).progress).toBe(100)
  })

  test('a failing plain job fails in BullMQ with the task\'s message and stack', async () => {
    const job = await queue.add('fail', 'plain failure')
    await expect(job.waitUntilFinished(events)).rejects.toThrow('plain failure')
    const stored = await queue.getJob(job.id)
    expect(stored.failedReason).toBe('plain failure')
    expect(stored.stacktrace.at(-1)).toMatch(/^TypeError: plain failure/)
  })
})

describe('cancellation', () => {
  let cancelRemote
  beforeAll(async () => {
    // The serving machine is another process, with one thread.
    await startServer({ queue: 'cancel', connection: redis.connection, maxThreads: 1 })
    cancelRemote = new RemotePool({ queue: 'cancel', connection: redis.connection })
    closers.push(() => cancelRemote.close())
  })

  test('an already aborted signal rejects and adds nothing', async () => {
    const before = await cancelRemote.queue.count()
    const err = await rejection(cancelRemote.run(1, { signal: AbortSignal.abort() }))
    expect(err.name).toBe('AbortError')
    expect(err.code).toBe('ABORT_ERR')
    expect(await cancelRemote.queue.count()).toBe(before)
  })

  test('aborted in the tick it was submitted: never reaches Redis', async () => {
    const ac = new AbortController()
    const p = cancelRemote.run(1, { name: 'inc', signal: ac.signal, job: { jobId: 'never-added' } })
    ac.abort()
    expect((await rejection(p)).code).toBe('ABORT_ERR')
    expect(await cancelRemote.run(1, { name: 'inc' })).toBe(2)
    expect(await cancelRemote.queue.getJob('never-added')).toBeUndefined()
  })

  test('a waiting job is removed; a running one is cancelled on the machine that runs it', async () => {
    const started = []
    const onMessage = (m) => started.push(m.started)
    const running = new AbortController()
    const hang = cancelRemote.run('h1', { name: 'hang', signal: running.signal, onMessage, job: { jobId: 'hang-1' } })
    await waitFor(() => started.includes('h1'))

    // The only thread is busy: this one waits in Redis.
    const waiting = new AbortController()
    const queued = cancelRemote.run({ id: 'w1', ms: 0 }, { name: 'work', signal: waiting.signal, onMessage, job: { jobId: 'wait-1' } })
    await waitFor(async () => (await cancelRemote.queue.getJob('wait-1'))?.getState().then((s) => s === 'waiting'))
    waiting.abort()
    expect((await rejection(queued)).name).toBe('AbortError')
    expect(await cancelRemote.queue.getJob('wait-1')).toBeUndefined()

    running.abort(new Error('the user left'))
    const err = await rejection(hang)
    expect(err.name).toBe('AbortError')
    expect(err.cause.message).toBe('the user left')
    // The serving process aborted it (the task blocks for a minute otherwise),
    // failed the job without a retry, and runs the next one on a new thread.
    // The job is read again until the snapshot itself shows the failure: a
    // snapshot taken just before BullMQ wrote it has no failedReason yet.
    const job = await waitFor(async () => {
      const j = await cancelRemote.queue.getJob('hang-1')
      return j && typeof j.failedReason === 'string' && j.failedReason !== '' && (await j.getState()) === 'failed' && j
    })
    expect(job.failedReason).toMatch(/^cancelled/)
    expect(job.attemptsMade).toBe(1)
    expect(await cancelRemote.run(5, { name: 'inc' })).toBe(6)
    expect(started).toEqual(['h1']) // the removed job never started
  })
})

describe('serve()', () => {
  test('the Worker\'s concurrency follows the pool\'s capacity unless worker.concurrency says otherwise', async () => {
    const a = await serve({ queue: 'cap', connection: redis.connection, filename: TASKS, maxThreads: 2, concurrentTasksPerWorker: 3 })
    const b = await serve({ queue: 'cap', connection: redis.connection, filename: TASKS, maxThreads: 1, worker: { concurrency: 5 } })
    try {
      expect(a.worker.concurrency).toBe(6)
      expect(b.worker.concurrency).toBe(5)
      expect(a.pool.stats().threads).toBe(2)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  test('the pool\'s name option picks the export for jobs named "default"; route() overrides', async () => {
    const named = await serve({ queue: 'named', connection: redis.connection, filename: TASKS, maxThreads: 1, name: 'inc' })
    const routed = await serve({ queue: 'routed', connection: redis.connection, filename: TASKS, maxThreads: 1, route: () => 'pid' })
    const r1 = new RemotePool({ queue: 'named', connection: redis.connection })
    const r2 = new RemotePool({ queue: 'routed', connection: redis.connection })
    try {
      expect(await r1.run(1)).toBe(2)
      expect(await r2.run(1, { name: 'inc' })).toBe(process.pid)
    } finally {
      await Promise.all([r1.close(), r2.close()])
      await Promise.all([named.close(), routed.close()])
    }
  })

  test('an ES module task file: default, named and async exports', async () => {
    const esm = await serve({ queue: 'esm', connection: redis.connection, filename: path.join(__dirname, '..', 'support', 'fixtures', 'workers', 'esm.mjs'), maxThreads: 1 })
    const r = new RemotePool({ queue: 'esm', connection: redis.connection })
    try {
      expect(await r.run({ a: 6, b: 7 })).toBe(42)
      expect(await r.run(5, { name: 'negate' })).toBe(-5)
      expect((await r.run(3n, { name: 'later' })).x).toBe(3n)
    } finally {
      await r.close()
      await esm.close()
    }
  })

  test('bad options reject (never throw), read through own properties only', async () => {
    const base = { queue: 'v', connection: redis.connection, filename: TASKS }
    const p = serve({ ...base, queue: 42 })
    expect(p).toBeInstanceOf(Promise)
    expect((await rejection(p)).code).toBe('ERR_INVALID_ARG_TYPE')
    expect((await rejection(serve(null))).code).toBe('ERR_INVALID_ARG_TYPE')
    expect((await rejection(serve({ ...base, queue: 'a:b' }))).code).toBe('ERR_INVALID_ARG_VALUE')
    expect((await rejection(serve({ ...base, filename: '/no/such/file.js' }))).code).toBe('ERR_INVALID_ARG_VALUE')
    expect((await rejection(serve({ ...base, lockDuration: 5 }))).code).toBe('ERR_INVALID_ARG_VALUE')
    expect((await rejection(serve({ ...base, maxThreads: 0 }))).code).toBe('ERR_OUT_OF_RANGE')
    expect((await rejection(serve({ ...base, route: 'inc' }))).code).toBe('ERR_INVALID_ARG_TYPE')
    // BullMQ's own Worker checks come after its constructor opened a connection (which
    // then leaks): spindle checks those numbers first, with a code.
    for (const worker of [{ maxStalledCount: -1 }, { stalledInterval: 0 }, { drainDelay: -5 }, { concurrency: Infinity }, { maxStartedAttempts: -1 }]) {
      const err = await rejection(serve({ ...base, worker }))
      expect(err.code).toBe('ERR_OUT_OF_RANGE')
      expect(err.message).toContain(Object.keys(worker)[0])
    }
    // An inherited option is not an option.
    const inherited = Object.create({ queue: 'v' })
    Object.assign(inherited, { connection: redis.connection, filename: TASKS })
    expect((await rejection(serve(inherited))).code).toBe('ERR_INVALID_ARG_TYPE')
  })
})

describe('RemotePool', () => {
  test('bad options throw from the constructor; bad run() arguments reject', async () => {
    expect(() => new RemotePool()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    expect(() => new RemotePool({ queue: 'x' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    expect(() => new RemotePool({ queue: 'x', connection: {}, checkInterval: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => new RemotePool({ queue: 'x', connection: {}, nope: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    const proto = Object.create({ connection: redis.connection })
    proto.queue = 'x'
    expect(() => new RemotePool(proto)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    const p = remote.run(1, { signal: 'soon' })
    expect(p).toBeInstanceOf(Promise)
    expect((await rejection(p)).code).toBe('ERR_INVALID_ARG_TYPE')
    expect((await rejection(remote.run(1, { onMessage: 1 }))).code).toBe('ERR_INVALID_ARG_TYPE')
    expect((await rejection(remote.run(1, { job: 'x' }))).code).toBe('ERR_INVALID_ARG_TYPE')
    expect((await rejection(remote.run(1, { name: 1 }))).code).toBe('ERR_INVALID_ARG_TYPE')
    expect((await rejection(remote.run(1, { priority: 1 }))).code).toBe('ERR_INVALID_ARG_VALUE')
  })

  test('options are read once, own properties only', async () => {
    let reads = 0
    const opts = { connection: redis.connection }
    Object.defineProperty(opts, 'queue', { enumerable: true, get: () => (reads++, 'api') })
    const r = new RemotePool(opts)
    try {
      expect(reads).toBe(1)
      expect(await r.run(1, { name: 'inc' })).toBe(2)
    } finally {
      await r.close()
    }
  })

  test('close() waits for pending tasks, destroy() rejects them; then run() rejects', async () => {
    const r = new RemotePool({ queue: 'api', connection: redis.connection })
    const p = r.run({ id: 'c', ms: 30 }, { name: 'work' })
    expect(r.pending).toBe(1)
    await r.close()
    expect((await p).id).toBe('c')
    expect((await rejection(r.run(1))).code).toBe('ERR_SPINDLE_POOL_CLOSED')

    const d = new RemotePool({ queue: 'api', connection: redis.connection })
    const q = rejection(d.run({ id: 'd', ms: 30 }, { name: 'work' }))
    await d.destroy()
    expect((await q).code).toBe('ERR_SPINDLE_POOL_DESTROYED')
    expect(d.pending).toBe(0)
  })
})

describe('the entry', () => {
  const node = (args, extra = {}) => execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', ...extra })

  test("require('spindle') never loads bullmq; require('spindle/bullmq') does", () => {
    const out = JSON.parse(node(['-e', `
      const loaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/bullmq/'))
      const spindle = require('spindle')
      const before = loaded()
      const remote = require('spindle/bullmq')
      console.log(JSON.stringify({ pool: typeof spindle.Pool, before, after: loaded(), serve: typeof remote.serve, RemotePool: typeof remote.RemotePool }))
    `]))
    expect(out).toEqual({ pool: 'function', before: false, after: true, serve: 'function', RemotePool: 'function' })
  })

  test('ESM: named and default imports', () => {
    const out = node(['--input-type=module', '-e', `
      import { serve, RemotePool } from 'spindle/bullmq'
      import remote from 'spindle/bullmq'
      console.log(typeof serve, typeof RemotePool, remote.serve === serve)
    `])
    expect(out.trim()).toBe('function function true')
  })

  test('without bullmq installed it says so, with a code', () => {
    const out = JSON.parse(node(['-e', `
      const Module = require('node:module')
      const resolve = Module._resolveFilename
      Module._resolveFilename = function (request, ...rest) {
        if (request === 'bullmq') {
          const err = new Error("Cannot find module 'bullmq'")
          err.code = 'MODULE_NOT_FOUND'
          throw err
        }
        return resolve.call(this, request, ...rest)
      }
      require('spindle')
      try {
        require('spindle/bullmq')
      } catch (err) {
        console.log(JSON.stringify({ code: err.code, message: err.message }))
      }
    `]))
    expect(out.code).toBe('ERR_SPINDLE_MISSING_PEER')
    expect(out.message).toMatch(/npm install bullmq/)
  })
})
