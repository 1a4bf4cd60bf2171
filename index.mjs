// ESM entry: the same module as index.js.
import spindle from './index.js'

export const { sort, stats, hash, hashMany, configure, internals, AbortError, Pool } = spindle
export const { spawn, exec, ChildProcess } = spindle
export const workerData = spindle.workerData
export default spindle
