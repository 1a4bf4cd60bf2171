// ESM entry: the same module as index.js. Inside a pool task, use the task
// function's second argument (or `spindle.current` on the default export):
// `current` changes from task to task, so it is not a named export here.
import spindle from './index.js'

export const { sort, stats, hash, hashMany, configure, internals, AbortError, Pool } = spindle
export const { spawn, exec, ChildProcess } = spindle
export const workerData = spindle.workerData
export default spindle
