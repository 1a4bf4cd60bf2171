// The package as users get it: the per-platform packages in npm/ agree with
// package.json, and the packed root + linux-x64-gnu tarballs install into a
// fresh project where spindle works from CommonJS, ESM and TypeScript, with
// the binary found through the platform package.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..')
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const binaryName = pkg.napi.binaryName

/** What napi-rs derives from a Rust target triple. */
function parseTriple(triple) {
  const [rawArch, , rawOs, abi] = triple.split('-')
  const arch = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }[rawArch]
  const platform = { linux: 'linux', darwin: 'darwin', windows: 'win32' }[rawOs]
  if (!arch || !platform) throw new Error(`unexpected target ${triple}`)
  const suffix = platform === 'darwin' ? '' : `-${abi}`
  const libc = platform === 'linux' ? { gnu: 'glibc', musl: 'musl' }[abi] : undefined
  return { platformArchAbi: `${platform}-${arch}${suffix}`, os: platform, cpu: arch, libc }
}

describe('npm/ per-platform packages', () => {
  const targets = pkg.napi.targets

  test('package.json lists the issue\'s targets', () => {
    expect(targets.slice().sort()).toEqual([
      'aarch64-apple-darwin',
      'aarch64-unknown-linux-gnu',
      'aarch64-unknown-linux-musl',
      'x86_64-apple-darwin',
      'x86_64-pc-windows-msvc',
      'x86_64-unknown-linux-gnu',
      'x86_64-unknown-linux-musl',
    ])
    expect(binaryName).toBe('spindle')
  })

  test('there is exactly one npm/<platform> directory per target', () => {
    const dirs = fs.readdirSync(path.join(ROOT, 'npm')).sort()
    expect(dirs).toEqual(targets.map((t) => parseTriple(t).platformArchAbi).sort())
  })

  test.each(pkg.napi.targets)('%s: name, version, os, cpu, libc and main agree', (triple) => {
    const t = parseTriple(triple)
    const file = path.join(ROOT, 'npm', t.platformArchAbi, 'package.json')
    const p = JSON.parse(fs.readFileSync(file, 'utf8'))
    expect(p.name).toBe(`${pkg.name}-${t.platformArchAbi}`)
    expect(p.version).toBe(pkg.version)
    expect(p.os).toEqual([t.os])
    expect(p.cpu).toEqual([t.cpu])
    if (t.libc) expect(p.libc).toEqual([t.libc])
    else expect(p.libc).toBeUndefined()
    const nodeFile = `${binaryName}.${t.platformArchAbi}.node`
    expect(p.main).toBe(nodeFile)
    expect(p.files).toEqual([nodeFile])
    expect(p.license).toBe(pkg.license)
    expect(p.engines).toEqual(pkg.engines)
    // The generated loader asks for exactly this package and file.
    const loader = fs.readFileSync(path.join(ROOT, 'binding.js'), 'utf8')
    expect(loader).toContain(`require('${p.name}')`)
    expect(loader).toContain(`require('./${nodeFile}')`)
  })
})

const PLATFORM = 'linux-x64-gnu'
const onThisPlatform = process.platform === 'linux' && process.arch === 'x64' &&
  Boolean(process.report.getReport().header.glibcVersionRuntime)

describe('packed and installed into a fresh project', () => {
  let tmp
  let project
  const run = (cmd, args, cwd, extra = {}) =>
    execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, ...extra })
  const npm = (args, cwd) => run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, cwd, {
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
  })

  beforeAll(() => {
    // This suite checks the linux-x64-gnu package; it needs that machine.
    expect(onThisPlatform).toBe(true)
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spindle-pack-'))

    // The platform package: npm/linux-x64-gnu plus the built binary.
    const platDir = path.join(tmp, 'platform')
    fs.cpSync(path.join(ROOT, 'npm', PLATFORM), platDir, { recursive: true })
    fs.copyFileSync(path.join(ROOT, `${binaryName}.${PLATFORM}.node`),
      path.join(platDir, `${binaryName}.${PLATFORM}.node`))
    const platPack = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], platDir))[0]
    expect(platPack.files.map((f) => f.path).sort())
      .toEqual(['README.md', 'package.json', `${binaryName}.${PLATFORM}.node`].sort())

    // The root package, as `npm publish` would pack it.
    const rootPack = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], ROOT))[0]
    const rootFiles = rootPack.files.map((f) => f.path)
    expect(rootFiles.filter((f) => f.endsWith('.node'))).toEqual([])
    for (const f of ['package.json', 'index.js', 'index.mjs', 'index.d.ts', 'binding.js', 'binding.d.ts',
      'bullmq.js', 'bullmq.mjs', 'bullmq.d.ts', 'lib/bullmq.js', 'lib/bullmq-task.js',
      'lib/kernels.js', 'lib/native.js', 'lib/errors.js', 'lib/validate.js']) {
      expect(rootFiles).toContain(f)
    }
    for (const f of rootFiles) expect(f).not.toMatch(/^(__test__|src|target|bench|npm|examples)\//)

    project = path.join(tmp, 'project')
    fs.mkdirSync(project)
    fs.writeFileSync(path.join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2))
    const tarballs = [path.join(tmp, rootPack.filename), path.join(tmp, platPack.filename)]
    try {
      npm(['install', '--offline', '--no-audit', '--no-fund', ...tarballs], project)
    } catch (err) {
      // --offline can trip over a missing cache entry; the root package has no
      // registry dependencies, so prefer-offline never needs the network either.
      npm(['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs], project)
    }
  }, 180_000)

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  test('the root package has no registry dependencies', () => {
    expect(pkg.dependencies ?? {}).toEqual({})
    // bullmq only for the spindle/bullmq entry, and optional: npm never installs it for spindle.
    expect(pkg.peerDependencies ?? {}).toEqual({ bullmq: '^6.7.0' })
    expect(pkg.peerDependenciesMeta).toEqual({ bullmq: { optional: true } })
  })

  test('the binary comes from the platform package, not from next to index.js', () => {
    const installed = path.join(project, 'node_modules', 'spindle')
    expect(fs.existsSync(path.join(installed, 'index.js'))).toBe(true)
    expect(fs.readdirSync(installed).filter((f) => f.endsWith('.node'))).toEqual([])
    const resolved = run(process.execPath, ['-p', `require.resolve('spindle-${PLATFORM}')`], project).trim()
    expect(resolved).toBe(fs.realpathSync(
      path.join(project, 'node_modules', `spindle-${PLATFORM}`, `${binaryName}.${PLATFORM}.node`)))
  })

  test('CommonJS require', () => {
    fs.writeFileSync(path.join(project, 'use.cjs'), `
      const crypto = require('node:crypto')
      const spindle = require('spindle')
      ;(async () => {
        const a = Float64Array.from([3, -1, NaN, 2, -0, 0])
        const sorted = await spindle.sort(a)
        const digest = await spindle.hash('hello', 'sha256')
        const s = await spindle.stats(Int32Array.of(1, 2, 3))
        const loaded = Object.keys(require.cache).filter((k) => k.endsWith('.node'))
        console.log(JSON.stringify({
          same: sorted === a,
          sorted: Array.from(a, (x) => Object.is(x, -0) ? '-0' : String(x)),
          hashOk: digest === crypto.createHash('sha256').update('hello').digest('hex'),
          sum: s.sum,
          loaded,
        }))
      })()
    `)
    const out = JSON.parse(run(process.execPath, ['use.cjs'], project))
    expect(out).toEqual({
      same: true,
      sorted: ['-1', '-0', '0', '2', '3', 'NaN'],
      hashOk: true,
      sum: 6,
      loaded: [fs.realpathSync(path.join(project, 'node_modules', `spindle-${PLATFORM}`,
        `${binaryName}.${PLATFORM}.node`))],
    })
  })

  test('ESM import, named and default', () => {
    fs.writeFileSync(path.join(project, 'use.mjs'), `
      import { sort, hash, stats, hashMany, configure, internals, AbortError } from 'spindle'
      import spindle from 'spindle'
      import { createRequire } from 'node:module'
      const a = Int16Array.of(5, -3, 9, 0)
      await sort(a)
      const viaDefault = await spindle.hash('abc', 'sha256')
      const viaNamed = await hash('abc', 'sha256')
      const require = createRequire(import.meta.url)
      console.log(JSON.stringify({
        sorted: Array.from(a),
        viaDefault,
        same: viaDefault === viaNamed && spindle.sort === sort,
        kinds: [stats, hashMany, configure, internals, AbortError].map((f) => typeof f),
        loaded: Object.keys(require.cache).filter((k) => k.endsWith('.node')).length,
      }))
    `)
    const out = JSON.parse(run(process.execPath, ['use.mjs'], project))
    expect(out).toEqual({
      sorted: [-3, 0, 5, 9],
      viaDefault: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      same: true,
      kinds: ['function', 'function', 'function', 'function', 'function'],
      loaded: 1,
    })
  })

  test('TypeScript: the installed types compile under --strict (CJS and ESM resolution)', () => {
    fs.writeFileSync(path.join(project, 'use.ts'), `
      import { sort, hash, hashMany, stats, configure, internals, AbortError, type Stats } from 'spindle'
      import * as spindle from 'spindle'
      export async function main(): Promise<string> {
        const a: Float64Array = await sort(new Float64Array([2, 1]))
        const big: BigUint64Array = await spindle.sort(new BigUint64Array([2n, 1n]))
        const s: Stats = await stats(a)
        const b = await stats(big)
        const exact: bigint = b.sum
        const hex: string = await hash('abc', 'sha512')
        const raw: Buffer = await hash(new Uint8Array(3), 'blake3', { encoding: 'buffer' })
        const list: string[] = await hashMany(['a', new ArrayBuffer(2)], 'sha256', { signal: AbortSignal.timeout(1000) })
        const threads: number = configure({ threads: 2 }).threads + internals().wakes
        const err = new AbortError()
        const code: 'ABORT_ERR' = err.code
        return [s.mean, exact, hex, raw.length, list.length, threads, code].join()
      }
    `)
    fs.writeFileSync(path.join(project, 'use-esm.mts'), `
      import spindle, { sort } from 'spindle'
      const a: Int8Array = await sort(Int8Array.of(3, 1))
      const d: string = await spindle.hash(a, 'sha256')
      export { d }
    `)
    // A wrong use must fail, or the check above proves nothing.
    fs.writeFileSync(path.join(project, 'wrong.ts'), `
      import { hash } from 'spindle'
      export const p: Promise<number> = hash('abc', 'md5')
    `)
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    const typeRoots = path.join(ROOT, 'node_modules', '@types')
    const tscArgs = (files) => [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'node16',
      '--moduleResolution', 'node16', '--types', 'node', '--typeRoots', typeRoots, ...files]
    run(process.execPath, tscArgs(['use.ts', 'use-esm.mts']), project)
    let failed = null
    try {
      run(process.execPath, tscArgs(['wrong.ts']), project)
    } catch (err) {
      failed = err
    }
    expect(failed).not.toBeNull()
    expect(failed.stdout).toMatch(/md5/)
  })
})
