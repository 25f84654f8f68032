/**
 * The gallery loads on first use: a `vite dev` server of the built package (`dist/`), in a child process
 * whose every module load is recorded (`helpers/record-loads.mjs`), serves the app without loading any
 * module of the gallery (its view model, page, actions, JSON editing); the first request to `/__ai-image/`
 * loads them and gets the page.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const DIST = new URL(`file://${path.join(REPO, 'dist/').split(path.sep).join('/')}`).href
const suite = emulatorSuite()

/** The `src/` modules bundled into the files of `dist/` among `urls` (the bundle keeps a `// src/…` line before each). */
async function sourcesOf(urls: Iterable<string>): Promise<string[]> {
  const texts = await Promise.all([...new Set(urls)].filter((url) => url.startsWith(DIST)).map((url) => readFile(fileURLToPath(url), 'utf8')))
  return texts.flatMap((text) => [...text.matchAll(/^\/\/ (src\/\S+\.ts)$/gm)].map((match) => match[1]!))
}

describe('the gallery of vite dev', () => {
  it('loads none of its modules until its page is asked for', async () => {
    const project = await suite.project({
      'src/main.js': "import hero from './hero.imgprompt.json'\nexport default hero\n",
      'src/hero.imgprompt.json': spec({ prompt: 'a lighthouse', model: 'gpt-image-2', size: '1024x1024' }),
    })
    const record = path.join(project.root, 'loads.jsonl')
    const env: Record<string, string | undefined> = { ...process.env, RECORD_LOADS: record }
    for (const name of Object.keys(env)) if (/^(OPENAI_|AZURE_OPENAI_|CI$)/.test(name)) delete env[name]
    const child = spawn(process.execPath, ['--import', path.join(REPO, 'test/helpers/record-loads.mjs'), path.join(REPO, 'test/helpers/vite-dev-child.mjs'), project.root], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code, stderr).toBe(0)
    expect(JSON.parse(stdout)).toEqual({ page: 200, main: 200, gallery: 200 })

    const lines = (await readFile(record, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { url?: string | null; marker?: string })
    const marker = lines.findIndex((line) => line.marker === 'gallery')
    expect(marker).toBeGreaterThan(0)
    const urls = (part: typeof lines) => part.map((line) => line.url).filter((url): url is string => typeof url === 'string')
    const before = await sourcesOf(urls(lines.slice(0, marker)))
    const after = await sourcesOf(urls(lines.slice(marker + 1)))
    expect(before).toContain('src/plugin/vite-gallery.ts')
    expect(before.filter((source) => source.startsWith('src/core/gallery/'))).toEqual([])
    expect(after).toEqual(expect.arrayContaining(['src/core/gallery/dev-server.ts', 'src/core/gallery/page/render.ts', 'src/core/gallery/spec-edit.ts']))
  })
})
