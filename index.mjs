// ESM entry: the same module as index.js.
import spindle from './index.js'

export const { sort, stats, hash, hashMany, configure, internals, AbortError } = spindle
export default spindle
