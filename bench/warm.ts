/**
 * Warm-build benchmark (`npm run bench:warm`). Side by side in one run, each figure the median wall-clock
 * time of a whole `vite build` process (several repetitions, interleaved in a new order each time):
 *
 *   (a)  an app importing N cached AI images (default emit: the cached PNG, optimized losslessly)
 *        ÷ the same app importing the same N PNG files directly.                         target ≤ 1.10
 *   (a') the same, against the optimized PNGs the plugin emits, imported directly: the plugin's own
 *        overhead, without the benefit of writing smaller files.
 *   (b)  `emit: { format: 'webp', widths: [640, 1280] }` ÷ vite-imagetools making the same files
 *        (`?w=640;1280;1536&format=webp`) from the same PNGs, its cache warm.            target ≤ 1.0
 *
 * Timed builds run with CI set and no API key: every image must come from the cache (a miss fails).
 * The derived caches of both plugins are checked to be untouched by the timed builds (no image work).
 *
 * Each build writes its dist/ to a RAM disk (/dev/shm) when the machine has one, so that disk write-back
 * of earlier builds (and of other processes) does not swamp the figures; both sides of every ratio write
 * the same way. BENCH_OUT=project writes dist/ inside each project instead.
 *
 * Env: BENCH_IMAGES (default 200), BENCH_REPS (default 7). Files live in
 * node_modules/.cache/unplugin-ai-image-bench/ and are reused by the next run.
 */
import { spawn } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { copyFile, mkdtemp, readdir, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HEIGHT, WIDTH, ensureImages, imageName, linkPackages, promptOf, startImageApi, writeProject, type ProjectFiles } from './warm-fixtures.js'

const COUNT = Number(process.env.BENCH_IMAGES ?? 200)
const REPS = Number(process.env.BENCH_REPS ?? 7)
const repo = fileURLToPath(new URL('..', import.meta.url))
const work = path.join(repo, 'node_modules/.cache/unplugin-ai-image-bench', `warm-${COUNT}`)
const pluginEntry = path.join(repo, 'dist/vite.js')
const childScript = path.join(repo, 'bench/warm-child.mjs')
const cacheDir = path.join(work, 'cache')

if (!existsSync(pluginEntry)) throw new Error('dist/ is missing: run `npm run build` first (npm run bench:warm does)')

const indices = Array.from({ length: COUNT }, (_, i) => i)
const ramDisk = process.env.BENCH_OUT !== 'project' && existsSync('/dev/shm') ? await mkdtemp('/dev/shm/ai-image-bench-') : undefined
// Removed however the run ends: it holds every dist/ in memory.
if (ramDisk) process.on('exit', () => rmSync(ramDisk, { recursive: true, force: true }))
const outDir = (project: string) => (ramDisk ? path.join(ramDisk, project) : path.join(work, project, 'dist'))

/** `vite.config.mjs` of a project: its plugins and where dist/ goes. */
function viteConfig(project: string, imports: string[], plugins: string): string {
  const build = `{ outDir: ${JSON.stringify(outDir(project))}, emptyOutDir: true }`
  return [...imports, `export default { plugins: [${plugins}], build: ${build} }`].join('\n')
}
const page = (tags: string) => `document.querySelector('#app').innerHTML = [\n${tags}\n].join('')`

function aiProject(project: string, emit?: Record<string, unknown>): ProjectFiles {
  const named = emit ? 'srcset as s%, width as w%, height as h%' : 'width as w%, height as h%'
  return {
    config: viteConfig(project, ["import aiImage from 'unplugin-ai-image/vite'"], `aiImage({ cacheDir: ${JSON.stringify(cacheDir)} })`),
    main: [
      ...indices.map((i) => `import i${i}, { ${named.replaceAll('%', String(i))} } from './${imageName(i)}.imgprompt.json'`),
      page(indices.map((i) => `  \`<img src="\${i${i}}"${emit ? ` srcset="\${s${i}}"` : ''} width="\${w${i}}" height="\${h${i}}">\``).join(',\n')),
    ].join('\n'),
    files: Object.fromEntries(
      indices.map((i) => [`src/${imageName(i)}.imgprompt.json`, `${JSON.stringify({ prompt: promptOf(i), size: `${WIDTH}x${HEIGHT}`, ...(emit ? { emit } : {}) }, null, 2)}\n`]),
    ),
  }
}

function pngProject(project: string, query = ''): ProjectFiles {
  return {
    config: query ? viteConfig(project, ["import { imagetools } from 'vite-imagetools'"], 'imagetools()') : viteConfig(project, [], ''),
    main: [
      ...indices.map((i) => `import i${i} from './${imageName(i)}.png${query}'`),
      page(indices.map((i) => `  \`<img ${query ? 'srcset' : 'src'}="\${i${i}}">\``).join(',\n')),
    ].join('\n'),
    files: {},
  }
}

/** Copies the PNGs into the project's `src/` (the app imports its own files, as a real one does). */
async function withPngs(dir: string, project: ProjectFiles, sources: Record<number, string>): Promise<void> {
  await writeProject(dir, project)
  await Promise.all(indices.map((i) => copyFile(sources[i]!, path.join(dir, 'src', `${imageName(i)}.png`))))
}

interface BuildEnv {
  [key: string]: string | undefined
}

/** CI set, no key: the cache must answer every import. */
function frozenEnv(): BuildEnv {
  const env: BuildEnv = { ...process.env, CI: 'true' }
  for (const name of Object.keys(env)) if (/^(OPENAI_|AZURE_OPENAI_)/.test(name)) delete env[name]
  return env
}

interface BuildTime {
  wallMs: number
  cpuMs: number
}

/** One whole `vite build` process (`warm-child.mjs`): its wall-clock time, and the CPU time it reports. */
async function viteBuild(dir: string, env: BuildEnv): Promise<BuildTime> {
  const start = performance.now()
  const child = spawn(process.execPath, [childScript], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  const wallMs = performance.now() - start
  if (code !== 0) throw new Error(`vite build failed in ${dir} (exit ${code}):\n${stderr}`)
  const cpuMs = (JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { cpuMs?: number }).cpuMs
  if (typeof cpuMs !== 'number') throw new Error(`no CPU time from the build in ${dir}:\n${stdout}`)
  return { wallMs, cpuMs }
}

/** Every file below `dir` with its size and mtime: unchanged means no image was made or rewritten. */
async function snapshot(dir: string): Promise<string> {
  if (!existsSync(dir)) return ''
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  const lines = await Promise.all(
    entries.filter((e) => e.isFile()).map(async (e) => {
      const file = path.join(e.parentPath, e.name)
      const s = await stat(file)
      return `${path.relative(dir, file)} ${s.size} ${s.mtimeMs}`
    }),
  )
  return lines.sort().join('\n')
}

async function distImages(project: string): Promise<{ files: number; bytes: number }> {
  const assets = path.join(outDir(project), 'assets')
  const names = (await readdir(assets)).filter((f) => /\.(png|webp|jpg|avif)$/.test(f))
  const sizes = await Promise.all(names.map(async (f) => (await stat(path.join(assets, f))).size))
  return { files: names.length, bytes: sizes.reduce((a, b) => a + b, 0) }
}

/** Pause before each timed build, so the previous process's exit (memory, write-back) has settled. */
const SETTLE_MS = 500
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Fisher–Yates. */
function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

// ---------------------------------------------------------------------------------------------------

const sources = await ensureImages(path.join(work, 'images'), COUNT)
// The configs import both plugins by package name, as an app does (Vite then loads them from node_modules
// instead of bundling them into the config).
await linkPackages(path.join(work, 'node_modules'), { 'unplugin-ai-image': repo, 'vite-imagetools': path.join(repo, 'node_modules/vite-imagetools') })
const dirs = {
  png: path.join(work, 'png'),
  ai: path.join(work, 'ai'),
  pngOptimized: path.join(work, 'png-optimized'),
  aiWebp: path.join(work, 'ai-webp'),
  imagetools: path.join(work, 'imagetools'),
}
const WEBP_EMIT = { format: 'webp', widths: [640, 1280] }
await withPngs(dirs.png, pngProject('png'), sources)
await writeProject(dirs.ai, aiProject('ai'))
await writeProject(dirs.aiWebp, aiProject('ai-webp', WEBP_EMIT))
await withPngs(dirs.imagetools, pngProject('imagetools', `?w=640;1280;${WIDTH}&format=webp&as=srcset`), sources)

// The plugin fills the committed cache itself, from a local OpenAI-compatible endpoint (first run only).
const api = await startImageApi(sources)
const seedEnv: BuildEnv = { ...frozenEnv(), CI: '', OPENAI_API_KEY: 'bench-local-endpoint', OPENAI_BASE_URL: api.baseURL }
console.log('warming up (the first run also fills the caches; that takes minutes) …')
await viteBuild(dirs.ai, seedEnv)
await api.close()
if (api.requests() > 0) console.log(`  generated ${api.requests()} cache entries through the local endpoint`)

// (a'): the bytes the plugin emits for each image, imported as plain PNG files.
const emitted = (await readdir(path.join(outDir('ai'), 'assets'))).filter((f) => f.endsWith('.png'))
const optimized = Object.fromEntries(indices.map((i) => [i, path.join(outDir('ai'), 'assets', emitted.find((f) => f.startsWith(`${imageName(i)}-`))!)]))
await withPngs(dirs.pngOptimized, pngProject('png-optimized'), optimized)

const env = frozenEnv()
const order = ['png', 'ai', 'pngOptimized', 'aiWebp', 'imagetools'] as const
for (const name of order) await viteBuild(dirs[name], env)

const derivedDirs = [path.join(dirs.ai, 'node_modules/.cache/unplugin-ai-image'), path.join(dirs.aiWebp, 'node_modules/.cache/unplugin-ai-image'), path.join(dirs.imagetools, 'node_modules/.cache/imagetools')]
const before = await Promise.all(derivedDirs.map(snapshot))

const times: Record<(typeof order)[number], BuildTime[]> = { png: [], ai: [], pngOptimized: [], aiWebp: [], imagetools: [] }
for (let rep = 0; rep < REPS; rep++) {
  // A new order each repetition: a build pays for the memory churn of the one before it (vite-imagetools'
  // decoding above all), so no project may always follow the same neighbour.
  for (const name of shuffle([...order])) {
    await sleep(SETTLE_MS)
    times[name].push(await viteBuild(dirs[name], env))
  }
  process.stdout.write(`  repetition ${rep + 1}/${REPS}\r`)
}
const after = await Promise.all(derivedDirs.map(snapshot))
const untouched = before.every((s, i) => s !== '' && s === after[i])

const labels: Record<(typeof order)[number], string> = {
  png: 'PNG files imported directly',
  ai: 'cached AI images (default emit)',
  pngOptimized: 'the emitted (optimized) PNGs imported directly',
  aiWebp: 'cached AI images, webp + widths [640, 1280]',
  imagetools: 'vite-imagetools, webp + w=640;1280;1536',
}
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`
const wall = (name: (typeof order)[number]) => median(times[name].map((t) => t.wallMs))
const cpu = (name: (typeof order)[number]) => median(times[name].map((t) => t.cpuMs))
console.log(`\nwarm vite build, ${COUNT} images of ${WIDTH}x${HEIGHT}; medians of ${REPS} builds, each a whole \`vite build\` process`)
console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}; dist/ on ${ramDisk ? 'a RAM disk' : 'disk'}\n`)
console.log(`  ${''.padEnd(50)} ${'wall clock'.padStart(10)} ${'(min – max)'.padStart(17)} ${'CPU time'.padStart(9)}   emitted`)
for (const name of order) {
  const w = times[name].map((t) => t.wallMs)
  const out = await distImages(path.basename(dirs[name]))
  console.log(
    `  ${labels[name].padEnd(50)} ${sec(wall(name)).padStart(10)} ${`(${sec(Math.min(...w))} – ${sec(Math.max(...w))})`.padStart(17)} ${sec(cpu(name)).padStart(9)}   ${out.files} images, ${mb(out.bytes)}`,
  )
}
const fastest = (name: (typeof order)[number]) => Math.min(...times[name].map((t) => t.wallMs))
const ratios = (a: (typeof order)[number], b: (typeof order)[number]) =>
  `${(wall(a) / wall(b)).toFixed(3)} wall clock, ${(cpu(a) / cpu(b)).toFixed(3)} CPU time, ${(fastest(a) / fastest(b)).toFixed(3)} fastest`
console.log(`
  ratios of medians (and of the fastest builds, which other load on the machine disturbs least):
  (a)  cached AI images ÷ the same PNG files imported directly:     ${ratios('ai', 'png')}   (target ≤ 1.10)
  (a') cached AI images ÷ the emitted PNGs imported directly:        ${ratios('ai', 'pngOptimized')}   (plugin overhead alone)
  (b)  webp + widths [640, 1280] ÷ vite-imagetools, cache warm:      ${ratios('aiWebp', 'imagetools')}   (target ≤ 1.0)

  derived caches untouched by the timed builds (no image was decoded or encoded): ${untouched ? 'yes' : 'NO'}`)
if (!untouched) process.exitCode = 1
