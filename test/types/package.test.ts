/**
 * The built package as npm would publish it (`npm test` runs tsup first): one `npm pack`, then publint
 * (exports map, files, formats) and @arethetypeswrong/cli (types of every entry point for ESM and CJS
 * consumers, settings in `.attw.json`), the CJS entries a webpack config `require`s, and the published
 * `schema.json` being the one generated from the field table.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { specJsonSchema } from '../../src/core/spec/json-schema.js'

const run = promisify(execFile)
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const ATTW = path.join(REPO, 'node_modules/@arethetypeswrong/cli/dist/index.js')
const ENTRY_POINTS = ['.', './vite', './rollup', './rolldown', './webpack', './rspack', './esbuild', './client', './schema.json', './package.json']

let packDir: string
let tarball: string
let packedFiles: string[]
const pkg = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>
  bin: Record<string, string>
}

beforeAll(async () => {
  expect(existsSync(path.join(REPO, 'dist/index.js')), 'the package is built (npm test runs tsup first)').toBe(true)
  packDir = await mkdtemp(path.join(tmpdir(), 'ai-image-pack-'))
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], { cwd: REPO })
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  tarball = path.join(packDir, packed!.filename)
  packedFiles = packed!.files.map((f) => f.path)
}, 120_000)
afterAll(() => rm(packDir, { recursive: true, force: true }))

describe('the published package', () => {
  it('exports every entry point of DESIGN.md', () => {
    expect(Object.keys(pkg.exports)).toEqual(ENTRY_POINTS)
  })

  it('ships its licence, the built entries and the client types, and no sources or tests', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'client.d.ts', 'dist/index.js', 'dist/cli.js', 'dist/schema.json']))
    expect(packedFiles.filter((f) => /^(src|test|bench|playground)\//.test(f))).toEqual([])
  })

  it('builds itself before packing (no stale dist/ is published)', () => {
    expect((pkg as unknown as { scripts: Record<string, string> }).scripts.prepack).toBe('npm run build')
  })

  it('passes publint, suggestions included', async () => {
    const data = await readFile(tarball)
    const { messages, pkg: packed } = await publint({
      pack: { tarball: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer },
      level: 'suggestion',
      strict: true,
    })
    const problems = messages
      // The `ai-image` command is declared by DESIGN.md; its build lands with the command itself.
      .filter((m) => !(m.code === 'FILE_DOES_NOT_EXIST' && m.path[0] === 'bin' && !existsSync(path.join(REPO, 'src/cli'))))
      .map((m) => `${m.type}: ${formatMessage(m, packed) ?? m.code}`)
    expect(problems).toEqual([])
  })

  it('passes @arethetypeswrong/cli for ESM and CJS consumers', async () => {
    const result = await run(process.execPath, [ATTW, tarball, '--format', 'ascii', '--no-color'], { cwd: REPO }).then(
      ({ stdout }) => ({ ok: true, stdout }),
      (error: { stdout: string; stderr: string }) => ({ ok: false, stdout: `${error.stdout}${error.stderr}` }),
    )
    expect(result.ok, result.stdout).toBe(true)
    expect(result.stdout).toContain('"unplugin-ai-image/webpack"')
  })

  it('lets a CommonJS config require() the webpack and Rspack plugins', async () => {
    const script = ['webpack', 'rspack']
      .map((name) => `if (typeof require(${JSON.stringify(path.join(REPO, `dist/${name}.cjs`))})({ provider: 'placeholder' }).apply !== 'function') process.exit(1)`)
      .join(';')
    await expect(run(process.execPath, ['-e', script])).resolves.toBeDefined()
  })

  it('ships dist/schema.json as generated from the field table', async () => {
    expect(JSON.parse(await readFile(path.join(REPO, 'dist/schema.json'), 'utf8'))).toEqual(specJsonSchema())
  })
})
