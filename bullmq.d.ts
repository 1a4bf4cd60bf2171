// spindle/bullmq: the same Pool, served on many machines through BullMQ and
// Redis. `bullmq` (>= 6.7) is a peer dependency of this entry only.

import { EventEmitter } from 'node:events'
import type { ConnectionOptions, Job, JobsOptions, Queue, Worker, WorkerOptions } from 'bullmq'
import type { Pool, PoolOptions } from './index'

/** Options of {@link serve}: where the jobs come from, plus any {@link PoolOptions}. */
export interface ServeOptions<WorkerData = unknown> extends PoolOptions<WorkerData> {
  /** The BullMQ queue to serve (no `:` in the name). */
  queue: string
  /** The Redis connection, as BullMQ takes it: ioredis options or an ioredis instance. */
  connection: ConnectionOptions
  /** BullMQ's key prefix (default `bull`): the same on every machine of the queue. */
  prefix?: string
  /**
   * Options of BullMQ's `Worker` (`lockDuration`, `stalledInterval`, `limiter`...).
   * `concurrency` defaults to the pool's capacity: `maxThreads × concurrentTasksPerWorker`.
   */
  worker?: Omit<WorkerOptions, 'connection' | 'prefix' | 'autorun'>
  /**
   * Which export of `filename` runs a job (return undefined or null for the
   * default export, or the pool's `name`). Default: the job's name, and the
   * default export for jobs named `default` (what `RemotePool.run` without
   * `name` adds).
   */
  route?: (job: Job) => string | null | undefined
}

/** What {@link serve} resolves to. */
export interface Server extends EventEmitter {
  /** The local spindle Pool that runs the jobs (its `stats()` count them). */
  readonly pool: Pool
  /** The BullMQ Worker that takes jobs from the queue (its events are BullMQ's). */
  readonly worker: Worker
  /**
   * Stops taking jobs and waits for the running ones to finish; jobs still
   * waiting stay in Redis for the other machines. Then stops the pool.
   */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
  /** Connection and Redis errors (dropped when nobody listens). */
  on(event: 'error', listener: (err: Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}

/**
 * Serves a queue with a local Pool: a BullMQ Worker whose processor runs each
 * job on the pool's threads; the main thread only does BullMQ's bookkeeping.
 * Resolves once connected. Jobs from {@link RemotePool} carry structured-clone
 * values; jobs added with plain BullMQ (`queue.add(name, data)`) give the task
 * their JSON data, and their return value becomes the job's return value.
 *
 * @example
 * const server = await serve({ queue: 'thumbnails', connection: { host: 'redis', port: 6379 },
 *   filename: require.resolve('./thumbnail-task.js'), worker: { lockDuration: 30_000 } })
 * // ...
 * await server.close()
 */
export function serve<WorkerData = unknown>(options: ServeOptions<WorkerData>): Promise<Server>

/** Options of {@link RemotePool}. */
export interface RemotePoolOptions {
  /** The BullMQ queue the jobs go to (no `:` in the name). */
  queue: string
  /** The Redis connection, as BullMQ takes it. */
  connection: ConnectionOptions
  /** BullMQ's key prefix (default `bull`). */
  prefix?: string
  /**
   * BullMQ job options for every run (each run's `job` overrides them).
   * spindle's defaults: `removeOnComplete: { age: 3600 }`, `removeOnFail: { age: 86400 }`.
   */
  job?: JobsOptions
  /**
   * Milliseconds between looks at the jobs that have been pending that long
   * (default 5000): one whose events were missed settles from Redis, one that
   * is gone rejects with `ERR_SPINDLE_JOB_LOST`.
   */
  checkInterval?: number
}

/** Options of {@link RemotePool.run}. */
export interface RemoteRunOptions {
  /** The task module's export to call; it becomes the job's name (default: `default`, the default export). */
  name?: string
  /**
   * A waiting job is removed; a running one is cancelled on the machine that
   * runs it (BullMQ's cancellation: the processor's AbortSignal, reached
   * through BullMQ's Relay). Either way the promise rejects with `AbortError`.
   */
  signal?: AbortSignal
  /** Receives the task's `ctx.postMessage` messages (job progress), in order, before the promise settles. */
  onMessage?: (message: any) => void
  /** BullMQ job options: `attempts`, `backoff`, `priority`, `delay`, `jobId`... */
  job?: JobsOptions
  /** Accepted for compatibility with `Pool.run`; values are always copied to Redis. */
  transferList?: readonly unknown[]
}

/**
 * Submits tasks to the machines that {@link serve} a queue, with the promise
 * semantics of `Pool.run`: values both ways as structured clones, errors with
 * name, message, stack, `code` and `cause`.
 *
 * @example
 * const remote = new RemotePool({ queue: 'thumbnails', connection: { host: 'redis', port: 6379 } })
 * const png = await remote.run({ image: buf, width: 200 }, { name: 'resize', signal, onMessage })
 * await remote.close()
 */
export class RemotePool<Arg = any, Result = any> extends EventEmitter {
  /** @throws {TypeError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad options. */
  constructor(options: RemotePoolOptions)
  /** Adds a job and resolves to the task's value; rejects (never throws) on bad arguments too. */
  run(arg: Arg, options?: RemoteRunOptions): Promise<Result>
  /** Tasks submitted and not settled yet. */
  readonly pending: number
  /** The BullMQ Queue the jobs are added to. */
  readonly queue: Queue
  /** Waits for every pending task to settle, then closes the connections. */
  close(): Promise<void>
  /** Rejects every pending task (`ERR_SPINDLE_POOL_DESTROYED`; the jobs stay in Redis), then closes. */
  destroy(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
  /** Connection and Redis errors (dropped when nobody listens). */
  on(event: 'error', listener: (err: Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}
