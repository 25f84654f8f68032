/**
 * The `ai-image` command's details a newcomer meets first (issue #13), run as the built binary: `ls` exits 1
 * when a spec is invalid (as the README says), its JSON dollars carry no floating-point noise, estimates
 * count the streamed previews of streamed specs, and a line about an invalid spec names its file once.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { makeProject, spec, type TempProject } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const suite = emulatorSuite()
const noKey = { OPENAI_API_KEY: '', AZURE_OPENAI_ENDPOINT: '' }

interface Result {
  code: number
  stdout: string
  stderr: string
}

function cli(project: TempProject, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: project.root, env: { ...process.env, CI: '', NO_COLOR: '1', ...noKey } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

interface Row {
  file: string
  status: string
  estimatedUSD: number | null
  note?: string
}

describe('ai-image ls', () => {
  it('exits 1 when a spec is invalid, naming its file once on its line', async () => {
    const project = suite.keep(
      await makeProject({
        'src/a.imgprompt.json': spec({ prompt: 'a red door' }),
        'src/deep/b.imgprompt.json': spec({ prompt: 'a blue door', size: '1792x1024' }),
      }),
    )
    const listed = await cli(project, ['ls'])
    expect(listed.code, listed.stdout + listed.stderr).toBe(1)
    const note = listed.stdout.split('\n').find((line) => line.startsWith('src/deep/b.imgprompt.json: '))
    expect(note, listed.stdout).toBeDefined()
    expect(note).toContain('SPEC_INVALID')
    expect(note!.match(/b\.imgprompt\.json/g)).toHaveLength(1)

    const json = await cli(project, ['ls', '--json'])
    expect(json.code).toBe(1)
    expect((JSON.parse(json.stdout) as Row[]).map((r) => [r.file, r.status])).toEqual([
      ['src/a.imgprompt.json', 'miss'],
      ['src/deep/b.imgprompt.json', 'invalid'],
    ])

    const check = await cli(project, ['check'])
    expect(check.code).toBe(1)
    const line = check.stdout.split('\n').find((l) => l.includes('b.imgprompt.json'))!
    expect(line.match(/b\.imgprompt\.json/g), check.stdout).toHaveLength(1)
  })

  it('exits 0 when every spec is valid, misses included', async () => {
    const project = suite.keep(await makeProject({ 'src/a.imgprompt.json': spec({ prompt: 'a red door' }) }))
    expect((await cli(project, ['ls'])).code).toBe(0)
  })

  it('prints dollars rounded to a millionth in JSON, and counts the streamed previews of streamed specs', async () => {
    const fields = { model: 'gpt-image-1.5', size: '1024x1024', quality: 'low' }
    const project = suite.keep(
      await makeProject({
        // 3 × $0.009 is 0.026999999999999996 in floating point.
        'src/three.imgprompt.json': spec({ prompt: 'three pears', ...fields, n: 3 }),
        'src/plain.imgprompt.json': spec({ prompt: 'a pear', ...fields }),
        'src/streamed.imgprompt.json': spec({ prompt: 'a streamed pear', ...fields, stream: true, partial_images: 2 }),
      }),
    )
    const json = await cli(project, ['ls', '--json'])
    expect(json.code, json.stderr).toBe(0)
    expect(json.stdout).not.toMatch(/\d\.\d{7,}/)
    const rows = Object.fromEntries((JSON.parse(json.stdout) as Row[]).map((r) => [r.file, r.estimatedUSD]))
    // Each estimate also counts its prompt, erring high: one token per byte plus 64, at $5 per million text tokens.
    // 3 × $0.009 + 75 prompt tokens ($0.000375).
    expect(rows['src/three.imgprompt.json']).toBe(0.027375)
    // $0.009 + 70 prompt tokens ($0.00035).
    expect(rows['src/plain.imgprompt.json']).toBe(0.00935)
    // $0.009 + 79 prompt tokens ($0.000395) + two previews of 100 output tokens each, at gpt-image-1.5's $32 per
    // million image output tokens ($0.0064).
    expect(rows['src/streamed.imgprompt.json']).toBe(0.015795)

    // The dry run's estimate counts them too.
    const dry = await cli(project, ['generate', '--dry-run'])
    expect(dry.stdout).toMatch(/2 streamed previews \(100 output tokens each\) an image/)
  })
})
