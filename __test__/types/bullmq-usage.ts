// Compiled with `tsc --noEmit` against bullmq.d.ts by `npm test`.
import { serve, RemotePool, Server, ServeOptions, RemoteRunOptions } from '../../bullmq'

async function remoteUsage(): Promise<void> {
  const options: ServeOptions<{ scale: number }> = {
    queue: 'thumbnails',
    connection: { host: '127.0.0.1', port: 6379 },
    filename: __filename,
    maxThreads: 2,
    workerData: { scale: 2 },
    worker: { lockDuration: 30_000, concurrency: 4 },
    route: (job) => (job.name === 'x' ? null : job.name),
  }
  const server: Server = await serve(options)
  server.on('error', (err: Error) => void err.message)
  const done: number = server.pool.stats().completed
  const paused: boolean = server.worker.isPaused()

  const remote = new RemotePool<{ image: Buffer; width: number }, Buffer>({
    queue: 'thumbnails',
    connection: { host: '127.0.0.1', port: 6379 },
    job: { removeOnComplete: true },
    checkInterval: 1000,
  })
  const ac = new AbortController()
  const run: RemoteRunOptions = {
    name: 'resize',
    signal: ac.signal,
    onMessage: (m: unknown) => void m,
    job: { attempts: 3, backoff: { type: 'exponential', delay: 100 }, priority: 1, delay: 10, jobId: 'a' },
  }
  const png: Buffer = await remote.run({ image: Buffer.alloc(1), width: 200 }, run)
  const pending: number = remote.pending
  const waiting: number = await remote.queue.getWaitingCount()
  await remote.close()
  await remote.destroy()
  await remote[Symbol.asyncDispose]()
  await server.close()
  await server[Symbol.asyncDispose]()
  // @ts-expect-error: the queue is required
  void new RemotePool({ connection: {} })
  // @ts-expect-error: run resolves to the Result type
  const wrong: string = await remote.run({ image: Buffer.alloc(1), width: 1 })
  void [done, paused, png, pending, waiting, wrong]
}
void remoteUsage
