/**
 * Warm-build benchmark (`npm run bench:warm`). Side by side in one run, each figure the median of a whole
 * `vite build` process (several repetitions, interleaved in a new order each time): its wall-clock time and
 * the CPU time it reports.
 *
 * Large images (N photo-like 1536x1024 PNGs of about 2.3 MB):
 *   (a)  an app importing N cached AI images (default emit: the cached PNG, optimized losslessly)
 *        ÷ the same app importing the same N PNG files directly.                         target ≤ 1.10
 *   (a') the same, against the optimized PNGs the plugin emits, imported directly: the plugin's own
 *        overhead, without the benefit of writing smaller files.
 *   (b)  `emit: { format: 'webp', widths: [640, 1280] }` ÷ vite-imagetools making the same files
 *        (`?w=640;1280;1536&format=webp`) from the same PNGs, its cache warm.            target ≤ 1.0
 * Small images (1024x1024 PNGs of flat colours and shapes, about 30 KB: copying assets no longer hides the
 * plugin's own cost):
 *   (c)  an app importing 1 cached AI image ÷ the same app importing its PNG directly: the plugin's fixed
 *        overhead (loading it, options, the one import).                                 target ≤ 1.15
 *   (d)  N cached AI images ÷ the same N PNGs imported directly.                        target ≤ 1.10
 *   (e)  the 1-PNG app with an empty unplugin plugin ÷ the same app without it: what any unplugin costs.
 *
 * Timed builds run with CI set and no API key: every image must come from the cache (a miss fails).
 * The derived caches of both plugins are checked to be untouched by the timed builds (no image work).
 *
 * Each build writes its dist/ to a RAM disk (/dev/shm) when the machine has one, so that disk write-back
 * of earlier builds (and of other processes) does not swamp the figures; both sides of every ratio write
 * the same way. BENCH_OUT=project writes dist/ inside each project instead.
 *
 * Env: BENCH_IMAGES (default 200), BENCH_REPS (default 7), BENCH_SUITES (default `large,small`: which of
 * the two to run). Files live in node_modules/.cache/unplugin-ai-image-bench/ and are reused by the next run.
 */
import { spawn } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { copyFile, mkdtemp, readdir, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  HEIGHT,
  SMALL_SIZE,
  WIDTH,
  ensureImages,
  ensureSmallImages,
  imageName,
  linkPackages,
  promptOf,
  startImageApi,
  writeProject,
  type ProjectFiles,
} from './warm-fixtures.js'

const COUNT = Number(process.env.BENCH_IMAGES ?? 200)
const REPS = Number(process.env.BENCH_REPS ?? 7)
const SUITES = new Set((process.env.BENCH_SUITES ?? 'large,small').split(',').map((s) => s.trim()))
const repo = fileURLToPath(new URL('..', import.meta.url))
const benchRoot = path.join(repo, 'node_modules/.cache/unplugin-ai-image-bench')
const pluginEntry = path.join(repo, 'dist/vite.js')
const childScript = path.join(repo, 'bench/warm-child.mjs')

if (!existsSync(pluginEntry)) throw new Error('dist/ is missing: run `npm run build` first (npm run bench:warm does)')

const ramDisk = process.env.BENCH_OUT !== 'project' && existsSync('/dev/shm') ? await mkdtemp('/dev/shm/ai-image-bench-') : undefined
// Removed however the run ends: it holds every dist/ in memory.
if (ramDisk) process.on('exit', () => rmSync(ramDisk, { recursive: true, force: true }))

interface Project {
  label: string
  dir: string
  /** dist/ of this project. */
  out: string
  /** Its derived cache (checked untouched by the timed builds). */
  derived?: string
}

/** `vite.config.mjs` of a project: its plugins and where dist/ goes. */
function viteConfig(out: string, imports: string[], plugins: string): string {
  const build = `{ outDir: ${JSON.stringify(out)}, emptyOutDir: true }`
  return [...imports, `export default { plugins: [${plugins}], build: ${build} }`].join('\n')
}
const page = (tags: string) => `document.querySelector('#app').innerHTML = [\n${tags}\n].join('')`

function aiProject(out: string, count: number, cacheDir: string, options: { emit?: Record<string, unknown>; size: string; prompt: (i: number) => string }): ProjectFiles {
  const indices = Array.from({ length: count }, (_, i) => i)
  const named = options.emit ? 'srcset as s%, width as w%, height as h%' : 'width as w%, height as h%'
  return {
    config: viteConfig(out, ["import aiImage from 'unplugin-ai-image/vite'"], `aiImage({ cacheDir: ${JSON.stringify(cacheDir)} })`),
    main: [
      ...indices.map((i) => `import i${i}, { ${named.replaceAll('%', String(i))} } from './${imageName(i)}.imgprompt.json'`),
      page(indices.map((i) => `  \`<img src="\${i${i}}"${options.emit ? ` srcset="\${s${i}}"` : ''} width="\${w${i}}" height="\${h${i}}">\``).join(',\n')),
    ].join('\n'),
    files: Object.fromEntries(
      indices.map((i) => [`src/${imageName(i)}.imgprompt.json`, `${JSON.stringify({ prompt: options.prompt(i), size: options.size, ...(options.emit ? { emit: options.emit } : {}) }, null, 2)}\n`]),
    ),
  }
}

function pngProject(out: string, count: number, options: { query?: string; plugins?: { imports: string[]; list: string } } = {}): ProjectFiles {
  const indices = Array.from({ length: count }, (_, i) => i)
  const query = options.query ?? ''
  const plugins = query ? { imports: ["import { imagetools } from 'vite-imagetools'"], list: 'imagetools()' } : (options.plugins ?? { imports: [], list: '' })
  return {
    config: viteConfig(out, plugins.imports, plugins.list),
    main: [
      ...indices.map((i) => `import i${i} from './${imageName(i)}.png${query}'`),
      page(indices.map((i) => `  \`<img ${query ? 'srcset' : 'src'}="\${i${i}}">\``).join(',\n')),
    ].join('\n'),
    files: {},
  }
}

/** Copies the PNGs into the project's `src/` (the app imports its own files, as a real one does). */
async function withPngs(dir: string, project: ProjectFiles, sources: readonly string[]): Promise<void> {
  await writeProject(dir, project)
  await Promise.all(sources.map((source, i) => copyFile(source, path.join(dir, 'src', `${imageName(i)}.png`))))
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

async function distImages(out: string): Promise<{ files: number; bytes: number }> {
  const assets = path.join(out, 'assets')
  const names = (await readdir(assets).catch(() => [])).filter((f) => /\.(png|webp|jpg|avif)$/.test(f))
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

/** Builds one AI project with the plugin filling the committed cache from a local endpoint (first run only). */
async function seed(dir: string, sources: readonly string[]): Promise<void> {
  const api = await startImageApi(sources)
  const env: BuildEnv = { ...frozenEnv(), CI: '', OPENAI_API_KEY: 'bench-local-endpoint', OPENAI_BASE_URL: api.baseURL }
  await viteBuild(dir, env)
  await api.close()
  if (api.requests() > 0) console.log(`  generated ${api.requests()} cache entries through the local endpoint`)
}

// ---------------------------------------------------------------------------------------------------

const projects: Record<string, Project> = {}
const outOf = (suite: string, name: string, dir: string) => (ramDisk ? path.join(ramDisk, `${suite}-${name}`) : path.join(dir, 'dist'))
const derivedOf = (dir: string) => path.join(dir, 'node_modules/.cache/unplugin-ai-image')

console.log('warming up (the first run also fills the caches; that takes minutes) …')

if (SUITES.has('large')) {
  const work = path.join(benchRoot, `warm-${COUNT}`)
  const cacheDir = path.join(work, 'cache')
  const sources = await ensureImages(path.join(work, 'images'), COUNT)
  // The configs import both plugins by package name, as an app does (Vite then loads them from node_modules
  // instead of bundling them into the config).
  await linkPackages(path.join(work, 'node_modules'), { 'unplugin-ai-image': repo, 'vite-imagetools': path.join(repo, 'node_modules/vite-imagetools') })
  const dir = (name: string) => path.join(work, name)
  const add = (name: string, label: string, derived?: string) => (projects[name] = { label, dir: dir(name), out: outOf('large', name, dir(name)), ...(derived ? { derived } : {}) })
  add('png', 'PNG files imported directly')
  add('ai', 'cached AI images (default emit)', derivedOf(dir('ai')))
  add('pngOptimized', 'the emitted (optimized) PNGs imported directly')
  add('aiWebp', 'cached AI images, webp + widths [640, 1280]', derivedOf(dir('aiWebp')))
  add('imagetools', 'vite-imagetools, webp + w=640;1280;1536', path.join(dir('imagetools'), 'node_modules/.cache/imagetools'))
  const large = { size: `${WIDTH}x${HEIGHT}`, prompt: promptOf }
  await withPngs(dir('png'), pngProject(projects.png!.out, COUNT), sources)
  await writeProject(dir('ai'), aiProject(projects.ai!.out, COUNT, cacheDir, large))
  await writeProject(dir('aiWebp'), aiProject(projects.aiWebp!.out, COUNT, cacheDir, { ...large, emit: { format: 'webp', widths: [640, 1280] } }))
  await withPngs(dir('imagetools'), pngProject(projects.imagetools!.out, COUNT, { query: `?w=640;1280;${WIDTH}&format=webp&as=srcset` }), sources)
  await seed(dir('ai'), sources)
  // (a'): the bytes the plugin emits for each image, imported as plain PNG files.
  const emitted = (await readdir(path.join(projects.ai!.out, 'assets'))).filter((f) => f.endsWith('.png'))
  const optimized = sources.map((_, i) => path.join(projects.ai!.out, 'assets', emitted.find((f) => f.startsWith(`${imageName(i)}-`))!))
  await withPngs(dir('pngOptimized'), pngProject(projects.pngOptimized!.out, COUNT), optimized)
}

if (SUITES.has('small')) {
  const work = path.join(benchRoot, `warm-small-${COUNT}`)
  const cacheDir = path.join(work, 'cache')
  const sources = await ensureSmallImages(path.join(work, 'images'), COUNT)
  await linkPackages(path.join(work, 'node_modules'), { 'unplugin-ai-image': repo, unplugin: path.join(repo, 'node_modules/unplugin') })
  const dir = (name: string) => path.join(work, name)
  const add = (name: string, label: string, derived?: string) => (projects[name] = { label, dir: dir(name), out: outOf('small', name, dir(name)), ...(derived ? { derived } : {}) })
  add('onePng', '1 small PNG imported directly')
  add('oneAi', '1 cached AI image (small)', derivedOf(dir('oneAi')))
  add('oneEmpty', '1 small PNG, with an empty unplugin plugin')
  add('manyPng', `${COUNT} small PNGs imported directly`)
  add('manyAi', `${COUNT} cached AI images (small)`, derivedOf(dir('manyAi')))
  const small = { size: `${SMALL_SIZE}x${SMALL_SIZE}`, prompt: (i: number) => `small ${promptOf(i)}` }
  await withPngs(dir('onePng'), pngProject(projects.onePng!.out, 1), sources.slice(0, 1))
  await withPngs(
    dir('oneEmpty'),
    pngProject(projects.oneEmpty!.out, 1, {
      plugins: { imports: ["import { createUnplugin } from 'unplugin'", "const empty = createUnplugin(() => ({ name: 'empty' }))"], list: 'empty.vite()' },
    }),
    sources.slice(0, 1),
  )
  await withPngs(dir('manyPng'), pngProject(projects.manyPng!.out, COUNT), sources)
  await writeProject(dir('oneAi'), aiProject(projects.oneAi!.out, 1, cacheDir, small))
  await writeProject(dir('manyAi'), aiProject(projects.manyAi!.out, COUNT, cacheDir, small))
  await seed(dir('manyAi'), sources)
}

const env = frozenEnv()
const order = Object.keys(projects)
for (const name of order) await viteBuild(projects[name]!.dir, env)

const derivedDirs = order.flatMap((name) => projects[name]!.derived ?? [])
const before = await Promise.all(derivedDirs.map(snapshot))

const times: Record<string, BuildTime[]> = Object.fromEntries(order.map((name) => [name, []]))
for (let rep = 0; rep < REPS; rep++) {
  // A new order each repetition: a build pays for the memory churn of the one before it (vite-imagetools'
  // decoding above all), so no project may always follow the same neighbour.
  for (const name of shuffle([...order])) {
    await sleep(SETTLE_MS)
    times[name]!.push(await viteBuild(projects[name]!.dir, env))
  }
  process.stdout.write(`  repetition ${rep + 1}/${REPS}\r`)
}
const after = await Promise.all(derivedDirs.map(snapshot))
const untouched = before.every((s, i) => s !== '' && s === after[i])

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const mb = (bytes: number) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(0)} MB` : `${(bytes / 1e3).toFixed(0)} kB`)
const wall = (name: string) => median(times[name]!.map((t) => t.wallMs))
const cpu = (name: string) => median(times[name]!.map((t) => t.cpuMs))
const fastest = (name: string) => Math.min(...times[name]!.map((t) => t.wallMs))

async function table(names: string[], title: string): Promise<void> {
  console.log(`\n${title}; medians of ${REPS} builds, each a whole \`vite build\` process`)
  console.log(`  ${''.padEnd(50)} ${'wall clock'.padStart(10)} ${'(min – max)'.padStart(17)} ${'CPU time'.padStart(9)}   emitted`)
  for (const name of names) {
    const w = times[name]!.map((t) => t.wallMs)
    const out = await distImages(projects[name]!.out)
    console.log(
      `  ${projects[name]!.label.padEnd(50)} ${sec(wall(name)).padStart(10)} ${`(${sec(Math.min(...w))} – ${sec(Math.max(...w))})`.padStart(17)} ${sec(cpu(name)).padStart(9)}   ${out.files} images, ${mb(out.bytes)}`,
    )
  }
}

/** `CPU ratio (wall ratio, fastest ratio)`, and the verdict against a target on the CPU ratio. */
function ratio(a: string, b: string, target?: number): string {
  const byCpu = cpu(a) / cpu(b)
  const verdict = target === undefined ? '' : `   target ≤ ${target.toFixed(2)}: ${byCpu <= target ? 'met' : 'MISSED'}`
  return `${byCpu.toFixed(3)} CPU time (${(wall(a) / wall(b)).toFixed(3)} wall clock, ${(fastest(a) / fastest(b)).toFixed(3)} fastest)${verdict}`
}

console.log(`\nmachine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}; dist/ on ${ramDisk ? 'a RAM disk' : 'disk'}`)
if (SUITES.has('large')) {
  await table(['png', 'ai', 'pngOptimized', 'aiWebp', 'imagetools'], `warm vite build, ${COUNT} images of ${WIDTH}x${HEIGHT}`)
  console.log(`
  ratios of medians (CPU time, then wall clock and the fastest builds, which other load on the machine disturbs least):
  (a)  cached AI images ÷ the same PNG files imported directly:     ${ratio('ai', 'png', 1.1)}
  (a') cached AI images ÷ the emitted PNGs imported directly:        ${ratio('ai', 'pngOptimized')}   (plugin overhead alone)
  (b)  webp + widths [640, 1280] ÷ vite-imagetools, cache warm:      ${ratio('aiWebp', 'imagetools', 1.0)}`)
}
if (SUITES.has('small')) {
  await table(['onePng', 'oneAi', 'oneEmpty', 'manyPng', 'manyAi'], `warm vite build, small images (${SMALL_SIZE}x${SMALL_SIZE}, about 30 kB)`)
  console.log(`
  ratios of medians (CPU time, then wall clock and the fastest builds):
  (c)  1 cached AI image ÷ 1 PNG imported directly (fixed overhead): ${ratio('oneAi', 'onePng', 1.15)}
  (d)  ${String(COUNT).padStart(3)} cached AI images ÷ ${String(COUNT).padStart(3)} PNGs imported directly:        ${ratio('manyAi', 'manyPng', 1.1)}
  (e)  an empty unplugin plugin ÷ the same app without it:           ${ratio('oneEmpty', 'onePng')}   (baseline)`)
}
console.log(`\n  derived caches untouched by the timed builds (no image was decoded or encoded): ${untouched ? 'yes' : 'NO'}`)
if (!untouched) process.exitCode = 1
