// Compiled with `tsc --noEmit` against index.d.ts by `npm test`.
import * as spindle from '../../index'
import { sort, stats, hash, hashMany, configure, internals, AbortError } from '../../index'

async function main(): Promise<void> {
  const f64: Float64Array = await sort(new Float64Array([3, 1, 2]))
  const big: BigInt64Array = await spindle.sort(new BigInt64Array([3n, 1n]), {
    signal: AbortSignal.timeout(1000),
  })
  const s = await stats(f64)
  const n: number = s.sum + s.mean + s.variance + s.count
  const b = await stats(big)
  const exact: bigint = b.sum
  const hex: string = await hash('abc', 'sha256')
  const raw: Buffer = await hash(Buffer.from('abc'), 'blake3', { encoding: 'buffer' })
  const b64: string = await hash(new Uint8Array(4), 'sha512', { encoding: 'base64' })
  const many: string[] = await hashMany(['a', new Uint8Array(2)], 'sha256')
  const manyRaw: Buffer[] = await hashMany([new ArrayBuffer(8)], 'blake3', { encoding: 'buffer' })
  const cfg: { threads: number } = configure({ threads: 2 })
  const c = internals()
  const w: number = c.wakes + c.completions
  const err = new AbortError()
  const code: 'ABORT_ERR' = err.code
  void [n, exact, hex, raw, b64, many, manyRaw, cfg, w, code]
}

void main()

async function poolUsage(): Promise<void> {
  const pool = new spindle.Pool<{ a: number; b: number }, number>({
    filename: __filename,
    maxThreads: 2,
    idleTimeout: 1000,
    workerData: { x: 1 },
    spinMicros: 50,
    waitMicros: 1000,
    pollMicros: 100,
    coalesceMicros: 2000,
  })
  const sum: number = await pool.run({ a: 4, b: 6 })
  const ac = new AbortController()
  const sq: number = await pool.run({ a: 7, b: 0 }, { name: 'square', signal: ac.signal })
  const all: number[] = await pool.map([{ a: 1, b: 2 }], { name: 'add', chunkSize: 100, ordered: false, signal: ac.signal })
  for await (const r of pool.imap((async function* () { yield { a: 1, b: 1 } })(), { concurrency: 4 })) {
    const one: number = r
  }
  try {
    await pool.map([{ a: 1, b: 2 }])
  } catch (e) {
    const at: number = (e as spindle.MapItemError).index
  }
  // @ts-expect-error: results are the pool's result type
  const wrongMap: string[] = await pool.map([{ a: 1, b: 2 }])
  const st = pool.stats()
  const n: number = st.threads + st.queued + st.running + st.completed + st.failed + st.stolen
  const idle: number = pool.idleThreads
  pool.on('drain', () => {})
  await pool.close()
  await pool.destroy()
  await pool[Symbol.asyncDispose]()
  const wd: unknown = spindle.workerData
  const progress: number = await pool.run({ a: 1, b: 2 }, { onMessage: (m: unknown) => void m })
  const lat: number = st.waitTime.p99 + st.runTime.max + st.utilization + st.bytesCopied
  const spun: number = st.spin.spins + st.spin.found + st.spin.holds
  const held: boolean = st.spin.held
  // @ts-expect-error: held is a boolean
  const heldCount: number = st.spin.held
  const ctx = spindle.current
  if (ctx !== null) {
    ctx.postMessage('working')
    const child: number = await ctx.run<number>(5, { name: 'square' })
    void child
  }
  void [sum, sq, n, wd, progress, lat]
}
void poolUsage
// ─── Reactor ─────────────────────────────────────────────────────────────
import { spawn, exec, ChildProcess, ExecResult, SpawnError } from '../../index'

async function reactor(): Promise<void> {
  const child: ChildProcess = spawn('ls', ['-lh', '/usr'], { cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] })
  child.stdout?.on('data', (d: Buffer) => void d.length)
  child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => void [code, signal])
  child.on('close', (code) => void code)
  child.on('error', (err) => void (err as SpawnError).spawnargs)
  const sent: boolean = child.kill('SIGTERM') || child.kill(9)
  child.unref()
  child.ref()
  const pid: number | undefined = child.pid
  spawn('sh', { shell: true, timeout: 10, killSignal: 'SIGKILL', signal: AbortSignal.timeout(5), detached: true })
  const r: ExecResult<string> = await exec('git', ['status', '--short'], { cwd: '.', timeout: 5000 })
  const s: string = r.stdout + r.stderr
  const n: number | null = r.exitCode
  const raw = await exec('cat', { input: Buffer.from('x'), encoding: 'buffer', maxBuffer: 10 })
  const b: Buffer = raw.stdout
  const t = await exec('sleep', ['1'], { timeout: 1, forceKillAfter: false, killTree: true, reject: false, extendEnv: false, env: { A: '1' } })
  const failed: boolean = t.failed && t.timedOut
  void [sent, pid, s, n, b, failed, r.durationMs, r.signal, r.command]
}

void reactor()
