/**
 * The remote cache through real `vite build`s: machines with their own cache folders and one remote
 * (Azurite; s3rver behind the conditional-write proxy), the OpenAI emulator counting what is paid for.
 * Entries are shared, a fleet building the same cold specs at once pays for each once, nothing tampered or
 * unsigned is ever emitted, a project that commits only sidecars rebuilds byte-identical dist/ with no API
 * key and a read-only credential, and a store that fails names itself instead of blaming missing specs.
 */
import { execFile, spawn } from 'node:child_process'
import { readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import type { AiImageOptions } from '../src/types.js'
import { withEnv } from './helpers/env.js'
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js'
import { makeProject, spec, type TempProject } from './helpers/project.js'
import { openStore, rawObjects, remoteFor, remoteServers, sasUrl, uniquePrefix, type Backend } from './helpers/remote.js'
import { build as viteBuildApi } from 'vite'
import aiImage from '../src/vite.js'
import { emulatorSuite, failure } from './helpers/suite.js'
import { captureLogs, viteBuild, type ViteBuildResult } from './helpers/vite.js'

const servers = remoteServers()
const suite = emulatorSuite({ latencyMs: 150 })
const run = promisify(execFile)
const VITE_CHILD = fileURLToPath(new URL('./helpers/vite-build-child.mjs', import.meta.url))
const SIGNING_KEY = 'build-test-signing-key-0123456789abcdef'

const proxies: FaultProxy[] = []
afterAll(() => Promise.all(proxies.map((proxy) => proxy.close())))

/** Env of every remote variable this file sets, unset (each build names its own). */
const NO_REMOTE_ENV = {
  AI_IMAGE_REMOTE: undefined,
  AI_IMAGE_REMOTE_MODE: undefined,
  AI_IMAGE_REMOTE_SIGNING_KEY: undefined,
  AZURE_STORAGE_CONNECTION_STRING: undefined,
  AWS_ENDPOINT_URL: undefined,
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_REGION: undefined,
}

/** A machine allowed to spend: the emulator's key, CI unset (remote mode read-write, not frozen). */
const spender = () => ({ ...suite.openaiEnv() })
/** A CI runner: CI set (frozen, remote mode read), no key at all. */
const frozenRunner = () => ({ CI: 'true', OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined, AZURE_OPENAI_ENDPOINT: undefined })

const SPECS = {
  'src/hero.imgprompt.json': spec({ prompt: 'a lighthouse at dusk', model: 'gpt-image-2', size: '1024x1024' }),
  'src/pair.imgprompt.json': spec({ prompt: 'two pears on a table', model: 'gpt-image-2', size: '1024x1024', n: 2 }),
  'src/thumb.imgprompt.json': spec({ prompt: 'a red door', model: 'gpt-image-2', size: '1024x1024', emit: { format: 'webp', widths: [64] } }),
}
const MAIN = [
  "import hero, { width } from './hero.imgprompt.json'",
  "import pair, { images } from './pair.imgprompt.json'",
  "import thumb, { srcset } from './thumb.imgprompt.json'",
  'document.querySelector("#app").innerHTML = [hero, width, pair, images.length, thumb, srcset].join(" ")',
].join('\n')

/** One machine: its own project folder (and cache folder), the same sources as every other machine. */
async function machine(files: Record<string, string> = SPECS, main = MAIN): Promise<TempProject> {
  return suite.project({ ...files, 'src/main.js': main, '.gitignore': 'node_modules\ndist\n' })
}

// Minified, as production builds are: unminified output keeps comments with each machine's own project path.
async function build(project: TempProject, env: Record<string, string | undefined>, options: AiImageOptions): Promise<ViteBuildResult> {
  return withEnv({ ...NO_REMOTE_ENV, ...env }, () => viteBuild(project.root, options, { build: { minify: true } }))
}

/** A build that must fail: its error, and what it logged on the way. */
async function failedBuild(project: TempProject, env: Record<string, string | undefined>, options: AiImageOptions): Promise<{ error: Error; logs: string }> {
  const logs = captureLogs()
  const error = await failure(
    withEnv({ ...NO_REMOTE_ENV, ...env }, () =>
      viteBuildApi({ root: project.root, configFile: false, logLevel: 'info', customLogger: logs.logger, plugins: [aiImage(options)], build: { minify: true } }),
    ),
  )
  return { error, logs: logs.text() }
}

/** Every file of dist/, path → bytes. */
async function distOf(project: TempProject): Promise<Map<string, Buffer>> {
  const files = await project.list('dist')
  return new Map(await Promise.all(files.map(async (file) => [file, await project.read(`dist/${file}`)] as const)))
}

/** Every file of the cache folder (sidecars and images, not the machine-local .work/), path → bytes. */
async function cacheOf(project: TempProject): Promise<Map<string, Buffer>> {
  const files = (await project.list('.ai-image')).filter((file) => /^[0-9a-f]{2}\//.test(file))
  return new Map(await Promise.all(files.map(async (file) => [file, await project.read(`.ai-image/${file}`)] as const)))
}

/** The errors of a failed build: Rolldown gathers the load errors of one build into one. */
function errorsOf(error: Error): Array<Error & { pluginCode?: string; data?: Record<string, unknown> }> {
  return (error as { errors?: Array<Error & { pluginCode?: string; data?: Record<string, unknown> }> }).errors ?? [error]
}

async function remoteEntries(backend: Backend, prefix: string): Promise<string[]> {
  const store = await openStore(servers, backend, prefix)
  const names: string[] = []
  for await (const name of store.list('entries/')) names.push(name)
  return names.sort()
}

describe.each<Backend>(['azure', 's3'])('a remote cache on %s, through real vite builds', (backend) => {
  it('two machines with their own cache folders share entries: the second builds frozen, with no key, the same dist/; a warm build never asks the remote', async () => {
    const prefix = uniquePrefix('share')
    const remote = remoteFor(servers, backend, prefix)
    const a = await machine()
    await build(a, { ...spender(), ...remote.env }, { remote: { url: remote.url } })
    expect(suite.emulator.billedImages).toBe(4)
    expect(await remoteEntries(backend, prefix)).toHaveLength(3)

    const b = await machine()
    const { logs } = await build(b, { ...frozenRunner(), ...remote.env }, { remote: { url: remote.url } })
    expect(suite.emulator.billedImages).toBe(4)
    expect(await distOf(b)).toEqual(await distOf(a))
    // The pulled entries are the very files machine A committed: nothing for git to tell apart.
    expect(await cacheOf(b)).toEqual(await cacheOf(a))
    expect(logs.text()).not.toMatch(/warn/)

    // Warm: every entry is local now, so a remote that cannot even be reached is never asked.
    const dead = backend === 'azure'
      ? { AZURE_STORAGE_CONNECTION_STRING: servers.azurite.connectionString('http://127.0.0.1:9') }
      : { ...servers.s3.env('http://127.0.0.1:9') }
    await build(b, { ...frozenRunner(), ...dead }, { remote: { url: remote.url } })
    expect(await distOf(b)).toEqual(await distOf(a))
  })

  it('a tampered image in the remote is never emitted: a frozen build lists the spec as missing and the warning names the remote entry', async () => {
    const prefix = uniquePrefix('tamper')
    const remote = remoteFor(servers, backend, prefix)
    const files = { 'src/hero.imgprompt.json': SPECS['src/hero.imgprompt.json'] }
    const main = "import hero from './hero.imgprompt.json'\ndocument.body.append(hero)\n"
    const a = await machine(files, main)
    await build(a, { ...spender(), ...remote.env }, { remote: { url: remote.url } })
    const [sidecarFile] = [...(await cacheOf(a)).keys()].filter((f) => f.endsWith('.json'))
    const sidecar = JSON.parse((await a.read(`.ai-image/${sidecarFile}`)).toString()) as { key: string; images: Array<{ sha256: string }> }
    const original = await a.read(`.ai-image/${sidecarFile!.replace('.json', '-0.png')}`)
    const tampered = Buffer.from(original)
    tampered[tampered.length - 20]! ^= 0xff
    await (await rawObjects(servers, backend)).put(`${prefix}/images/${sidecar.images[0]!.sha256}`, tampered)

    const b = await machine(files, main)
    const { error, logs } = await failedBuild(b, { ...frozenRunner(), ...remote.env }, { remote: { url: remote.url } })
    expect(error.message).toContain('CACHE_MISS_FROZEN')
    expect(error.message).toContain('src/hero.imgprompt.json')
    expect(error.message).toContain('neither in the cache folder nor in remote cache')
    expect(logs).toMatch(new RegExp(`warn \\[ai-image\\] remote cache .*: entry ${sidecar.key} is ignored: image 0 .*does not match its SHA-256`))
    expect(await b.list('.ai-image')).not.toContainEqual(expect.stringMatching(/\.png$/))
    expect(await b.list('dist')).toEqual([])
    // Allowed to spend, the machine pays for a fresh image rather than take the tampered one.
    await build(b, { ...spender(), ...remote.env }, { remote: { url: remote.url } })
    expect(suite.emulator.billedImages).toBe(2)
    const emitted = (await distOf(b)).get((await b.list('dist')).find((f) => f.endsWith('.png'))!)!
    expect(emitted.equals(tampered)).toBe(false)
  })

  it('signing on: an unsigned entry is refused through a real build, a signed one is used', async () => {
    const prefix = uniquePrefix('sign')
    const remote = remoteFor(servers, backend, prefix)
    const signed = { 'src/signed.imgprompt.json': spec({ prompt: 'a signed image', model: 'gpt-image-2', size: '1024x1024' }) }
    const unsigned = { 'src/unsigned.imgprompt.json': spec({ prompt: 'an unsigned image', model: 'gpt-image-2', size: '1024x1024' }) }
    await build(await machine(signed, "import s from './signed.imgprompt.json'\nconsole.log(s)\n"), { ...spender(), ...remote.env }, { remote: { url: remote.url, signingKey: SIGNING_KEY } })
    await build(await machine(unsigned, "import u from './unsigned.imgprompt.json'\nconsole.log(u)\n"), { ...spender(), ...remote.env }, { remote: { url: remote.url } })
    expect(suite.emulator.billedImages).toBe(2)

    const both = "import s from './signed.imgprompt.json'\nimport u from './unsigned.imgprompt.json'\nconsole.log(s, u)\n"
    const b = await machine({ ...signed, ...unsigned }, both)
    const { error, logs } = await failedBuild(b, { ...frozenRunner(), ...remote.env, AI_IMAGE_REMOTE_SIGNING_KEY: SIGNING_KEY }, { remote: { url: remote.url } })
    expect(logs).toMatch(/warn \[ai-image\] remote cache .*: entry [0-9a-f]{64} is ignored: it is unsigned, and remote\.signingKey requires signed entries/)
    // Only the unsigned spec is missing: the signed entry was taken.
    expect(error.message).toMatch(/CACHE_MISS_FROZEN[^]*1 spec has no cached image[^]*src\/unsigned\.imgprompt\.json/)
    expect(error.message).not.toContain('src/signed.imgprompt.json')
    expect([...(await cacheOf(b)).keys()].filter((f) => f.endsWith('.png'))).toHaveLength(1)
    expect(`${error.message}\n${logs}`).not.toContain(SIGNING_KEY)
  })

  it('sidecars-only commits (commitImages: false) rebuild byte-identical dist/ in a fresh clone, frozen, with no API key and a read-only credential', async () => {
    const prefix = uniquePrefix('sidecars')
    const remote = remoteFor(servers, backend, prefix)
    const options = { remote: { url: remote.url, commitImages: false } }
    const a = await machine()
    await build(a, { ...spender(), ...remote.env }, options)
    // The folder ignores its own images; git commits the sidecars (and the build record) only.
    expect((await a.read('.ai-image/.gitignore')).toString()).toMatch(/^# unplugin-ai-image: remote\.commitImages is false\n[^]*\*\.png\n/)
    const git = (cwd: string, ...args: string[]) => run('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd })
    await git(a.root, 'init', '-q')
    await git(a.root, 'add', '-A')
    await git(a.root, 'commit', '-q', '-m', 'sidecars only')
    const committed = (await git(a.root, 'ls-files', '.ai-image')).stdout.trim().split('\n')
    expect(committed.filter((f) => f.endsWith('.json') && !f.includes('/builds/'))).toHaveLength(3)
    expect(committed.filter((f) => /\.(png|webp|jpg|avif)$/.test(f))).toEqual([])

    const b = suite.keep(await makeProject())
    await git(path.dirname(b.root), 'clone', '-q', a.root, b.root)
    expect((await b.list('.ai-image')).filter((f) => f.endsWith('.png'))).toEqual([])
    // A read-only credential: a SAS that may read and list, nothing else (s3rver knows one account only: mode 'read' there).
    const readOnly = backend === 'azure' ? { url: sasUrl(servers.azurite, prefix, undefined, { permissions: 'rl' }), env: {} } : remote
    const { logs } = await build(b, { ...frozenRunner(), ...readOnly.env }, { remote: { url: readOnly.url, commitImages: false } })
    expect(suite.emulator.billedImages).toBe(4)
    expect(await distOf(b)).toEqual(await distOf(a))
    expect(logs.text()).not.toMatch(/sig=/)
    // The images fetched are on disk for the next build, and still out of git.
    expect((await b.list('.ai-image')).filter((f) => f.endsWith('.png'))).toHaveLength(4)
    expect((await git(b.root, 'status', '--porcelain', '.ai-image')).stdout.split('\n').filter((l) => /\.(png|webp)$/.test(l))).toEqual([])
  })

  it('four machines (processes) building the same 20 cold specs at once bill exactly 20 images', async () => {
    const prefix = uniquePrefix('fleet')
    const remote = remoteFor(servers, backend, prefix)
    const files: Record<string, string> = {}
    for (let i = 0; i < 20; i++) files[`src/p${i}.imgprompt.json`] = spec({ prompt: `fleet spec ${i}`, model: 'gpt-image-2', size: '1024x640' })
    const main = [...Array(20).keys()].map((i) => `import p${i} from './p${i}.imgprompt.json'`).join('\n') + `\nconsole.log(${[...Array(20).keys()].map((i) => `p${i}`).join(', ')})\n`
    const machines = await Promise.all([0, 1, 2, 3].map(() => machine(files, main)))
    for (const m of machines) await writeFile(path.join(m.root, 'ai-image.config.json'), JSON.stringify({ remote: { url: remote.url }, concurrency: 2 }))
    const env: Record<string, string | undefined> = { ...process.env, ...NO_REMOTE_ENV, ...spender(), ...remote.env }
    for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name]
    const results = await Promise.all(
      machines.map(
        (m) =>
          new Promise<{ code: number | null; stderr: string }>((resolve) => {
            const child = spawn(process.execPath, [VITE_CHILD, m.root], { env, stdio: ['ignore', 'ignore', 'pipe'] })
            let stderr = ''
            child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
            child.on('close', (code) => resolve({ code, stderr }))
          }),
      ),
    )
    for (const result of results) expect(result.code, result.stderr).toBe(0)
    expect(suite.emulator.billedImages).toBe(20)
    expect(await remoteEntries(backend, prefix)).toHaveLength(20)
    const caches = await Promise.all(machines.map(cacheOf))
    for (const cache of caches) {
      expect([...cache.keys()].filter((f) => f.endsWith('.json'))).toHaveLength(20)
      expect(cache).toEqual(caches[0])
    }
    const assets = await Promise.all(machines.map(async (m) => (await readdir(path.join(m.root, 'dist/assets'))).filter((f) => f.endsWith('.png')).sort()))
    for (const list of assets) expect(list).toEqual(assets[0])
    expect(assets[0]).toHaveLength(20)
    // Four vite builds at once, each optimizing 20 PNGs of gpt-image-2's smallest size, on a 2-core machine.
  }, 180_000)
})

describe('a remote cache that fails, through real vite builds', () => {
  it('an Azure SAS that has expired: a frozen build says the store refused the credentials (AUTH), not that specs are missing, and shows no SAS', async () => {
    const prefix = uniquePrefix('expired')
    const a = await machine()
    const remote = remoteFor(servers, 'azure', prefix)
    await build(a, { ...spender(), ...remote.env }, { remote: { url: remote.url } })
    const expired = sasUrl(servers.azurite, prefix, undefined, { permissions: 'rl', expiresOn: new Date(Date.now() - 60_000) })
    const b = await machine()
    const error = await failure(build(b, frozenRunner(), { remote: { url: expired } }))
    // One error per spec the build could not read (Rolldown gathers them), each the remote's own.
    const errors = errorsOf(error)
    expect(errors).toHaveLength(3)
    for (const each of errors) {
      expect(each.pluginCode).toBe('AUTH')
      expect(each.data).toMatchObject({ remote: true })
      expect(each.message).toMatch(/^\[ai-image\] AUTH src\/\w+\.imgprompt\.json: remote cache http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/ai-image-cache\/expired-\w+: the store refused the credentials \(403 AuthorizationFailure\)/)
    }
    expect(error.message).not.toContain('CACHE_MISS_FROZEN')
    expect(error.message).not.toMatch(/sig=|se=/)
    expect(error.message).not.toContain(new URL(expired).searchParams.get('sig')!)
  })

  it('the store going down mid-build (it answers the first requests, then drops every connection): the build fails with NETWORK naming the remote', async () => {
    const prefix = uniquePrefix('down')
    const a = await machine()
    const direct = remoteFor(servers, 's3', prefix)
    await build(a, { ...spender(), ...direct.env }, { remote: { url: direct.url } })
    const proxy = await startFaultProxy(servers.conditional.endpoint, 's3')
    proxies.push(proxy)
    // The first entry's reads go through; then the store drops every connection.
    proxy.fault({ kind: 'drop', after: 2 })
    const through = remoteFor(servers, 's3', prefix, proxy.origin)
    const b = await machine()
    const error = await failure(build(b, { ...frozenRunner(), ...through.env }, { remote: { url: through.url } }))
    const errors = errorsOf(error)
    expect(errors.length).toBeGreaterThan(0)
    for (const each of errors) {
      expect(each.pluginCode).toBe('NETWORK')
      expect(each.data).toMatchObject({ remote: true })
      expect(each.message).toMatch(/^\[ai-image\] NETWORK src\/\w+\.imgprompt\.json: remote cache s3:\/\/ai-image-cache\/down-\w+ at http:\/\/127\.0\.0\.1:\d+: cannot reach the store/)
    }
    expect(error.message).not.toContain('CACHE_MISS_FROZEN')
    expect(proxy.requests).toBeGreaterThan(2)
    expect(suite.emulator.billedImages).toBe(4)
  })

  it('a push that fails only warns: the build that generated its images succeeds, the entry stays local for `ai-image push`', async () => {
    const prefix = uniquePrefix('nopush')
    const proxy = await startFaultProxy(servers.conditional.endpoint, 's3')
    proxies.push(proxy)
    proxy.fault({ kind: 'status', status: 503, code: 'SlowDown', match: ({ method, url }) => method === 'PUT' && url.includes('/images/') })
    const through = remoteFor(servers, 's3', prefix, proxy.origin)
    const a = await machine()
    const { logs } = await build(a, { ...spender(), ...through.env }, { remote: { url: through.url } })
    expect(suite.emulator.billedImages).toBe(4)
    expect(logs.text()).toMatch(
      /warn \[ai-image\] could not store entry [0-9a-f]{12} in s3:\/\/ai-image-cache\/nopush-\w+ at http:\/\/127\.0\.0\.1:\d+: the store is busy \(503 SlowDown\) and still was after \d+ tries while writing images\/[0-9a-f]{64}\. [^;]*; it stays in \S+, and `ai-image push` uploads it later/,
    )
    expect([...(await cacheOf(a)).keys()].filter((f) => f.endsWith('.json'))).toHaveLength(3)
    expect(await remoteEntries('s3', prefix)).toEqual([])
  })
})

