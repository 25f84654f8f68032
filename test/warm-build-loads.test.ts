/**
 * A warm build loads nothing it does not use. A real `vite build` of the built package (`dist/`) runs in a
 * child process whose every module load is recorded (`helpers/record-loads.mjs`), on a project whose specs
 * are all cached with their derived files in place (CI set, no key). Of everything the plugin's own modules
 * load, directly or through others, none may be a module only generation, discovery, config files or image
 * work need: the scheduler, the HTTP client, providers, sharp, glob matching, unplugin's runtime.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { withEnv } from './helpers/env.js'
import { spec } from './helpers/project.js'
import { HTML, emulatorSuite } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const DIST = pathToUrl(path.join(REPO, 'dist/'))
const RECORDER = path.join(REPO, 'test/helpers/record-loads.mjs')
const VITE_CHILD = path.join(REPO, 'test/helpers/vite-build-child.mjs')

/** Packages a warm build must not load, and why each is needed elsewhere. */
const NOT_ON_THE_WARM_PATH: Record<string, string> = {
  'p-queue': 'the scheduler',
  'p-limit': 'the cap on generations and on image jobs',
  jiti: 'TypeScript and JavaScript config files',
  'eventsource-parser': 'streamed answers',
  'fast-glob': 'discovery (the CLI, the dev server)',
  undici: 'the HTTP client',
  sharp: 'image work and answer checks',
  '@azure/identity': 'Entra ID tokens',
  picomatch: 'include/exclude globs of the project',
  unplugin: "unplugin's runtime (webpack, Rspack, esbuild)",
  thumbhash: 'the thumbhash placeholder',
}
/**
 * Modules of our own that load on first use: generation, providers, the image pipeline, discovery, the dev
 * server and its gallery, the command's planning, and the cache's locks, journals, housekeeping and prune. (The bundle keeps
 * a `// src/…` line before each module's code: that is how a loaded file of `dist/` is told apart.)
 */
const LAZY_SOURCES =
  /^src\/(core\/engine\/(generate|scheduler|pacing)|core\/providers\/(openai|azure|placeholder)\/(provider|http|wire-\w+)|core\/emit\/(pipeline|steps\/\w+)|core\/discover|core\/service\/(plan|dev-preview|generations)|core\/gallery\/[\w/]+|core\/cache\/(lock|journal|housekeeping|prune|draft)|core\/batch\/\w+|plugin\/(vite-dev|vite-gallery|dev-preview|request-guard|project-queries|dev-urls)|cli\/[\w/]+)\.ts$/

function pathToUrl(file: string): string {
  return new URL(`file://${file.split(path.sep).join('/')}`).href
}

interface Edge {
  parent: string | null
  url: string | null
}

/** Every module reachable from the plugin's own files of `dist/`. */
function loadedByPlugin(edges: Edge[]): string[] {
  const children = new Map<string, Set<string>>()
  for (const { parent, url } of edges) {
    if (!parent || !url) continue
    if (!children.has(parent)) children.set(parent, new Set())
    children.get(parent)!.add(url)
  }
  const roots = [...new Set(edges.map((e) => e.url).filter((url): url is string => !!url && url.startsWith(DIST)))]
  const seen = new Set(roots)
  const queue = [...roots]
  while (queue.length > 0) for (const next of children.get(queue.pop()!) ?? []) if (!seen.has(next)) seen.add(next), queue.push(next)
  return [...seen]
}

function runWarmBuild(root: string, record: string): Promise<{ code: number | null; stderr: string }> {
  const env: Record<string, string | undefined> = { ...process.env, CI: 'true', RECORD_LOADS: record }
  for (const name of Object.keys(env)) if (/^(OPENAI_|AZURE_OPENAI_)/.test(name)) delete env[name]
  const child = spawn(process.execPath, ['--import', RECORDER, VITE_CHILD, root], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })))
}

const suite = emulatorSuite()

describe('a warm vite build', () => {
  it('loads none of the modules only generation, discovery, config files or image work need', async () => {
    const project = await suite.project({
      'index.html': HTML,
      'src/main.js': [
        "import hero, { width } from './hero.imgprompt.json'",
        "import thumb, { srcset, placeholder } from './thumb.imgprompt.json'",
        'document.querySelector("#app").innerHTML = [hero, width, thumb, srcset, placeholder].join(" ")',
      ].join('\n'),
      'src/hero.imgprompt.json': spec({ prompt: 'a lighthouse at dusk', model: 'gpt-image-2', size: '1024x1024' }),
      'src/thumb.imgprompt.json': spec({ prompt: 'a red door', model: 'gpt-image-2', size: '1024x1024', emit: { format: 'webp', widths: [64], placeholder: 'thumbhash' } }),
      // A JSON config file is read as it is: no loader for TypeScript and JavaScript configs.
      'ai-image.config.json': JSON.stringify({ concurrency: 2 }),
    })
    // The cold build fills the committed cache and the derived cache.
    await withEnv(suite.openaiEnv(), () => viteBuild(project.root))
    expect(suite.emulator.requests).toHaveLength(2)

    const record = path.join(project.root, 'loads.jsonl')
    const { code, stderr } = await runWarmBuild(project.root, record)
    expect(code, stderr).toBe(0)
    expect(suite.emulator.requests).toHaveLength(2)
    const html = await readFile(path.join(project.root, 'dist/index.html'), 'utf8')
    expect(html).toContain('<script')

    const edges = (await readFile(record, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Edge)
    const loaded = loadedByPlugin(edges)
    expect(loaded.some((url) => url.endsWith('/dist/vite.js'))).toBe(true)
    const packageOf = (url: string) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1]
    const unwanted = loaded.filter((url) => {
      const name = packageOf(url)
      return name !== undefined && name in NOT_ON_THE_WARM_PATH
    })
    expect(unwanted.map((url) => url.replace(/^.*\/node_modules\//, ''))).toEqual([])
    const sources = (await Promise.all(loaded.filter((url) => url.startsWith(DIST)).map((url) => readFile(fileURLToPath(url), 'utf8')))).flatMap((text) =>
      [...text.matchAll(/^\/\/ (src\/\S+\.ts)$/gm)].map((match) => match[1]!),
    )
    expect(sources).toContain('src/core/service.ts')
    expect(sources.filter((source) => LAZY_SOURCES.test(source))).toEqual([])
    // image-size: the header reader of the one format the derived files have, never the whole library.
    const imageSize = loaded.filter((url) => packageOf(url) === 'image-size').map((url) => url.replace(/^.*\/image-size\//, ''))
    expect(imageSize.every((file) => /^dist\/(cjs|esm)\/types\/(png|webp|utils)\.js$/.test(file)), imageSize.join(', ')).toBe(true)
  })
})
