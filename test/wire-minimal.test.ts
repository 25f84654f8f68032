/**
 * The README's table "What is sent, and what it costs", row by row against the emulator: the body a minimal
 * spec sends to OpenAI and to Azure (only what the spec sets, plus what the plugin must control), the
 * sidecar's actual cost from the answer's `usage` at the listed token prices (or the table's figure where the
 * answer has none), and the estimate reserved before the call. The emulator checks every body against the
 * official schema and Azure's documented differences, so a row that sent a value Azure does not take fails.
 */
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { makeService } from './helpers/engine.js'
import { spec } from './helpers/project.js'
import { emulatorSuite, png } from './helpers/suite.js'

const suite = emulatorSuite()

interface Row {
  model: string
  spec: Record<string, unknown>
  openai: Record<string, unknown>
  /** undefined: refused before any request. */
  azure: Record<string, unknown> | undefined
  /** Whether the body goes with an `image` file (an edit). */
  withImage: boolean
  actual: string
  estimate: string
}

const code = (cell: string) => [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]!)

async function tableRows(): Promise<Row[]> {
  const readme = await readFile(path.join(import.meta.dirname, '..', 'README.md'), 'utf8')
  const start = readme.indexOf('<!-- wire-table')
  expect(start, 'the README has the wire table').toBeGreaterThan(0)
  const lines = readme.slice(start).split('\n').slice(1)
  const body = lines.slice(2, lines.findIndex((line, i) => i > 1 && !line.startsWith('|')))
  return body.map((line) => {
    const cells = line.split(' | ').map((c) => c.replace(/^\| ?| ?\|$/g, ''))
    expect(cells, line).toHaveLength(6)
    const [model, specCell, openaiCell, azureCell, actual, estimate] = cells as [string, string, string, string, string, string]
    const openai = JSON.parse(code(openaiCell)[0]!) as Record<string, unknown>
    return {
      model,
      spec: JSON.parse(code(specCell)[0]!) as Record<string, unknown>,
      openai,
      azure: azureCell.startsWith('refused') ? undefined : azureCell === 'same' ? openai : (JSON.parse(code(azureCell)[0]!) as Record<string, unknown>),
      withImage: openaiCell.includes('+ `image`'),
      actual,
      estimate,
    }
  })
}

const dollars = (text: string) => [...text.matchAll(/\$(\d+(?:\.\d+)?)/g)].map((m) => Number(m[1]))

async function run(row: Row, provider: 'openai' | 'azure') {
  const project = await suite.project({ 'src/in.png': await png(64, 64, [200, 120, 40]) })
  await writeFile(path.join(project.root, 'src/x.imgprompt.json'), spec(row.spec))
  const ref = { kind: 'file' as const, file: path.join(project.root, 'src/x.imgprompt.json') }
  const h = makeService(suite.emulator, project, { provider }, provider === 'azure' ? { env: suite.azureEnv() } : {})
  try {
    const [plan] = await h.service.plan([ref])
    const outcome = await h.service.resolve(await h.service.loadSpec(ref)).then(
      (image) => ({ image, error: undefined }),
      (error: Error) => ({ image: undefined, error }),
    )
    return { plan: plan!, ...outcome, requests: [...suite.emulator.requests] }
  } finally {
    await h.service.close()
    suite.emulator.reset()
  }
}

describe('the README table: what a minimal spec sends, and what it costs', async () => {
  const rows = await tableRows()

  it('lists every model of the table, snapshots aside', () => {
    expect(rows.map((r) => r.model.match(/`([^`]+)`/)?.[1] ?? r.model)).toEqual(
      expect.arrayContaining(['gpt-image-1.5', 'gpt-image-2', 'gpt-image-1', 'gpt-image-1-mini', 'dall-e-3', 'dall-e-2']),
    )
  })

  it.each(rows.map((row) => [row.model, row] as const))('%s: the body OpenAI receives, the actual cost and the estimate', async (_name, row) => {
    const { plan, image, error, requests } = await run(row, 'openai')
    expect(error).toBeUndefined()
    expect(requests).toHaveLength(Number(row.spec.n ?? 1) > 1 && String(row.spec.model).startsWith('dall-e-3') ? Number(row.spec.n) : 1)
    for (const request of requests) {
      expect(request.status).toBe(200)
      // Multipart fields arrive as strings.
      const expected = request.files.length ? Object.fromEntries(Object.entries(row.openai).map(([k, v]) => [k, String(v)])) : row.openai
      expect(request.body).toEqual(expected)
      expect(request.files.map((f) => f.field)).toEqual(row.withImage ? ['image'] : [])
    }

    const sidecar = image!.sidecar!
    const usage = sidecar.usage as { input_tokens_details: { text_tokens: number; image_tokens: number }; output_tokens: number } | null
    if (row.actual.startsWith('`usage`')) {
      // "$text / $image input / $output" per 1M tokens, applied to the answer's usage.
      const [text, imageIn, output] = dollars(row.actual)
      expect(usage).not.toBeNull()
      const usd = (usage!.input_tokens_details.text_tokens * text! + usage!.input_tokens_details.image_tokens * imageIn! + usage!.output_tokens * output!) / 1e6
      expect(sidecar.cost).toEqual({ usd: expect.closeTo(usd, 6), basis: 'usage' })
      if (row.withImage) expect(usage!.input_tokens_details.image_tokens).toBeGreaterThan(0)
      if (row.spec.partial_images) expect(usage!.output_tokens).toBeGreaterThan(Number(row.spec.n ?? 1) * 100 * Number(row.spec.partial_images))
    } else if (row.actual.startsWith('no `usage`')) {
      expect(usage).toBeNull()
      expect(sidecar.cost).toEqual({ usd: expect.closeTo(dollars(row.actual)[0]! * Number(row.spec.n ?? 1), 12), basis: 'estimate' })
    } else {
      // A model without a price: no cost recorded, no estimate.
      expect(sidecar.cost).toBeUndefined()
    }

    // The estimate: the listed figure per image, plus what the request adds (prompt, inputs, previews) only.
    const [perImage] = dollars(row.estimate)
    const images = Number(row.spec.n ?? 1)
    if (perImage === undefined) {
      expect(plan.estimate?.usd).toBeUndefined()
    } else {
      expect(plan.estimate!.usd).toBeGreaterThanOrEqual(perImage * images - 0.0005)
      expect(plan.estimate!.usd).toBeLessThan(perImage * images + 0.02)
      // "(high 1024x1536 …)": the quality and size the figure is for are those the estimate names.
      const [quality, size] = /\((\w+) (\d+x\d+)/.exec(row.estimate)?.slice(1) ?? []
      if (quality && size) expect(plan.estimate!.basis).toMatch(new RegExp(`${quality}\\b.* ${size}\\b`))
    }
  })

  it.each(rows.map((row) => [row.model, row] as const))('%s: the body Azure receives (or the refusal before any request)', async (_name, row) => {
    const { error, requests } = await run(row, 'azure')
    if (row.azure === undefined) {
      expect(error?.message).toMatch(/SPEC_INVALID.*not offered by Azure OpenAI/)
      expect(requests).toHaveLength(0)
      return
    }
    expect(error).toBeUndefined()
    expect(requests.length).toBeGreaterThan(0)
    for (const request of requests) {
      expect(request.status).toBe(200)
      expect(request.url).toMatch(/^\/openai\/deployments\/[^/]+\/images\/(generations|edits)\?api-version=/)
      const expected = request.files.length ? Object.fromEntries(Object.entries(row.azure).map(([k, v]) => [k, String(v)])) : row.azure
      expect(request.body).toEqual(expected)
    }
  })
})
