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
 * `NaN` last). Resolves to the same array. Every element keeps its bits, NaN
 * sign and payload included, as with V8's sort (the order among NaNs is
 * unspecified there and here).
 *
 * Memory (see "Inputs and memory safety" in the README): an array of at most
 * 64 KiB is copied at the call and the sorted copy written back when the sort
 * completes. A larger one is sorted in place: until the promise settles it
 * holds intermediate values; writing to it meanwhile may scramble the result
 * but never sends a write outside it; sorts of overlapping memory run one
 * after the other, in call order. Detaching its buffer while the promise is
 * pending rejects the promise with `ERR_INVALID_STATE` — and is undefined
 * behaviour (a use-after-free) for a larger array if the memory's new owner
 * is garbage-collected before the sort ends.
 *
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `array` is not a TypedArray;
 *   `ERR_INVALID_ARG_VALUE` if its buffer is detached or a resizable
 *   (non-shared) ArrayBuffer, which could shrink under the running kernel
 *   (checked on the real buffer, not on properties that can be overridden).
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
 * Inputs of at most 64 KiB (in all, for `hashMany`) are copied at the call;
 * larger ones are read in place, with the guarantees of {@link sort} (a
 * detach while pending rejects with `ERR_INVALID_STATE`, and is a
 * use-after-free if the memory's new owner is collected before the end).
 * Strings are encoded as UTF-8 first. The same holds for {@link stats}.
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
   * variable, else the available parallelism. `SPINDLE_THREADS` above 1024 is
   * clamped to 1024; one that is not a positive integer is ignored; either
   * emits a process warning with code `'SPINDLE_THREADS'`. Kernels already
   * running finish on the old pool.
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
  /** The most kernel threads (`configure` and `SPINDLE_THREADS`): 1024. */
  maxThreads: number
  /** Kernel inputs of at most this many bytes are copied at the call: 65536. */
  copyMax: number
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
   * chosen with `name`. Optional (as in piscina): a pool without one needs
   * `filename` in every `run()`.
   */
  filename?: string | URL | null
  /** Default export name for `run` (default: the default export). */
  name?: string
  /** Workers kept even when idle (default: `maxThreads`). */
  minThreads?: number
  /**
   * Most workers (default: the available parallelism, raised to `minThreads`
   * if that is larger, as piscina does; an explicit value below `minThreads`
   * is `ERR_OUT_OF_RANGE`).
   */
  maxThreads?: number
  /**
   * Milliseconds an idle worker above `minThreads` lives (default: Infinity).
   * Values of 2^31 ms or more are clamped to 2^31 - 1 (about 24.8 days), the
   * longest delay a Node timer honours.
   */
  idleTimeout?: number
  /**
   * Milliseconds `close()` waits for pending tasks before it rejects them with
   * `ERR_SPINDLE_CLOSE_TIMEOUT` (default: Infinity; piscina's is 30000).
   * Clamped like `idleTimeout`.
   */
  closeTimeout?: number
  /**
   * Tasks that may wait for a free worker (default: Infinity). Beyond it
   * `run` rejects with `ERR_SPINDLE_QUEUE_FULL`. `'needsDrain'` fires when a
   * new task would be refused, `'drain'` when it would be accepted again, and
   * `needsDrain` tells which state the pool is in. `'auto'`: `maxThreads²`.
   */
  maxQueue?: number | 'auto'
  /** Async tasks one worker runs at once (default 1). */
  concurrentTasksPerWorker?: number
  /**
   * Passed to each `Worker`. Each value must be finite and at least 0
   * (`stackSizeMb` at most 1024, the others at most 10^9), else `ERR_OUT_OF_RANGE`:
   * larger ones make V8 abort the process when a worker starts.
   */
  resourceLimits?: import('node:worker_threads').ResourceLimits
  /**
   * Passed to each `Worker` (own enumerable properties, read once, values as
   * strings), or `SHARE_ENV`: workers share the parent's environment.
   */
  env?: NodeJS.ProcessEnv | typeof import('node:worker_threads').SHARE_ENV
  /** Passed to each `Worker`. */
  argv?: unknown[]
  /** Passed to each `Worker`. */
  execArgv?: string[]
  /**
   * Available inside workers as `require('spindle').workerData`. Checked
   * once at construction: uncloneable data throws `ERR_SPINDLE_UNCLONEABLE`.
   */
  workerData?: WorkerData
  /**
   * Microseconds a worker that just finished a task keeps polling for the
   * next one before it sleeps (default 50, or `SPINDLE_SPIN_MICROS`): waking
   * a sleeping thread costs tens of microseconds on virtual machines. Only
   * after a task; an idle pool never spins.
   */
  spinMicros?: number
  /**
   * Microseconds an idle worker then waits in native code (no spinning) for
   * more work before it parks and returns to its event loop (default 1000).
   */
  waitMicros?: number
  /**
   * Microseconds the calling thread polls for results instead of sleeping
   * until woken, after submitting to a pool whose recent tasks came back that
   * fast and that has no backlog (default 100; 0: never poll). The loop keeps
   * turning meanwhile (timers and I/O run), at the cost of that thread's CPU.
   */
  pollMicros?: number
  /**
   * While a backlog waits (more pending tasks than worker slots, and recent
   * results took 5 ms or more to come back), results are collected on a 1 ms
   * timer tick for this many microseconds after each
   * batch instead of waking the calling thread per result (default 2000;
   * 0: always wake). A result then waits at most one tick.
   */
  coalesceMicros?: number
}

/** Options of {@link Pool.run} (own properties only, each read once). */
export interface RunOptions {
  /**
   * The worker module's export to call (default: the pool's `name`, else the
   * default export). Only the module's own exported functions: an inherited
   * name (`'constructor'`, `'toString'`, ...) or a missing one rejects with
   * `ERR_SPINDLE_UNKNOWN_EXPORT`.
   */
  name?: string
  /** A worker module for this task (loaded once per worker), instead of the pool's `filename`. */
  filename?: string | URL
  /**
   * Queued: the task is removed and rejects with an {@link AbortError}.
   * Running: the promise rejects at once and the task's worker is replaced.
   * An AbortSignal, or (as piscina accepts) an EventEmitter that emits `'abort'`.
   */
  signal?: AbortSignal | { once(event: 'abort', listener: (...args: any[]) => void): unknown; removeListener(event: 'abort', listener: (...args: any[]) => void): unknown }
  /** ArrayBuffers the sender gives up, as with `postMessage`. */
  transferList?: readonly (ArrayBuffer | import('node:worker_threads').TransferListItem)[]
  /**
   * Receives the task's progress messages (`ctx.postMessage` in the worker),
   * in order, before the promise settles, in the caller's async context.
   */
  onMessage?: (message: any) => void
}

/** Options of {@link Pool.map} and {@link Pool.imap} (own properties only, each read once). */
export interface MapOptions {
  /** The worker module's export to call on each item (as {@link RunOptions.name}). */
  name?: string
  /** A worker module for these tasks, instead of the pool's `filename`. */
  filename?: string | URL
  /** Aborts every chunk in flight; the call rejects with an {@link AbortError}. */
  signal?: AbortSignal
  /**
   * Items per chunk (one task crossing threads). Default: chosen from the
   * measured time per item, so that a chunk keeps a worker busy about 2 ms
   * while at least 4 chunks per worker slot remain. At most 65,536.
   */
  chunkSize?: number
  /** Results in input order (default), or in the order they finish (`false`). */
  ordered?: boolean
  /** Most chunks in flight at once (default: twice the pool's worker slots). */
  concurrency?: number
}

/**
 * The rejection of {@link Pool.map} / {@link Pool.imap} when an item fails:
 * the task's own error with `index`, the item's position in the input. An
 * error that cannot take a property (frozen, or not an object) is wrapped:
 * `code: 'ERR_SPINDLE_MAP_ITEM_FAILED'`, `index`, and the thrown value as `cause`.
 */
export interface MapItemError extends Error {
  index: number
  code?: string
}

/**
 * What a task function receives as its second argument (and what
 * `require('spindle').current` returns while it runs).
 *
 * @example
 * // worker.js: a parallel sum that forks subtasks
 * module.exports = async function sum({ arr, lo, hi }, ctx) {
 *   if (hi - lo < 10_000) { let s = 0; for (let i = lo; i < hi; i++) s += arr[i]; return s }
 *   const mid = (lo + hi) >> 1
 *   const [a, b] = await Promise.all([ctx.run({ arr, lo, hi: mid }), ctx.run({ arr, lo: mid, hi })])
 *   return a + b
 * }
 */
export interface TaskContext {
  /** Sends a message to the caller's `onMessage`; false once the task has finished. */
  postMessage(message: unknown): boolean
  /**
   * Runs a subtask on the same pool. It goes onto this worker's own deque
   * (newest first for this worker; idle workers steal the oldest). While any
   * subtask is pending, this task frees its concurrency slot, so a worker
   * that awaits its children keeps running other tasks — its children first.
   * A subtask given a `signal` runs on another worker (in a pool of more than
   * one thread), so that its abort can fire while it runs: the promise then
   * rejects at once and the worker running it is replaced.
   */
  run<R = any>(arg: unknown, options?: { name?: string; signal?: AbortSignal }): Promise<R>
}

/** Percentiles of a latency distribution, in microseconds. */
export interface LatencyStats {
  p50: number
  p90: number
  p99: number
  max: number
  /** Samples recorded. */
  count: number
}

/** A latency summary in piscina's shape, in milliseconds. */
export interface HistogramSummary {
  average: number
  mean: number
  stddev: number
  min: number
  max: number
  p0_001: number
  p0_01: number
  p0_1: number
  p1: number
  p2_5: number
  p10: number
  p25: number
  p50: number
  p75: number
  p90: number
  p97_5: number
  p99: number
  p99_9: number
  p99_99: number
  p99_999: number
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
  /** Time from submission until a worker started the task. */
  waitTime: LatencyStats
  /** Time from start to result (for a task that awaits subtasks, including the wait). */
  runTime: LatencyStats
  /** Busy time ÷ (threads × elapsed) over the pool's life, at most 1. */
  utilization: number
  /**
   * Bytes of arguments, results and progress messages copied between threads
   * (a binary value — top-level, or nested and at least 64 KiB — is copied
   * exactly once per direction, so a 16 MiB echo adds 32 MiB).
   */
  bytesCopied: number
  /**
   * The adaptive spin: after a task, a worker spins briefly for the next one
   * (up to `spinMicros`) instead of sleeping. It spins less after spins that
   * found nothing: when most spins come up empty (tasks arrive seldom, or
   * the machine is busy and the spinner holds a CPU its submitter needs), or
   * (on Linux) when other processes keep every core busy, the pool stops
   * spinning, and stops polling for results, for a while (2–250 ms).
   */
  spin: {
    /** Spins after a task. */
    spins: number
    /** Spins that found a task. */
    found: number
    /** Times the pool stopped spinning and polling (spins came up empty, or other processes kept every core busy). */
    holds: number
    /** Whether it has stopped now. */
    held: boolean
  }
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
  constructor(options?: PoolOptions)
  /**
   * Runs a task; resolves to what the worker function returned (or resolved
   * to). Every failure rejects, bad options included (with their code).
   * Values that cannot be cloned (functions, Symbols, Proxies, WeakMaps,
   * detached buffers, nesting too deep) reject with `ERR_SPINDLE_UNCLONEABLE`
   * before the task is queued; so does a bad `transferList` (duplicate or
   * detached entries: `ERR_INVALID_ARG_VALUE`). A worker that cannot start
   * (its module calls `process.exit()` while loading, `resourceLimits` too
   * small, descriptors exhausted) is tried again with exponential backoff a
   * bounded number of times, then the tasks waiting for it reject with
   * `ERR_SPINDLE_WORKER_START_FAILED` (the cause attached).
   */
  run(arg: Arg, options?: RunOptions): Promise<Result>
  /**
   * Runs the task on every item and resolves to the results, in input order
   * (`ordered: false`: in the order they finish). Items cross threads in
   * chunks (one task each), so a million tiny items cost a few hundred
   * tasks. The first failing item rejects the call (a {@link MapItemError}
   * with its `index`) and stops the rest; so does `signal`.
   *
   * @example
   * const thumbs = await pool.map(images, { name: 'resize' })
   */
  map(items: Iterable<Arg>, options?: MapOptions): Promise<Result[]>
  /**
   * As {@link Pool.map} for an input of any length, sync or async: yields
   * the results as they are ready (in input order unless `ordered: false`).
   * The input is read only as far as the consumer keeps up (a bounded
   * number of results wait, a bounded number of chunks run); breaking out
   * of the loop stops the chunks in flight.
   *
   * @example
   * for await (const row of pool.imap(readRows(file), { name: 'parse' })) write(row)
   */
  imap(items: Iterable<Arg> | AsyncIterable<Arg>, options?: MapOptions): AsyncIterableIterator<Result>
  /** Counters. */
  stats(): PoolStats
  /** The live `Worker` objects. */
  readonly threads: import('node:worker_threads').Worker[]
  /** How many live workers are running no task now (piscina's `idleThreads`). */
  readonly idleThreads: number
  /**
   * Finishes queued and running tasks, then stops the workers. `force`:
   * queued tasks reject with `ERR_SPINDLE_POOL_CLOSED`, only running ones
   * are waited for. Emits `'close'` when done.
   */
  close(options?: { force?: boolean }): Promise<void>
  /** Rejects everything pending (`ERR_SPINDLE_POOL_DESTROYED`) and stops at once. */
  destroy(): Promise<void>
  /** `await using pool = new Pool(...)` closes it. */
  [Symbol.asyncDispose](): Promise<void>
  /** Starts `close()` (as piscina's does). */
  [Symbol.dispose](): void
  /** The options in effect, normalized and frozen. */
  readonly options: Readonly<Record<string, unknown>>
  readonly minThreads: number
  readonly maxThreads: number
  /** Pending tasks beyond workers × `concurrentTasksPerWorker`, exact right after `run()`. */
  readonly queueSize: number
  /** Tasks settled so far. */
  readonly completed: number
  /** Milliseconds since the pool was created. */
  readonly duration: number
  /** piscina's utilization: total run time ÷ (duration × maxThreads). */
  readonly utilization: number
  /** Whether a new task would be refused now (`maxQueue` reached). */
  readonly needsDrain: boolean
  /** Run-time summary in milliseconds, in piscina's shape. */
  readonly runTime: HistogramSummary
  /** Wait-time summary in milliseconds, in piscina's shape. */
  readonly waitTime: HistogramSummary
  /** piscina's `histogram`. */
  readonly histogram: {
    readonly runTime: HistogramSummary
    readonly waitTime: HistogramSummary
    resetRunTime(): void
    resetWaitTime(): void
  }
  on(event: 'drain' | 'needsDrain' | 'close', listener: () => void): this
  on(event: 'workerCreate' | 'workerDestroy', listener: (worker: import('node:worker_threads').Worker) => void): this
  /** A worker's own `parentPort.postMessage()`. */
  on(event: 'message', listener: (message: any) => void): this
  /** A worker that failed outside any task (dying while idle); emitted only while a listener is attached. */
  on(event: 'error', listener: (err: Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}

/** Inside a pool worker: the `workerData` given to the Pool's constructor. */
export const workerData: unknown

/** Inside a pool task: its {@link TaskContext}; `null` elsewhere. */
export const current: TaskContext | null
// ─── Reactor: child processes spawned on spindle's reactor thread ─────────

/** How one standard stream of a child is set up (these run on spindle's reactor). */
export type StdioMode = 'pipe' | 'inherit' | 'ignore'
/**
 * Every other `stdio` entry of `child_process.spawn`: `'ipc'`, `'overlapped'`, a descriptor
 * number, a stream that has a descriptor. A spawn with any of them is handed to
 * `node:child_process` (see {@link spawn}).
 */
export type StdioOther = 'ipc' | 'overlapped' | number | import('node:stream').Stream

/**
 * Options of {@link spawn}; the same meanings as in `child_process.spawn`.
 * Only the object's own properties count, each read once: an option
 * inherited from `Object.prototype` (prototype pollution) is ignored.
 */
export interface SpawnOptions {
  /**
   * Working directory of the child (string, Buffer or `file:` URL; `''` is
   * this process's own). One that is a file throws `ENOTDIR` from `spawn()`,
   * as child_process does; a missing one is an `'error'` (`ENOENT`).
   */
  cwd?: string | URL | Buffer
  /**
   * The child's whole environment (default `process.env`). The program is
   * searched in *this* environment's `PATH` (`/usr/bin:/bin` without one);
   * a relative entry is resolved in the child's `cwd`, as child_process does.
   * Inherited keys count, as with child_process (`Object.create(process.env)`
   * works), except those inherited from `Object.prototype` itself: there
   * they can only be prototype pollution (a polluted `NODE_OPTIONS` would
   * run code in the child). A value that cannot become a string (a Symbol)
   * throws `ERR_INVALID_ARG_TYPE`.
   */
  env?: NodeJS.ProcessEnv | Record<string, string | undefined>
  /**
   * `'pipe'` (default), `'inherit'`, `'ignore'`, or one per descriptor:
   * `[stdin, stdout, stderr, ...extra]`. Entries beyond `'pipe'`/`'inherit'`/
   * `'ignore'`/`null` and a stream's own index, or more than three entries,
   * go to `node:child_process`.
   */
  stdio?: StdioMode | 'overlapped' | Array<StdioMode | StdioOther | null | undefined>
  /** Run as this user / group id (handed to `node:child_process`: `posix_spawn` cannot). */
  uid?: number
  gid?: number
  /** With an `'ipc'` entry: `'json'` (default) or `'advanced'` (handed to `node:child_process`). */
  serialization?: 'json' | 'advanced'
  /** Windows only, as in `child_process`. */
  windowsHide?: boolean
  windowsVerbatimArguments?: boolean
  /** Start the child in a new session and process group (`setsid`), as Node does. */
  detached?: boolean
  /** Aborting kills the child with `killSignal` and emits an `AbortError` as `'error'`. */
  signal?: AbortSignal
  /**
   * Kill the child with `killSignal` after this many milliseconds. Any
   * unsigned integer, honoured exactly: 2^31 ms or more waits that long
   * (child_process kills after 1 ms then, with a TimeoutOverflowWarning).
   * A bad value throws the error the running Node's child_process throws.
   */
  timeout?: number
  /** The signal for `timeout` and `signal` (default `'SIGTERM'`). */
  killSignal?: NodeJS.Signals | number
  /** Run through a shell: `true` is `/bin/sh -c`, a string names the shell. Off by default. */
  shell?: boolean | string
  /** `argv[0]` seen by the child (default: the command). */
  argv0?: string
}

/**
 * A running (or finished) child, compatible with Node's `ChildProcess`:
 * events `'spawn'`, `'exit'` (code, signal), `'close'` (code, signal) and
 * `'error'`; `stdout`/`stderr` are Readable and `stdin` Writable streams,
 * with backpressure in both directions (a child whose output is not read
 * blocks on a full pipe; `stdin.write()` returns false while the pipe is full).
 *
 * `'exit'` fires when the process ends, even if a grandchild still holds its
 * stdout; `'close'` after `'exit'` and after stdout and stderr have ended.
 * As with Node, `pid` is set when `spawn()` returns (the process exists;
 * `'spawn'` follows once it has exec'd).
 */
export interface ChildProcess extends NodeJS.EventEmitter {
  /** The process id, set when `spawn()` returns; `undefined` if it never started. */
  readonly pid: number | undefined
  /** Exit code once exited (negative errno after a failed spawn), else `null`. */
  readonly exitCode: number | null
  /** The signal that ended it (e.g. `'SIGTERM'`), else `null`. */
  readonly signalCode: NodeJS.Signals | null
  /** Whether `kill()` has successfully sent a signal. */
  readonly killed: boolean
  readonly spawnfile: string
  /** The full argv, `argv[0]` first. */
  readonly spawnargs: string[]
  /**
   * `null` unless stdin is `'pipe'`; `undefined` (with stdout, stderr and
   * stdio) when the spawn ran out of descriptors (EMFILE), as with
   * child_process. Writing after the child closed its stdin emits EPIPE as `'error'`.
   */
  readonly stdin: ChildStdin | null | undefined
  readonly stdout: ChildOutput | null | undefined
  readonly stderr: ChildOutput | null | undefined
  readonly stdio: [ChildStdin | null, ChildOutput | null, ChildOutput | null] | undefined
  /**
   * Sends a signal (default `'SIGTERM'`; names or numbers) through the
   * child's pidfd, so it can never reach a process that reused the pid.
   * Returns `false` once the child has exited.
   * @throws {TypeError} `ERR_UNKNOWN_SIGNAL`
   */
  kill(signal?: NodeJS.Signals | number): boolean
  /** Signals the child's whole process group if it leads one (`detached`), else the child. */
  killGroup(signal?: NodeJS.Signals | number): boolean
  /** Keep the event loop alive until the child closes (the default). */
  ref(): void
  /**
   * Let the process exit while the child runs. As with child_process, open
   * piped output streams (and stdin writes not yet flushed) still keep it
   * alive until they close, unless they are `unref()`'d themselves.
   */
  unref(): void
  /** Kills the child (SIGTERM) unless it was already killed, as child_process does. */
  [Symbol.dispose](): void

  on(event: 'spawn', listener: () => void): this
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this
  on(event: 'error', listener: (err: SpawnError | Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'spawn', listener: () => void): this
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this
  once(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this
  once(event: 'error', listener: (err: SpawnError | Error) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

/**
 * The socket-like methods of a child's piped streams, as on the `net.Socket`s
 * child_process gives: `ref`/`unref` (whether the open stream keeps the event
 * loop alive), `setNoDelay`/`setKeepAlive` (no-ops on a Unix socket),
 * `destroySoon` (end, then destroy once flushed).
 */
export interface ChildStreamSocketMethods {
  ref(): this
  unref(): this
  setNoDelay(noDelay?: boolean): this
  setKeepAlive(enable?: boolean, initialDelay?: number): this
  destroySoon(): void
}
/** A child's stdin: `readable` is `false`, as on child_process's socket. */
export type ChildStdin = import('node:stream').Writable & ChildStreamSocketMethods & { readonly readable: false }
/** A child's stdout or stderr. */
export type ChildOutput = import('node:stream').Readable & ChildStreamSocketMethods

/** The `'error'` of a spawn that failed, shaped as in `child_process`. */
export interface SpawnError extends Error {
  /** `'ENOENT'`, `'EACCES'`, … */
  code: string
  /** Negative errno, e.g. -2. */
  errno: number
  /** `'spawn <command>'` */
  syscall: string
  /** The command as given. */
  path: string
  /** The arguments, without `argv[0]`. */
  spawnargs: string[]
}

/**
 * Starts `command` on spindle's reactor: `posix_spawn` runs on a helper
 * thread, pipes are drained on the reactor thread, and every event reaches
 * this thread through the batched completion path — this thread never forks
 * and never waits for a child to start. What the
 * reactor cannot do — `'ipc'` and the other {@link StdioOther} entries,
 * `uid`/`gid`, platforms other than Linux, or everything under
 * `SPINDLE_REACTOR=node` — is handed to `node:child_process`, and the
 * child is then its `ChildProcess` (plus `killGroup`).
 *
 * @example
 * const child = spawn('ls', ['-lh', '/usr'])
 * child.stdout.on('data', (data) => console.log(`stdout: ${data}`))
 * child.on('close', (code) => console.log(`exited with code ${code}`))
 *
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad
 *   arguments (synchronously); a missing or non-executable program is an
 *   `'error'` event (`ENOENT`, `EACCES`; `EMFILE` with no streams) followed
 *   by `'close'`; other spawn failures (a `cwd` that is a file: `ENOTDIR`)
 *   are thrown, as by child_process.
 */
export function spawn(command: string, options?: SpawnOptions): ChildProcess
export function spawn(command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess

/** Options of {@link exec}. */
export interface ExecOptions<E extends 'buffer' | BufferEncoding = 'buffer' | BufferEncoding>
  extends Omit<SpawnOptions, 'stdio' | 'timeout' | 'serialization' | 'windowsHide' | 'windowsVerbatimArguments'> {
  /** Fed to stdin, which is then closed. Without it stdin is `/dev/null`. */
  input?: string | ArrayBufferView
  /** `'utf8'` (default) or any Buffer encoding, decoded across chunk boundaries; `'buffer'` for Buffers. */
  encoding?: E
  /**
   * Most bytes kept per stream (default 100 MiB). Beyond it the output is
   * cut at the limit, the child is killed and the promise rejects with
   * `code: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER'`.
   */
  maxBuffer?: number
  /**
   * Kill with `killSignal` after this many ms; rejects with `code:
   * 'ERR_SPINDLE_EXEC_TIMEOUT'`, `timedOut: true`. An integer from 0 to
   * `Number.MAX_SAFE_INTEGER` (else `ERR_OUT_OF_RANGE`), honoured exactly,
   * also at 2^31 ms and beyond (never shortened to 1 ms).
   */
  timeout?: number
  /**
   * After `killSignal`, send SIGKILL if the child is still running this many
   * ms later (default 5000; `false` never). The same range as `timeout`.
   */
  forceKillAfter?: number | false
  /**
   * Signal the child's whole process group (it gets one of its own), so a
   * shell's children die too. The group is signalled while its leader (the
   * child) has not been reaped: a reaped leader's group id could be reused.
   */
  killTree?: boolean
  /** Merge `env` over `process.env` (default `true`); `false` uses `env` alone. */
  extendEnv?: boolean
  /** `false`: resolve (with `failed: true`) instead of rejecting. */
  reject?: boolean
}

/** What {@link exec} resolves to. */
export interface ExecResult<T extends string | Buffer = string> {
  /** The command line, for messages: file and arguments joined by spaces. */
  command: string
  /** The exit code, or `null` if a signal ended it or it never started. */
  exitCode: number | null
  /** The signal that ended it, else `null`. */
  signal: NodeJS.Signals | null
  stdout: T
  stderr: T
  /** Wall time from spawn to close. */
  durationMs: number
  /** Killed because `timeout` elapsed. */
  timedOut: boolean
  /** Non-zero exit, signal, spawn error, timeout, maxBuffer or abort (only seen with `reject: false`). */
  failed: boolean
}

/** The rejection of {@link exec}: the cause, carrying every {@link ExecResult} field. */
export type ExecError<T extends string | Buffer = string> = Error & ExecResult<T> & { code?: string }

/**
 * Runs `file` to completion and resolves with its output. Rejects on a
 * non-zero exit, a signal, a spawn error (`ENOENT`…), `timeout`, `maxBuffer`
 * or abort, with an error carrying the same fields (`reject: false` resolves).
 *
 * @example
 * const { stdout, exitCode } = await exec('git', ['status', '--short'], { cwd, timeout: 5000 })
 */
export function exec(file: string, options: ExecOptions<'buffer'> & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>
export function exec(file: string, args: readonly string[], options: ExecOptions<'buffer'> & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>
export function exec(file: string, options?: ExecOptions<BufferEncoding>): Promise<ExecResult<string>>
export function exec(file: string, args?: readonly string[], options?: ExecOptions<BufferEncoding>): Promise<ExecResult<string>>
