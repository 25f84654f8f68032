/**
 * Remote-cache build benchmark (`npm run bench:remote`). Side by side in one run, each figure the median of
 * a whole `vite build` process (repetitions interleaved), CI set and no API key (every image must come
 * from a cache; a miss fails the build):
 *
 *   committed  a warm build of an app importing N cached AI images, their entries committed in `.ai-image/`
 *   pulled     the same app and sources, its cache folder emptied before every build (a fresh CI runner
 *              with `commitImages: false`, or a clone without the images): every entry is fetched from a
 *              remote cache on Azurite, verified (sidecar, SHA-256, header) and written into the folder
 *
 *   ratio      pulled ÷ committed, wall clock                                              target ≤ 1.5
 *
 * Two suites: `large`, photo-like 1536x1024 PNGs of about 2.3 MB (what gpt-image returns for photos: the
 * transfer of the bytes dominates), and `small`, 1024x1024 PNGs of flat shapes of about 30 kB (the
 * requests and checks per entry dominate).
 *
 * Wall clock is the figure that counts here: the pulled build waits for the store, whose work (Azurite, a
 * separate process on the same cores) the build's own CPU time does not include. Both builds share the
 * project's derived cache (optimized PNGs, keyed by each image's SHA-256), so neither decodes or encodes an
 * image: what is compared is the cache tier alone, inside a whole build.
 *
 * Env: BENCH_IMAGES (default 200), BENCH_REPS (default 5), BENCH_SUITES (default `large,small`). Source
 * images are shared with bench/warm.ts (node_modules/.cache/unplugin-ai-image-bench/).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ImageService } from '../src/core/service.js'
import { startAzurite } from '../test/helpers/azurite.js'
import { HEIGHT, SMALL_SIZE, WIDTH, ensureImages, ensureSmallImages, imageName, linkPackages, promptOf, startImageApi, writeProject } from './warm-fixtures.js'

const COUNT = Number(process.env.BENCH_IMAGES ?? 200)
const REPS = Number(process.env.BENCH_REPS ?? 5)
const repo = fileURLToPath(new URL('..', import.meta.url))
const benchRoot = path.join(repo, 'node_modules/.cache/unplugin-ai-image-bench')
const childScript = path.join(repo, 'bench/warm-child.mjs')
const SUITES = (process.env.BENCH_SUITES ?? 'large,small').split(',').map((s) => s.trim()).filter(Boolean)
const PULLED_CACHE = '.ai-image-pulled'

if (!existsSync(path.join(repo, 'dist/vite.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm run bench:remote does)')

type BuildEnv = Record<string, string | undefined>

/** CI set, no key, no remote variable of the caller's: the cache (and the remote given) must answer every import. */
function frozenEnv(extra: BuildEnv = {}): BuildEnv {
  const env: BuildEnv = { ...process.env, CI: 'true', ...extra }
  for (const name of Object.keys(env)) if (/^(OPENAI_|AZURE_OPENAI_|AI_IMAGE_REMOTE)/.test(name) && !(name in extra)) delete env[name]
  return env
}

interface BuildTime {
  wallMs: number
  cpuMs: number
}

/** One whole `vite build` process (`warm-child.mjs`) with the given config file. */
async function viteBuild(dir: string, config: string, env: BuildEnv): Promise<BuildTime> {
  const start = performance.now()
  const child = spawn(process.execPath, [childScript], { cwd: dir, env: { ...env, BENCH_VITE_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  const wallMs = performance.now() - start
  if (code !== 0) throw new Error(`vite build (${config}) failed in ${dir} (exit ${code}):\n${stderr}`)
  const cpuMs = (JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { cpuMs?: number }).cpuMs
  if (typeof cpuMs !== 'number') throw new Error(`no CPU time from the build in ${dir}:\n${stdout}`)
  return { wallMs, cpuMs }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const imagesIn = async (dir: string) => (await readdir(dir, { recursive: true }).catch(() => [])).filter((f) => String(f).endsWith('.png')).length

const REMOTE_URL_OF = (suite: string) => `azure://bench/${suite}`
const azurite = await startAzurite({ memoryMB: 4096 })
const results: string[] = []
try {
  await azurite.container('bench')
  const storeEnv = { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString() }
  for (const suite of SUITES) {
    const large = suite === 'large'
    const size = large ? `${WIDTH}x${HEIGHT}` : `${SMALL_SIZE}x${SMALL_SIZE}`
    const work = path.join(benchRoot, `remote-${suite}-${COUNT}`)
    const dir = path.join(work, 'app')
    const sources = large ? await ensureImages(path.join(benchRoot, `warm-${COUNT}`, 'images'), COUNT) : await ensureSmallImages(path.join(benchRoot, `warm-small-${COUNT}`, 'images'), COUNT)
    await linkPackages(path.join(dir, 'node_modules'), { 'unplugin-ai-image': repo })

    // One app, two configs: the committed cache folder, or an emptied one with the remote behind it.
    const indices = Array.from({ length: COUNT }, (_, i) => i)
    const out = (name: string) => JSON.stringify(path.join(work, `dist-${name}`))
    const config = (name: string, options: string) =>
      `import aiImage from 'unplugin-ai-image/vite'\nexport default { plugins: [aiImage(${options})], build: { outDir: ${out(name)}, emptyOutDir: true } }`
    const promptOfSuite = (i: number) => (large ? promptOf(i) : `small ${promptOf(i)}`)
    await writeProject(dir, {
      config: config('committed', ''),
      main: [
        ...indices.map((i) => `import i${i}, { width as w${i}, height as h${i} } from './${imageName(i)}.imgprompt.json'`),
        `document.querySelector('#app').innerHTML = [\n${indices.map((i) => `  \`<img src="\${i${i}}" width="\${w${i}}" height="\${h${i}}">\``).join(',\n')}\n].join('')`,
      ].join('\n'),
      files: Object.fromEntries(indices.map((i) => [`src/${imageName(i)}.imgprompt.json`, `${JSON.stringify({ prompt: promptOfSuite(i), size }, null, 2)}\n`])),
    })
    await writeFile(path.join(dir, 'vite.pulled.mjs'), `${config('pulled', JSON.stringify({ cacheDir: PULLED_CACHE, remote: { url: REMOTE_URL_OF(suite) } }))}\n`)

    console.log(`${suite}: warming up (the first run also fills the committed cache and the derived cache; that takes minutes) …`)
    if ((await imagesIn(path.join(dir, '.ai-image'))) < COUNT) {
      const api = await startImageApi(sources)
      await viteBuild(dir, 'vite.config.mjs', frozenEnv({ CI: '', OPENAI_API_KEY: 'bench-local-endpoint', OPENAI_BASE_URL: api.baseURL }))
      await api.close()
      console.log(`  generated ${api.requests()} cache entries through the local endpoint`)
    }
    // The committed entries, pushed as a developer's machine does (`ai-image push`).
    const service = ImageService.forProject({ remote: { url: REMOTE_URL_OF(suite), mode: 'read-write' } }, { root: dir, env: { ...storeEnv } })
    const pushed = await service.pushToRemote()
    await service.close()
    const stored = (await readdir(path.join(dir, '.ai-image'), { recursive: true })).filter((f) => String(f).endsWith('.png'))
    const bytes = (await Promise.all(stored.map(async (f) => (await stat(path.join(dir, '.ai-image', String(f)))).size))).reduce((a, b) => a + b, 0)
    console.log(`  pushed ${pushed.pushed.length} entries to Azurite (${pushed.already} there already), ${(bytes / 1e6).toFixed(1)} MB of images`)

    const pulledEnv = frozenEnv(storeEnv)
    const builds = {
      committed: () => viteBuild(dir, 'vite.config.mjs', frozenEnv()),
      pulled: async () => {
        await rm(path.join(dir, PULLED_CACHE), { recursive: true, force: true })
        const time = await viteBuild(dir, 'vite.pulled.mjs', pulledEnv)
        const pulled = await imagesIn(path.join(dir, PULLED_CACHE))
        if (pulled !== COUNT) throw new Error(`the pulled build left ${pulled} images in its cache folder, not ${COUNT}`)
        return time
      },
    }
    // Untimed: the derived cache learns the stamps of both folders' files.
    await builds.committed()
    await builds.pulled()

    const times: Record<keyof typeof builds, BuildTime[]> = { committed: [], pulled: [] }
    for (let rep = 0; rep < REPS; rep++) {
      const order = (rep % 2 === 0 ? ['committed', 'pulled'] : ['pulled', 'committed']) as Array<keyof typeof builds>
      for (const name of order) {
        await sleep(500)
        times[name].push(await builds[name]())
      }
      process.stdout.write(`  repetition ${rep + 1}/${REPS}\r`)
    }

    const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`
    const wall = (name: keyof typeof builds) => median(times[name].map((t) => t.wallMs))
    const cpu = (name: keyof typeof builds) => median(times[name].map((t) => t.cpuMs))
    const fastest = (name: keyof typeof builds) => Math.min(...times[name].map((t) => t.wallMs))
    const range = (name: keyof typeof builds) => `(${times[name].map((t) => sec(t.wallMs)).join(', ')})`
    const ratio = wall('pulled') / wall('committed')
    results.push(
      [
        `warm vite build, ${COUNT} images of ${size} (${(bytes / 1e6).toFixed(1)} MB); medians of ${REPS} builds, each a whole \`vite build\` process`,
        `  images committed in .ai-image/                          ${sec(wall('committed')).padStart(8)} wall clock, ${sec(cpu('committed'))} CPU  ${range('committed')}`,
        `  cache folder empty, every entry pulled from Azurite      ${sec(wall('pulled')).padStart(8)} wall clock, ${sec(cpu('pulled'))} CPU  ${range('pulled')}`,
        `  pulled ÷ committed: ${ratio.toFixed(3)} wall clock (${(fastest('pulled') / fastest('committed')).toFixed(3)} fastest, ${(cpu('pulled') / cpu('committed')).toFixed(3)} CPU time of the build process)   target ≤ 1.50: ${ratio <= 1.5 ? 'met' : 'MISSED'}`,
      ].join('\n'),
    )
  }
  console.log(`\nmachine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  console.log(results.join('\n\n'))
} finally {
  await azurite.stop()
}
