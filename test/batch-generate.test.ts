/**
 * `ai-image generate --batch` (#16), run as the built binary against the emulator's Files and Batches
 * endpoints: submit then collect (each image verified, the entry written with its usage and its cost at batch
 * prices), --wait with progress, --cancel, --dry-run at batch prices, the budget, a line refused by the
 * content filter, an expired batch with partial results (the rest submitted again), models and Azure refused
 * before anything is uploaded, and two processes collecting the same batch writing each entry once.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { customIdOf } from '../src/core/batch/index.js'
import { spec, type TempProject } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'
import { withEnv } from './helpers/env.js'

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const RENAME_SPY = fileURLToPath(new URL('./helpers/rename-spy.mjs', import.meta.url))
const suite = emulatorSuite()

interface Result {
  code: number
  stdout: string
  stderr: string
}

function cli(project: TempProject, args: string[], env: Record<string, string | undefined> = suite.openaiEnv()): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: project.root, env: { ...process.env, CI: '', NO_COLOR: '1', ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

const noKey = { OPENAI_API_KEY: '', AZURE_OPENAI_ENDPOINT: '' }
const low = (prompt: string, more: Record<string, unknown> = {}) => spec({ prompt, model: 'gpt-image-1.5', size: '1024x1024', quality: 'low', ...more })

async function records(project: TempProject): Promise<string[]> {
  return (await readdir(path.join(project.root, '.ai-image/batches')).catch(() => [])).filter((name) => name.endsWith('.json'))
}

async function onlyBatch(project: TempProject): Promise<{ id: string; inputFileId: string; keys: string[] }> {
  const names = await records(project)
  expect(names).toHaveLength(1)
  const record = JSON.parse(await readFile(path.join(project.root, '.ai-image/batches', names[0]!), 'utf8')) as { id: string; input_file_id: string; keys: Record<string, unknown> }
  return { id: record.id, inputFileId: record.input_file_id, keys: Object.keys(record.keys) }
}

async function sidecars(project: TempProject): Promise<Array<Record<string, any>>> {
  const files = (await project.list('.ai-image')).filter((f) => /^[0-9a-f]{2}\/[0-9a-f]{64}\.json$/.test(f))
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(path.join(project.root, '.ai-image', f), 'utf8')) as Record<string, any>))
}

const uploads = () => suite.emulator.batches.requests.filter((r) => r.method === 'POST' && r.path === '/v1/files')

describe('ai-image generate --batch', () => {
  it('submits the misses and exits; check and ls report them pending; a later run collects them with their cost at batch prices', async () => {
    const project = await suite.project({
      'src/a.imgprompt.json': low('a lighthouse at dusk'),
      'src/b.imgprompt.json': spec({ prompt: 'two kites', model: 'gpt-image-1-mini', size: '1024x1024', quality: 'low', n: 2, output_format: 'jpeg' }),
      'src/main.js': "import a from './a.imgprompt.json'\nimport b from './b.imgprompt.json'\nconsole.log(a, b)\n",
    })
    const submitted = await cli(project, ['generate', '--batch'])
    expect(submitted.code, submitted.stdout + submitted.stderr).toBe(0)
    expect(submitted.stdout).toMatch(/submitted batch batch_\w+ \(\/v1\/images\/generations\): 2 requests, 3 images for 2 specs, estimated \$0\.0[01]\d at batch prices/)
    expect(submitted.stdout).toMatch(/0 collected, 3 images submitted in 1 batch \(estimated \$0\.0[01]\d at batch prices\), 2 pending/)
    // Nothing generated synchronously: one upload, one batch.
    expect(suite.emulator.requests).toHaveLength(0)
    expect(suite.emulator.batches.requests.map((r) => [r.method, r.path])).toEqual([
      ['POST', '/v1/files'],
      ['POST', '/v1/batches'],
    ])
    const batch = await onlyBatch(project)

    const check = await cli(project, ['check'], noKey)
    expect(check.code).toBe(1)
    expect(check.stdout).toMatch(new RegExp(`⧗ src/a\\.imgprompt\\.json  pending in batch ${batch.id}, submitted \\d+ s ago`))
    expect(check.stdout).toContain('collect with `npx ai-image generate --batch`')
    const ls = await cli(project, ['ls', '--json'], noKey)
    const rows = JSON.parse(ls.stdout) as Array<{ file: string; status: string; batch?: { id: string } }>
    expect(rows.map((r) => [r.file, r.status, r.batch?.id])).toEqual([
      ['src/a.imgprompt.json', 'pending', batch.id],
      ['src/b.imgprompt.json', 'pending', batch.id],
    ])

    // Still validating: nothing to collect, nothing submitted again.
    const early = await cli(project, ['generate', '--batch'])
    expect(early.code).toBe(0)
    expect(early.stderr).toContain(`${batch.id}: validating (submitted`)
    expect(early.stdout).toContain('0 collected, 0 images submitted in 0 batches, 2 pending')
    expect(uploads()).toHaveLength(1)

    await suite.emulator.batches.advance(batch.id, 'completed')
    const collected = await cli(project, ['generate', '--batch'])
    expect(collected.code, collected.stdout + collected.stderr).toBe(0)
    expect(collected.stdout).toContain(`✓ src/a.imgprompt.json  collected from ${batch.id}`)
    expect(collected.stdout).toContain(`batch ${batch.id} completed: 2 entries written`)
    expect(collected.stdout).toContain('2 collected, 0 images submitted in 0 batches, 0 pending')
    expect(await records(project)).toEqual([])
    expect(suite.emulator.requests).toHaveLength(0)

    const entries = await sidecars(project)
    const byPrompt = Object.fromEntries(entries.map((s) => [s.request.prompt, s]))
    // gpt-image-1-mini: priced from usage (50 text tokens in, 272 per image out) at half the per-token price.
    expect(byPrompt['two kites']!.cost).toEqual({ usd: ((50 * 2 + 544 * 8) / 1e6) * 0.5, basis: 'usage' })
    expect(byPrompt['two kites']!.usage).toMatchObject({ output_tokens: 544 })
    expect(byPrompt['two kites']!.images.map((i: { mime: string }) => i.mime)).toEqual(['image/jpeg', 'image/jpeg'])
    // gpt-image-1.5 too, at its own per-token prices ($5 text in, $32 out per 1M; #12).
    expect(byPrompt['a lighthouse at dusk']!.cost).toEqual({ usd: ((50 * 5 + 272 * 32) / 1e6) * 0.5, basis: 'usage' })
    expect(byPrompt['a lighthouse at dusk']!.request_id).toMatch(/^req_/)

    const verified = await cli(project, ['check'], noKey)
    expect(verified.code, verified.stdout).toBe(0)
    // A frozen build without a key uses them.
    await withEnv({ ...noKey, CI: 'true' }, () => viteBuild(project.root))
    expect(suite.emulator.requests).toHaveLength(0)
  })
})

describe('ai-image generate --batch: waiting, cancelling, pricing', () => {
  it('--wait polls with progress on stderr until the batch is collected', async () => {
    const project = await suite.project({ 'src/a.imgprompt.json': low('a quiet harbour') })
    suite.emulator.batches.stepOnGet = true
    const result = await cli(project, ['generate', '--batch', '--wait', '--interval', '1'])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stderr).toContain('waiting for 1 batch; next look in 1 s')
    expect(result.stderr).toMatch(/batch_\w+: in_progress, 0 of 1 requests done/)
    expect(result.stderr).toMatch(/batch_\w+: finalizing/)
    expect(result.stdout).toMatch(/batch batch_\w+ completed: 1 entry written/)
    expect(result.stdout).toMatch(/1 collected, 1 image submitted in 1 batch \(estimated \$0\.005 at batch prices\), 0 pending/)
    expect(await records(project)).toEqual([])
    expect((await cli(project, ['check'], noKey)).code).toBe(0)
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it('--cancel cancels the batch, waits until it stops, keeps what it finished; the rest is no longer pending and generate makes it', async () => {
    const project = await suite.project({ 'src/a.imgprompt.json': low('finished early'), 'src/b.imgprompt.json': low('never started') })
    suite.emulator.batches.outcome = (line) => (line.body.prompt === 'never started' ? 'late' : 'ok')
    expect((await cli(project, ['generate', '--batch'])).code).toBe(0)
    const batch = await onlyBatch(project)
    suite.emulator.batches.stepOnGet = true
    const cancelled = await cli(project, ['generate', '--batch', '--cancel', '--interval', '1'])
    expect(cancelled.code, cancelled.stdout + cancelled.stderr).toBe(0)
    expect(suite.emulator.batches.requests.some((r) => r.path === `/v1/batches/${batch.id}/cancel`)).toBe(true)
    expect(cancelled.stdout).toContain(`cancel asked of batch ${batch.id} (cancelling)`)
    expect(cancelled.stdout).toContain(`✓ src/a.imgprompt.json  collected from ${batch.id}`)
    expect(cancelled.stdout).toMatch(/↻ src\/b\.imgprompt\.json  not finished by batch_\w+ \(.*\): no longer pending/)
    expect(cancelled.stdout).toContain('1 collected, 0 images submitted in 0 batches, 0 pending')
    expect(await records(project)).toEqual([])
    expect(uploads()).toHaveLength(1)

    suite.emulator.batches.stepOnGet = false
    const generated = await cli(project, ['generate'])
    expect(generated.code, generated.stdout).toBe(0)
    expect(generated.stdout).toContain('1 generated, 1 already cached')
    expect(suite.emulator.requests.map((r) => r.body.prompt)).toEqual(['never started'])
  })

  it('--dry-run prices the batch at half the price and sends nothing; the budget counts batch prices', async () => {
    const project = await suite.project({ 'src/a.imgprompt.json': low('one pear'), 'src/b.imgprompt.json': low('two pears') })
    const batchDry = await cli(project, ['generate', '--batch', '--dry-run'])
    expect(batchDry.code, batchDry.stdout).toBe(0)
    expect(batchDry.stdout).toMatch(/src\/a\.imgprompt\.json  1 image  \$0\.005  gpt-image-1\.5 low 1024x1024 \+ prompt ≤ \d+ tokens, at batch prices \(50%\), estimate/)
    expect(batchDry.stdout).toContain('2 of 2 specs to submit, 2 images, estimated total $0.009 at batch prices (50% of the synchronous price); 0 pending; dry run: nothing was sent')
    // Without a key too: the plan is what OpenAI's Batch API would take.
    const keyless = await cli(project, ['generate', '--batch', '--dry-run'], noKey)
    expect(keyless.code, keyless.stdout).toBe(0)
    expect(keyless.stdout).toContain('estimated total $0.009 at batch prices')
    const syncDry = await cli(project, ['generate', '--dry-run'])
    // $0.009 an image and the prompt's tokens (#12), twice.
    expect(syncDry.stdout).toContain('estimated total $0.019')
    expect(suite.emulator.batches.requests).toHaveLength(0)
    expect(suite.emulator.requests).toHaveLength(0)

    // $0.005 holds one image at batch prices ($0.0045 and the prompt's tokens), none at the synchronous price ($0.009).
    await project.write('ai-image.config.json', JSON.stringify({ budget: { maxUSD: 0.005 } }))
    const budgeted = await cli(project, ['generate', '--batch'])
    expect(budgeted.code).toBe(1)
    expect(budgeted.stdout).toMatch(/✗ src\/b\.imgprompt\.json  BUDGET_EXCEEDED src\/b\.imgprompt\.json: not generated: an estimated \$0\.005 more would pass budget\.maxUSD = \$0\.005/)
    expect(budgeted.stdout).toMatch(/submitted batch batch_\w+ \(\/v1\/images\/generations\): 1 request, 1 image for 1 spec/)
    const [line] = suite.emulator.batches.linesOf((await onlyBatch(project)).inputFileId)
    expect(line!.body.prompt).toBe('one pear')
  })
})

describe('ai-image generate --batch: refusals and per-line outcomes', () => {
  it('refuses models the Batch API does not take before anything is uploaded, and Azure altogether', async () => {
    const project = await suite.project({
      'src/old.imgprompt.json': spec({ prompt: 'a wide sea', model: 'dall-e-3', size: '1792x1024', quality: 'hd' }),
      'src/new.imgprompt.json': low('a new sea'),
    })
    const azure = await cli(project, ['generate', '--batch'], suite.azureEnv())
    expect(azure.code).toBe(1)
    expect(azure.stderr).toContain('the Batch API for images is OpenAI-only')
    expect(azure.stderr).toContain('nothing was uploaded')
    expect(suite.emulator.batches.requests).toHaveLength(0)
    expect(suite.emulator.requests).toHaveLength(0)

    const openai = await cli(project, ['generate', '--batch'])
    expect(openai.code).toBe(1)
    expect(openai.stdout).toContain('✗ src/old.imgprompt.json  SPEC_INVALID src/old.imgprompt.json: field "model" "dall-e-3" is not taken by the Batch API for images')
    const lines = suite.emulator.batches.linesOf((await onlyBatch(project)).inputFileId)
    expect(lines.map((l) => l.body.prompt)).toEqual(['a new sea'])
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it('a line refused by the content filter is the CONTENT_FILTERED error of its spec; the others are written; it is not submitted again in that run', async () => {
    const project = await suite.project({ 'src/good.imgprompt.json': low('a calm meadow'), 'src/bad.imgprompt.json': low('something the filter refuses') })
    suite.emulator.batches.outcome = (line) => (line.body.prompt === 'something the filter refuses' ? 'content-filter' : 'ok')
    expect((await cli(project, ['generate', '--batch'])).code).toBe(0)
    const batch = await onlyBatch(project)
    await suite.emulator.batches.advance(batch.id, 'completed')
    const collected = await cli(project, ['generate', '--batch'])
    expect(collected.code).toBe(1)
    expect(collected.stdout).toMatch(new RegExp(`✗ src/bad\\.imgprompt\\.json  CONTENT_FILTERED src/bad\\.imgprompt\\.json: .* \\(batch ${batch.id}\\)`))
    expect(collected.stdout).toContain('✓ src/good.imgprompt.json  collected')
    expect(collected.stdout).toContain(`batch ${batch.id} completed: 1 entry written, 1 failed`)
    expect(collected.stdout).toContain('1 collected, 0 images submitted in 0 batches, 0 pending, 1 failed')
    expect(uploads()).toHaveLength(1)
    expect(await records(project)).toEqual([])
    const check = await cli(project, ['check'], noKey)
    expect(check.stdout).toMatch(/✗ src\/bad\.imgprompt\.json  missing/)
    expect(check.stdout).not.toContain('good.imgprompt.json')
  })

  it('an expired batch keeps what it finished; the rest is submitted again in a new batch', async () => {
    const project = await suite.project({
      'src/a.imgprompt.json': low('done one'),
      'src/b.imgprompt.json': low('done two'),
      'src/c.imgprompt.json': low('too late'),
    })
    suite.emulator.batches.outcome = (line) => (line.body.prompt === 'too late' ? 'late' : 'ok')
    expect((await cli(project, ['generate', '--batch'])).code).toBe(0)
    const first = await onlyBatch(project)
    const record = JSON.parse(await readFile(path.join(project.root, '.ai-image/batches', `${first.id}.json`), 'utf8')) as { keys: Record<string, { label: string }> }
    const lateKey = Object.entries(record.keys).find(([, k]) => k.label === 'src/c.imgprompt.json')![0]
    await suite.emulator.batches.advance(first.id, 'expired')

    const next = await cli(project, ['generate', '--batch'])
    expect(next.code, next.stdout + next.stderr).toBe(0)
    expect(next.stdout).toContain(`batch ${first.id} expired: 2 entries written, 1 not finished`)
    expect(next.stdout).toMatch(new RegExp(`↻ src/c\\.imgprompt\\.json  not finished by ${first.id} \\(.*\\): submitted again`))
    expect(next.stdout).toMatch(/submitted batch batch_\w+ \(\/v1\/images\/generations\): 1 request, 1 image for 1 spec/)
    const second = await onlyBatch(project)
    expect(second.id).not.toBe(first.id)
    expect(second.keys).toEqual([lateKey])
    expect(suite.emulator.batches.linesOf(second.inputFileId).map((l) => l.custom_id)).toEqual([customIdOf(lateKey, [0])])
    const check = await cli(project, ['check'], noKey)
    expect(check.stdout).toMatch(new RegExp(`⧗ src/c\\.imgprompt\\.json  pending in batch ${second.id}`))
    expect(check.stdout).toContain('1 of 3 specs needs attention')
  })
})

describe('ai-image generate --batch: two processes collecting one batch', () => {
  it('write each entry once: the second finds it in the cache under the key lock', async () => {
    const files: Record<string, string> = {}
    for (let i = 0; i < 6; i++) files[`src/s${i}.imgprompt.json`] = spec({ prompt: `tile number ${i}`, model: 'gpt-image-2', size: '1024x1024', quality: 'low' })
    const project = await suite.project(files)
    expect((await cli(project, ['generate', '--batch'])).code).toBe(0)
    const batch = await onlyBatch(project)
    const done = await suite.emulator.batches.advance(batch.id, 'completed')
    const outputId = done.output_file_id!
    const original = suite.emulator.batches.files.get(outputId)!.content as Buffer
    const contentGets = () => suite.emulator.batches.requests.filter((r) => r.path === `/v1/files/${outputId}/content`).length
    // Both processes are reading the output before either has written anything: a barrier at the first byte.
    suite.emulator.batches.setOutput(batch.id, async function* () {
      for (const deadline = Date.now() + 30_000; contentGets() < 2 && Date.now() < deadline; ) await sleep(20)
      for (const line of original.toString('utf8').split('\n').filter(Boolean)) {
        yield `${line}\n`
        await sleep(25)
      }
    })

    const log = path.join(project.root, 'renames.jsonl')
    await writeFile(log, '')
    const both = await Promise.all([0, 1].map(() => spawnCli(project, ['generate', '--batch'], { ...suite.openaiEnv(), RENAME_LOG: log })))
    for (const result of both) expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(contentGets()).toBe(2)

    const entryFile = /[\\/]\.ai-image[\\/][0-9a-f]{2}[\\/]([0-9a-f]{64})(?:\.json|-0\.png)$/
    const writes = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { pid: number; to: string })
      .filter((w) => entryFile.test(w.to))
    const perFile = new Map<string, number>()
    for (const w of writes) perFile.set(w.to, (perFile.get(w.to) ?? 0) + 1)
    // Six sidecars and six images, each renamed into place exactly once across both processes.
    expect(perFile.size).toBe(12)
    expect([...perFile.values()].every((count) => count === 1)).toBe(true)
    const written = both.map((r) => Number(/(\d+) collected/.exec(r.stdout)?.[1] ?? -1))
    expect(written[0]! + written[1]!).toBe(6)
    const skipped = both.map((r) => (r.stdout.match(/already in the cache \(collected by another process\)/g) ?? []).length)
    expect(skipped[0]! + skipped[1]!).toBe(6)
    expect(await records(project)).toEqual([])
    expect((await cli(project, ['check'], noKey)).code).toBe(0)
  })
})

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function spawnCli(project: TempProject, args: string[], env: Record<string, string | undefined>): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', RENAME_SPY, CLI, ...args], { cwd: project.root, env: { ...process.env, CI: '', NO_COLOR: '1', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })
}
