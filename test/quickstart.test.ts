/**
 * The README's Quickstart, followed line by line in an empty folder: every `sh` line is run (with `sh -c`, in
 * order), every other code block is written to the file its first line names, and the app ends typed (`tsc`
 * passes) and built (`dist/` with the generated image), against the emulator of the Images API.
 *
 * One line is not run as written: `npm install -D vite typescript unplugin-ai-image` (tests never use the
 * network). It is done as npm would lay it out, offline: the package is `npm pack`ed from this repository (the
 * files it publishes, built by `npm test` first) and unpacked into `node_modules/unplugin-ai-image`; vite,
 * typescript and the package's dependencies are linked from this repository's `node_modules`; the bins are
 * linked into `node_modules/.bin` and the devDependencies written into package.json.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Ajv } from 'ajv'
import { parse as parseJsonc } from 'jsonc-parser'
import { afterAll, describe, expect, it } from 'vitest'
import { emulatorSuite } from './helpers/suite.js'

const run = promisify(execFile)
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const INSTALL_LINE = 'npm install -D vite typescript unplugin-ai-image'
const suite = emulatorSuite()

interface Block {
  lang: string
  body: string
}

/** The fenced code blocks of the README's "Quickstart" section, in order. */
async function quickstartBlocks(): Promise<Block[]> {
  const readme = await readFile(path.join(REPO, 'README.md'), 'utf8')
  const start = readme.indexOf('\n## Quickstart\n')
  expect(start).toBeGreaterThan(-1)
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end)
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }))
}

/** The file a block is (its first line: `// path` or `<!-- path -->`), and its content without that line. */
function fileOf(block: Block): { file: string; content: string } | undefined {
  const [first, ...rest] = block.body.split('\n')
  const named = /^(?:\/\/\s*(\S+)|<!--\s*(\S+)\s*-->)$/.exec(first!.trim())
  return named ? { file: named[1] ?? named[2]!, content: rest.join('\n') } : undefined
}

/** `npm install -D vite typescript unplugin-ai-image`, offline, laid out as npm would (see the file comment). */
async function installLinked(root: string): Promise<void> {
  const modules = path.join(root, 'node_modules')
  await mkdir(path.join(modules, '.bin'), { recursive: true })
  const packDir = await mkdtemp(path.join(tmpdir(), 'ai-image-quickstart-pack-'))
  try {
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], { cwd: REPO })
    const [packed] = JSON.parse(stdout) as Array<{ filename: string }>
    await run('tar', ['-xzf', path.join(packDir, packed!.filename), '-C', packDir])
    await rename(path.join(packDir, 'package'), path.join(modules, 'unplugin-ai-image'))
  } finally {
    await rm(packDir, { recursive: true, force: true })
  }
  for (const entry of await readdir(path.join(REPO, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'unplugin-ai-image') continue
    await symlink(path.join(REPO, 'node_modules', entry), path.join(modules, entry), 'dir')
  }
  const ours = JSON.parse(await readFile(path.join(modules, 'unplugin-ai-image/package.json'), 'utf8')) as { version: string; bin: Record<string, string> }
  const bins: Record<string, string> = {
    vite: '../vite/bin/vite.js',
    tsc: '../typescript/bin/tsc',
    ...Object.fromEntries(Object.entries(ours.bin).map(([name, file]) => [name, path.posix.join('../unplugin-ai-image', file)])),
  }
  for (const [name, target] of Object.entries(bins)) {
    await chmod(path.join(modules, '.bin', target), 0o755)
    await symlink(target, path.join(modules, '.bin', name))
  }
  const version = async (name: string) => (JSON.parse(await readFile(path.join(modules, name, 'package.json'), 'utf8')) as { version: string }).version
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown>
  pkg.devDependencies = { typescript: `^${await version('typescript')}`, 'unplugin-ai-image': `^${ours.version}`, vite: `^${await version('vite')}` }
  await writeFile(path.join(root, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
}

/** The environment of a newcomer's shell: no CI, no key but the one a line sets (the emulator stands in for the API). */
function shellEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', OPENAI_BASE_URL: suite.emulator.openaiEnv().OPENAI_BASE_URL }
  for (const name of Object.keys(env)) if (name === 'CI' || (/^(OPENAI_API_KEY|AZURE_|AI_IMAGE_)/.test(name) && name !== 'OPENAI_BASE_URL')) delete env[name]
  return env
}

const folders: string[] = []
afterAll(() => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))))

describe('the README Quickstart', () => {
  it('followed line by line in an empty folder, ends with a typed, built app', { timeout: 240_000 }, async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'ai-image-quickstart-'))
    folders.push(root)
    const blocks = await quickstartBlocks()
    const commands: string[] = []
    const files: string[] = []
    const env = shellEnv()
    for (const block of blocks) {
      if (block.lang === 'sh') {
        for (const line of block.body.split('\n').map((l) => l.trim())) {
          if (line === '') continue
          commands.push(line)
          if (line === INSTALL_LINE) {
            await installLinked(root)
            continue
          }
          // The README's placeholder key stands for the emulator's.
          const command = line.replace('sk-your-key', suite.emulator.openaiEnv().OPENAI_API_KEY!)
          const result = await run('sh', ['-c', command], { cwd: root, env }).catch((error: { code: number; stdout: string; stderr: string }) => error)
          expect('code' in result ? result.code : 0, `\`${line}\` failed:\n${'stdout' in result ? result.stdout : ''}${'stderr' in result ? result.stderr : ''}`).toBe(0)
          continue
        }
        continue
      }
      const named = fileOf(block)
      expect(named, `a Quickstart code block names no file:\n${block.body}`).toBeDefined()
      files.push(named!.file)
      await mkdir(path.dirname(path.join(root, named!.file)), { recursive: true })
      await writeFile(path.join(root, named!.file), named!.content)
    }

    // What the Quickstart is made of: ESM, a page, a typed import, the commands.
    expect(files).toEqual(['vite.config.ts', 'tsconfig.json', 'index.html', 'src/hero.imgprompt.json', 'src/main.ts', '.vscode/settings.json'])
    expect(commands).toEqual(['npm init -y', 'npm pkg set type=module', INSTALL_LINE, 'npx ai-image types', 'npx tsc', 'OPENAI_API_KEY=sk-your-key npx vite build'])
    expect((JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { type: string }).type).toBe('module')

    // Typed: the declaration beside the spec exists, and `npx tsc` above passed on it.
    expect(existsSync(path.join(root, 'src/hero.imgprompt.d.json.ts'))).toBe(true)
    // Built: the page, the script and the generated image (one paid request, now in the cache).
    const assets = await readdir(path.join(root, 'dist/assets'))
    const image = assets.find((f) => /^hero-[\w-]+\.png$/.test(f))
    expect(image, assets.join(', ')).toBeDefined()
    const script = assets.find((f) => f.endsWith('.js'))!
    expect(await readFile(path.join(root, 'dist/assets', script), 'utf8')).toContain(`/assets/${image}`)
    expect(await readFile(path.join(root, 'dist/index.html'), 'utf8')).toContain(`/assets/${script}`)
    expect(suite.emulator.requests).toHaveLength(1)
    expect(suite.emulator.requests[0]!.body).toMatchObject({ prompt: 'A lighthouse on a rocky coast at dusk, soft fog', size: '1536x1024', quality: 'high' })

    // The editor setting points at the published schema from the project root, and the spec passes it.
    const settings = parseJsonc(await readFile(path.join(root, '.vscode/settings.json'), 'utf8')) as { 'json.schemas': Array<{ url: string }> }
    const schemaFile = path.join(root, settings['json.schemas'][0]!.url)
    const validate = new Ajv({ allErrors: true }).compile(JSON.parse(await readFile(schemaFile, 'utf8')) as object)
    expect(validate(JSON.parse(await readFile(path.join(root, 'src/hero.imgprompt.json'), 'utf8'))), JSON.stringify(validate.errors)).toBe(true)

    // Step 3: the next build (CI, no key) is a cache hit.
    await run('sh', ['-c', 'CI=1 npx vite build'], { cwd: root, env })
    expect(suite.emulator.requests).toHaveLength(1)
  })
})
