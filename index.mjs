// ESM entry: the same module as index.js.
import spindle from './index.js'

export const { sort, stats, hash, hashMany, configure, internals, AbortError } = spindle
export default spindle

// ─── Reactor: child processes spawned on spindle's reactor thread ─────────
export const { spawn, exec, ChildProcess } = spindle
