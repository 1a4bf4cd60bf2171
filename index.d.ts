/**
 * spindle — offload CPU work and child processes from the Node.js main thread
 * to a Rust work-stealing pool, native kernels on rayon, and a Rust reactor.
 *
 * Every asynchronous result comes back on the event loop through one batched
 * completion path: the loop is woken once per batch of results, not once per
 * result, and the process stays alive exactly while work is outstanding.
 */

import { EventEmitter } from 'node:events'

/** Any numeric TypedArray, BigInt64Array and BigUint64Array included. */
export type NumericTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array

/** Bytes accepted by the hash kernels. Strings are hashed as UTF-8. */
export type BinaryInput = string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer

/** Options every kernel accepts. */
export interface KernelOptions {
  /**
   * Cancels the operation. Already aborted: the promise rejects at once.
   * Aborted while queued: rejects without running. Aborted while running: the
   * kernel stops within a bounded time (milliseconds) and the promise rejects
   * with an {@link AbortError}. An aborted in-place sort leaves a permutation
   * of the original values: nothing lost, nothing invented.
   */
  signal?: AbortSignal
}

/** Digest encodings; `'buffer'` resolves to a Buffer. */
export type HashEncoding = 'hex' | 'base64' | 'base64url' | 'buffer'

/** The hash algorithms; SHA-2 output is identical to `node:crypto`. */
export type HashAlgorithm = 'sha256' | 'sha512' | 'blake3'

export interface HashOptions<E extends HashEncoding = HashEncoding> extends KernelOptions {
  /** Output encoding (default `'hex'`). */
  encoding?: E
}

type Digest<E extends HashEncoding | undefined> = E extends 'buffer' ? Buffer : string

/**
 * Sorts a TypedArray in place, off the main thread, in exactly the order of
 * `TypedArray.prototype.sort()` with no comparator (numeric; `-0` before `+0`;
 * `NaN` last). Resolves to the same array.
 *
 * The array is read and written in place, not copied: changing it while the
 * promise is pending is the caller's race, as with Node's asynchronous zlib;
 * detaching (transferring) its buffer meanwhile can crash the process. Until
 * the promise settles the array holds intermediate values (the sort works on
 * an encoded form of the elements in place), so do not read it, or pass it to
 * another kernel, before then.
 *
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `array` is not a TypedArray;
 *   `ERR_INVALID_ARG_VALUE` if its buffer is detached or a resizable
 *   (non-shared) ArrayBuffer, which could shrink under the running kernel.
 *
 * @example
 * const big = new Float64Array(10_000_000).map(Math.random)
 * await spindle.sort(big)
 */
export function sort<T extends NumericTypedArray>(array: T, options?: KernelOptions): Promise<T>

/** The summary that {@link stats} resolves to. */
export interface Stats<N extends number | bigint = number> {
  /** Number of elements. */
  count: number
  /** Compensated (Neumaier) sum; exact BigInt for BigInt64Array/BigUint64Array. */
  sum: N
  /** Smallest element (NaN if empty or if any element is NaN). */
  min: N | number
  /** Largest element (NaN if empty or if any element is NaN). */
  max: N | number
  /** Arithmetic mean (NaN if empty). */
  mean: number
  /** Population variance, divided by `count` (NaN if empty). */
  variance: number
}

/**
 * Computes count, sum, min, max, mean and variance in one parallel pass. The
 * result is identical whatever the thread count. NaN in the input makes every
 * floating-point field NaN.
 */
export function stats(array: BigInt64Array | BigUint64Array, options?: KernelOptions): Promise<Stats<bigint>>
export function stats(array: NumericTypedArray, options?: KernelOptions): Promise<Stats<number>>

/**
 * Hashes `data`. SHA-256 and SHA-512 match `crypto.createHash`; BLAKE3 matches
 * the published test vectors and uses every kernel thread on one large input.
 * Inputs are read in place, not copied (strings are encoded as UTF-8 first).
 *
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for an unsupported input;
 *   `ERR_INVALID_ARG_VALUE` for an unknown algorithm or encoding, or for
 *   input backed by a detached or resizable (non-shared) ArrayBuffer.
 */
export function hash(data: BinaryInput, algorithm: HashAlgorithm): Promise<string>
export function hash<E extends HashEncoding | undefined = undefined>(
  data: BinaryInput,
  algorithm: HashAlgorithm,
  options: HashOptions<E & HashEncoding>,
): Promise<Digest<E>>

/** Hashes many inputs in parallel; digests in input order. */
export function hashMany(list: readonly BinaryInput[], algorithm: HashAlgorithm): Promise<string[]>
export function hashMany<E extends HashEncoding | undefined = undefined>(
  list: readonly BinaryInput[],
  algorithm: HashAlgorithm,
  options: HashOptions<E & HashEncoding>,
): Promise<Digest<E>[]>

export interface ConfigureOptions {
  /**
   * Kernel pool size, 1–1024. Defaults to the `SPINDLE_THREADS` environment
   * variable, else the available parallelism. Kernels already running finish
   * on the old pool.
   */
  threads?: number
}

/** Sets the kernel pool size; returns the configuration now in force. */
export function configure(options: ConfigureOptions): { threads: number }

/** Counters of the completion path, for tests and benchmarks. */
export interface Internals {
  /** Completions delivered to this JavaScript environment. */
  completions: number
  /** Times this environment's event loop was woken (one per batch). */
  wakes: number
  /** Native operations still registered as running or queued. */
  inflight: number
  /** Operations this environment is waiting for (keeps the loop alive while > 0). */
  outstanding: number
  /** Kernel pool size. */
  threads: number
}

/** Counters of the completion path, for tests and benchmarks. */
export function internals(): Internals

/** The error an aborted operation rejects with: `name: 'AbortError'`, `code: 'ABORT_ERR'`. */
export class AbortError extends Error {
  readonly code: 'ABORT_ERR'
  constructor(message?: string, options?: { cause?: unknown })
}

// ───────────────────────────── Pool ─────────────────────────────

/** Options of {@link Pool}. */
export interface PoolOptions<WorkerData = unknown> {
  /**
   * Absolute path (or `file:` URL) of the worker module: CommonJS or ESM. Its
   * default export (or `module.exports` itself) runs tasks; other exports are
   * chosen with `name`.
   */
  filename: string | URL
  /** Default export name for `run` (default: the default export). */
  name?: string
  /** Workers kept even when idle (default: `maxThreads`). */
  minThreads?: number
  /** Most workers (default: the available parallelism). */
  maxThreads?: number
  /** Milliseconds an idle worker above `minThreads` lives (default: Infinity). */
  idleTimeout?: number
  /**
   * Tasks that may wait for a free worker (default: Infinity). Beyond it
   * `run` rejects with `ERR_SPINDLE_QUEUE_FULL`; `'drain'` says when there is room.
   */
  maxQueue?: number
  /** Async tasks one worker runs at once (default 1). */
  concurrentTasksPerWorker?: number
  /** Passed to each `Worker`. */
  resourceLimits?: import('node:worker_threads').ResourceLimits
  /** Passed to each `Worker`. */
  env?: NodeJS.ProcessEnv | typeof import('node:worker_threads').SHARE_ENV
  /** Passed to each `Worker`. */
  argv?: unknown[]
  /** Passed to each `Worker`. */
  execArgv?: string[]
  /** Available inside workers as `require('spindle').workerData`. */
  workerData?: WorkerData
  /**
   * Microseconds an idle worker waits in native code for more work before it
   * parks and returns to its event loop (default 1000). Larger values lower
   * the latency of sparse tasks; idle workers never spin either way.
   */
  waitMicros?: number
}

/** Options of {@link Pool.run}. */
export interface RunOptions {
  /** The worker module's export to call (default: the pool's `name`, else the default export). */
  name?: string
  /**
   * Queued: the task is removed and rejects with an {@link AbortError}.
   * Running: the promise rejects at once and the task's worker is replaced.
   */
  signal?: AbortSignal
  /** ArrayBuffers the sender gives up, as with `postMessage`. */
  transferList?: readonly (ArrayBuffer | import('node:worker_threads').TransferListItem)[]
}

/** Counters of a {@link Pool}. */
export interface PoolStats {
  /** Live worker threads. */
  threads: number
  /** Tasks waiting in the scheduler's queues. */
  queued: number
  /** Tasks running on a worker. */
  running: number
  /** Tasks that resolved. */
  completed: number
  /** Tasks that rejected (threw, or their worker died). */
  failed: number
  /** Tasks a worker stole from another worker's deque. */
  stolen: number
  /** `stolen`, per worker slot. */
  stolenByWorker: number[]
  /** Promises not yet settled. */
  pending: number
}

/**
 * Runs the program's own JavaScript functions on worker threads. Which worker
 * runs which task is decided by a Rust work-stealing scheduler: no message is
 * posted from the main thread per task, and results come back in batches.
 *
 * Arguments and results have structured-clone semantics. Task errors keep
 * their name, message, stack, `cause` and own properties such as `code`.
 * An idle pool does not keep the process alive.
 *
 * @example
 * const pool = new Pool({ filename: path.resolve(__dirname, 'worker.js') })
 * const sum = await pool.run({ a: 4, b: 6 })
 */
export class Pool<Arg = any, Result = any> extends EventEmitter {
  /**
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad
   *   options or a missing file; {@link RangeError} `ERR_OUT_OF_RANGE` for bad numbers.
   */
  constructor(options: PoolOptions)
  /** Runs a task; resolves to what the worker function returned (or resolved to). */
  run(arg: Arg, options?: RunOptions): Promise<Result>
  /** Counters. */
  stats(): PoolStats
  /** The live `Worker` objects. */
  readonly threads: import('node:worker_threads').Worker[]
  /** Finishes queued and running tasks, then stops the workers. */
  close(): Promise<void>
  /** Rejects everything pending (`ERR_SPINDLE_POOL_DESTROYED`) and stops at once. */
  destroy(): Promise<void>
  /** `await using pool = new Pool(...)` closes it. */
  [Symbol.asyncDispose](): Promise<void>
  on(event: 'drain', listener: () => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}

/** Inside a pool worker: the `workerData` given to the Pool's constructor. */
export const workerData: unknown
