// ESM entry of spindle/bullmq: the same module as bullmq.js.
import remote from './bullmq.js'

export const { serve, RemotePool } = remote
export default remote
