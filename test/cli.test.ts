/**
 * The `ai-image` command, run as the built binary in a child process against the emulator: check,
 * generate (and --dry-run), prune, ls, help, exit codes and colour.
 */
import { execFile, spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { makeProject, spec, type TempProject } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'
import { startEmulator } from './emulator/index.js'
import { withEnv } from './helpers/env.js'
import { viteBuild } from './helpers/vite.js'

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const VITE_CHILD = fileURLToPath(new URL('./helpers/vite-build-child.mjs', import.meta.url))
const suite = emulatorSuite()

interface Result {
  code: number
  stdout: string
  stderr: string
}

function run(file: string, args: string[], cwd: string, env: Record<string, string | undefined>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { cwd, env: { ...process.env, CI: '', NO_COLOR: '1', ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

const cli = (project: TempProject, args: string[], env: Record<string, string | undefined> = {}) => run(CLI, args, project.root, env)
const noKey = { OPENAI_API_KEY: '', AZURE_OPENAI_ENDPOINT: '' }

/** Four specs from the three sources, priced by the table: $0.018 + $0.12 + $0.016 + $0.018 = $0.172. */
async function pricedProject(): Promise<TempProject> {
  return suite.keep(
    await makeProject({
      'ai-image.config.json': JSON.stringify({ images: { badge: { prompt: 'a badge', model: 'dall-e-2', size: '256x256' } } }),
      'src/a.imgprompt.json': spec({ prompt: 'two low pears', model: 'gpt-image-1.5', size: '1024x1024', quality: 'low', n: 2 }),
      'src/b.imgprompt.json': spec({ prompt: 'a wide hd sea', model: 'dall-e-3', size: '1792x1024', quality: 'hd' }),
      'src/main.js': "import fox from 'virtual:ai-image?prompt=a%20fox&model=dall-e-2&size=512x512'\nconsole.log(fox)\n",
    }),
  )
}

const LABELS = ['src/a.imgprompt.json', 'src/b.imgprompt.json', 'virtual:ai-image/badge', 'virtual:ai-image?prompt=a%20fox&model=dall-e-2&size=512x512']

describe('ai-image check / generate / ls', () => {
  it('check fails naming every missing spec without a key; generate fills the cache; check passes; altered bytes fail it', async () => {
    const project = await pricedProject()
    const before = await cli(project, ['check'], noKey)
    expect(before.code).toBe(1)
    for (const label of LABELS) expect(before.stdout).toMatch(new RegExp(`✗ ${escape(label)}  missing`))
    expect(suite.emulator.requests).toHaveLength(0)

    const generated = await cli(project, ['generate'], suite.openaiEnv())
    expect(generated.code, generated.stderr).toBe(0)
    // One request per missing key (n: 2 of gpt-image-1.5 is one call).
    expect(suite.emulator.requests).toHaveLength(4)
    expect(generated.stdout).toContain('4 generated, 0 already cached')
    expect(generated.stderr).toMatch(/generated 5 images for 4 specs/)

    const after = await cli(project, ['check'], noKey)
    expect(after.code, after.stdout).toBe(0)
    expect(after.stdout).toContain('all 4 specs are cached and verified')

    const again = await cli(project, ['generate'], suite.openaiEnv())
    expect(again.stdout).toContain('0 generated, 4 already cached')
    expect(suite.emulator.requests).toHaveLength(4)

    const png = (await project.list('.ai-image')).find((f) => f.endsWith('-1.png'))! // the second candidate of a
    const bytes = await project.read(`.ai-image/${png}`)
    bytes.writeUInt8(bytes.readUInt8(100) ^ 0xff, 100)
    await project.write(`.ai-image/${png}`, bytes)
    const corrupt = await cli(project, ['check'], noKey)
    expect(corrupt.code).toBe(1)
    expect(corrupt.stdout).toMatch(/✗ src\/a\.imgprompt\.json  corrupt: .*-1\.png does not match its SHA-256/)
    expect(corrupt.stdout).toContain('1 of 4 specs needs attention')
  })

  it('generate --dry-run sends nothing and prints each estimate and the total from the price table', async () => {
    const project = await pricedProject()
    const result = await cli(project, ['generate', '--dry-run'], suite.openaiEnv())
    expect(result.code).toBe(0)
    expect(suite.emulator.requests).toHaveLength(0)
    expect(result.stdout).toMatch(/src\/a\.imgprompt\.json {2}2 images {2}\$0\.018 {2}gpt-image-1\.5 low 1024x1024 \+ prompt ≤ \d+ tokens, estimate/)
    expect(result.stdout).toMatch(/src\/b\.imgprompt\.json {2}1 image {2}\$0\.120 {2}dall-e-3 hd 1792x1024, estimate/)
    expect(result.stdout).toMatch(/virtual:ai-image\/badge {2}1 image {2}\$0\.016/)
    expect(result.stdout).toMatch(/a%20fox.* {2}1 image {2}\$0\.018/)
    expect(result.stdout).toContain('4 of 4 specs to generate, 5 images, estimated total $0.172; dry run: nothing was sent')
    // A spec that differs only in `emit` is the same request: listed, not counted twice.
    await project.write(
      'ai-image.config.json',
      JSON.stringify({
        images: {
          badge: { prompt: 'a badge', model: 'dall-e-2', size: '256x256' },
          'b-webp': { prompt: 'a wide hd sea', model: 'dall-e-3', size: '1792x1024', quality: 'hd', emit: { format: 'webp' } },
        },
      }),
    )
    const shared = await cli(project, ['generate', '--dry-run'], suite.openaiEnv())
    expect(shared.stdout).toContain('virtual:ai-image/b-webp  the same request as src/b.imgprompt.json: no extra image')
    expect(shared.stdout).toContain('5 of 5 specs to generate, 5 images, estimated total $0.172')
    // Globs narrow the run to those spec files.
    const narrowed = await cli(project, ['generate', '--dry-run', 'src/b.*'], suite.openaiEnv())
    expect(narrowed.stdout).toContain('1 of 1 spec to generate, 1 image, estimated total $0.120')
  })

  it('ls --json lists every spec with key, model, size, status and cost', async () => {
    const project = await pricedProject()
    await cli(project, ['generate', 'src/a.imgprompt.json'], suite.openaiEnv())
    await project.write('src/bad.imgprompt.json', spec({ prompt: 'bad', size: '999x999' }))
    const result = await cli(project, ['ls', '--json'], noKey)
    // An invalid spec makes the listing exit 1 (#13), the rows are listed all the same.
    expect(result.code).toBe(1)
    const rows = JSON.parse(result.stdout) as Array<Record<string, unknown>>
    expect(rows.map((r) => [r.file, r.status])).toEqual([
      ['src/a.imgprompt.json', 'hit'],
      ['src/b.imgprompt.json', 'miss'],
      ['src/bad.imgprompt.json', 'invalid'],
      ['virtual:ai-image/badge', 'miss'],
      ['virtual:ai-image?prompt=a%20fox&model=dall-e-2&size=512x512', 'miss'],
    ])
    expect(rows[0]).toMatchObject({ model: 'gpt-image-1.5', size: '1024x1024', n: 2, estimatedUSD: expect.closeTo(0.0184, 4), recordedTokens: 544 })
    // The sidecar's cost: 50 prompt tokens at $5/1M and 544 output tokens at $32/1M (#12).
    expect(rows[0]!.recordedCost).toEqual({ usd: (50 * 5 + 544 * 32) / 1e6, basis: 'usage' })
    expect(rows[1]!.recordedCost).toBeNull()
    expect(rows[0]!.key).toMatch(/^[0-9a-f]{64}$/)
    expect(rows[1]).toMatchObject({ model: 'dall-e-3', size: '1792x1024', estimatedUSD: 0.12, recordedTokens: null })
    // The row names the file: its note does not repeat it (#13).
    expect(rows[2]!.note).toMatch(/^SPEC_INVALID: field "size"/)
    const table = await cli(project, ['ls'], noKey)
    expect(table.stdout).toMatch(/^SPEC +KEY +MODEL +SIZE +STATUS +COST +RECORDED$/m)
    expect(table.stdout).toMatch(/src\/a\.imgprompt\.json +[0-9a-f]{12} +gpt-image-1\.5 +1024x1024 +hit +\$0\.018 est\. +544 tokens, \$0\.018 from usage/)
  })

  it('reports an invalid spec with the plugin error code, and exits 1', async () => {
    const project = await pricedProject()
    await project.write('src/bad.imgprompt.json', spec({ prompt: 'bad', qualty: 'high' }))
    const result = await cli(project, ['check'], noKey)
    expect(result.code).toBe(1)
    // The line names the file once (#13).
    expect(result.stdout).toContain('✗ src/bad.imgprompt.json  invalid: SPEC_INVALID: field "qualty" is not a known field. Did you mean "quality"?')
  })

  it('generate without a key says so and sends nothing', async () => {
    const project = await pricedProject()
    const result = await cli(project, ['generate'], noKey)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('AUTH: no API key: set OPENAI_API_KEY')
    expect(suite.emulator.requests).toHaveLength(0)
  })
})

describe('ai-image prune', () => {
  it('removes exactly the entries no spec uses; --dry-run removes nothing', async () => {
    const project = await pricedProject()
    await cli(project, ['generate'], suite.openaiEnv())
    const entries = async () => (await project.list('.ai-image')).filter((f) => f.endsWith('.json')).sort()
    const all = await entries()
    expect(all).toHaveLength(4)
    // b's prompt changes: its old entry is used by no spec any more.
    await project.write('src/b.imgprompt.json', spec({ prompt: 'a narrower hd sea', model: 'dall-e-3', size: '1792x1024', quality: 'hd' }))
    const plan = JSON.parse((await cli(project, ['ls', '--json'], noKey)).stdout) as Array<{ key: string }>
    const stale = all.filter((f) => !plan.some((row) => f.endsWith(`${row.key}.json`)))
    expect(stale).toHaveLength(1)

    const dry = await cli(project, ['prune', '--dry-run'], noKey)
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain(`would remove ${path.basename(stale[0]!).slice(0, 12)} (2 files)`)
    expect(dry.stdout).toContain('would remove 1 unused entry and 0 stale derived sets; 4 in use (dry run: nothing was removed)')
    expect(await entries()).toEqual(all)

    const real = await cli(project, ['prune'], noKey)
    expect(real.code, real.stderr).toBe(0)
    expect(real.stdout).toContain('removed 1 unused entry')
    expect(await entries()).toEqual(all.filter((f) => f !== stale[0]))
    expect((await project.list('.ai-image')).some((f) => f.includes(path.basename(stale[0]!, '.json')))).toBe(false)
    const check = await cli(project, ['check'], noKey)
    expect(check.stdout).toContain('✗ src/b.imgprompt.json  missing')
    expect(check.stdout).toContain('1 of 4 specs needs attention')
  })

  it('removes the derived files of images that left the cache', async () => {
    const project = suite.keep(
      await makeProject({
        'index.html': '<script type="module" src="/src/main.js"></script>\n',
        'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
        'src/a.imgprompt.json': spec({ prompt: 'a derived fox', model: 'gpt-image-2', size: '1024x1024', emit: { format: 'webp', widths: [64] } }),
      }),
    )
    await withEnv(suite.openaiEnv(), () => viteBuild(project.root))
    const derived = async () => (await project.list('node_modules/.cache/unplugin-ai-image')).filter((f) => f.endsWith('.json'))
    const before = await derived()
    expect(before).toHaveLength(1)

    // A new prompt: the old image leaves the cache with prune, and its derived files go with it.
    await project.write('src/a.imgprompt.json', spec({ prompt: 'another fox', model: 'gpt-image-2', size: '1024x1024', emit: { format: 'webp', widths: [64] } }))
    await withEnv(suite.openaiEnv(), () => viteBuild(project.root))
    expect(await derived()).toHaveLength(2)
    const dry = await cli(project, ['prune', '--dry-run'], noKey)
    expect(dry.stdout).toContain('would remove 1 unused entry and 1 stale derived set; 1 in use')
    expect(await derived()).toHaveLength(2)
    const real = await cli(project, ['prune'], noKey)
    expect(real.stdout).toContain('removed 1 unused entry and 1 stale derived set; 1 in use')
    const after = await derived()
    expect(after).toHaveLength(1)
    expect(after).not.toContain(before[0])
    // The build that follows is warm: nothing requested, nothing rebuilt.
    suite.emulator.reset()
    await withEnv(suite.openaiEnv(), () => viteBuild(project.root))
    expect(suite.emulator.requests).toHaveLength(0)
    expect(await derived()).toEqual(after)
  })

  it('refuses to prune while a spec is invalid', async () => {
    const project = await pricedProject()
    await cli(project, ['generate'], suite.openaiEnv())
    await project.write('src/b.imgprompt.json', '{ "prompt": ')
    const result = await cli(project, ['prune'], noKey)
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('nothing pruned: fix the invalid specs first')
    expect((await project.list('.ai-image')).filter((f) => f.endsWith('.json'))).toHaveLength(4)
  })
})

describe('ai-image beside a vite build', () => {
  it('bills each key once when generate runs alongside a build of the same project', async () => {
    // Slow answers and two requests per process, so both processes are generating at the same time.
    const emulator = await startEmulator({ latencyMs: 600 })
    try {
      const files: Record<string, string> = {
        'index.html': '<script type="module" src="/src/main.js"></script>\n',
        'ai-image.config.json': JSON.stringify({ concurrency: 2 }),
      }
      const imports: string[] = []
      for (let i = 0; i < 8; i++) {
        files[`src/s${i}.imgprompt.json`] = spec({ prompt: `shared spec ${i}`, model: 'gpt-image-2', size: '1024x1024', n: i % 2 ? 2 : 1 })
        imports.push(`import s${i} from './s${i}.imgprompt.json'`)
      }
      files['src/main.js'] = `${imports.join('\n')}\nconsole.log(${Array.from({ length: 8 }, (_, i) => `s${i}`).join(', ')})\n`
      const project = suite.keep(await makeProject(files))
      // The organization header tells which process sent each request.
      const env = (org: string) => ({ ...emulator.openaiEnv(), OPENAI_ORG_ID: org, CI: '', NO_COLOR: '1' })
      const build = new Promise<number>((resolve) =>
        spawn(process.execPath, [VITE_CHILD, project.root], { env: { ...process.env, ...env('org-build') }, stdio: 'ignore' }).on('close', (c) => resolve(c ?? 1)),
      )
      const [generated, buildCode] = await Promise.all([cli(project, ['generate'], env('org-cli')), build])
      expect(generated.code, generated.stderr).toBe(0)
      expect(buildCode).toBe(0)
      const by = (org: string) => emulator.requests.filter((r) => r.headers['openai-organization'] === org).length
      expect(by('org-cli'), 'the command generated some').toBeGreaterThan(0)
      expect(by('org-build'), 'the build generated some').toBeGreaterThan(0)
      expect(emulator.billedImages).toBe(12) // 4 specs × 1 + 4 specs × 2, each key once
      expect(emulator.requests.map((r) => r.body.prompt).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `shared spec ${i}`))
      expect((await cli(project, ['check'], noKey)).code).toBe(0)
    } finally {
      await emulator.close()
    }
  })
})

describe('help, usage and colour', () => {
  it('prints help for every command and documents exit codes', async () => {
    const project = await pricedProject()
    for (const command of ['generate', 'check', 'prune', 'ls']) {
      const result = await cli(project, [command, '--help'])
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`Usage: ai-image ${command}`)
      expect(result.stdout).toContain('Exit codes: 0 success, 1 problems found')
    }
    const main = await cli(project, ['--help'])
    expect(main.stdout).toMatch(/Commands:\n {2}generate/)
    expect((await cli(project, ['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('exits 2 on bad usage', async () => {
    const project = await pricedProject()
    expect((await cli(project, ['frobnicate'])).code).toBe(2)
    expect((await cli(project, ['ls', '--jsn'])).code).toBe(2)
    expect((await cli(project, ['check', 'extra'])).code).toBe(2)
    expect((await cli(project, [])).code).toBe(2)
    await project.write('ai-image.config.json', '{ "images": ')
    const broken = await cli(project, ['check'])
    expect(broken.code).toBe(2)
    expect(broken.stderr).toContain('SPEC_INVALID ai-image.config.json: cannot load the config file')
  })

  it('colours output only when allowed: FORCE_COLOR turns it on, NO_COLOR always off', async () => {
    const project = await pricedProject()
    const coloured = await cli(project, ['check'], { ...noKey, NO_COLOR: undefined, FORCE_COLOR: '1' })
    expect(coloured.stdout).toContain('\u001b[31m')
    const plain = await cli(project, ['check'], { ...noKey, NO_COLOR: '1', FORCE_COLOR: '1' })
    expect(plain.stdout).not.toContain('\u001b[')
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
