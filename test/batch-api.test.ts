/**
 * The Batch API layer against the emulator's Files and Batches endpoints: submit (every line valid against
 * the official schema), poll, download (streamed, bounded), parse and verify; per-line errors as the named
 * errors of synchronous calls; expired, cancelled and failed batches; hostile answers; and the pending-batch
 * records of the cache folder.
 */
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  batchesDir,
  buildLine,
  checkBatchable,
  collectBatch,
  createBatchClient,
  customIdOf,
  listPending,
  readRecord,
  readRecords,
  submitBatches,
  waitForBatch,
  writeRecord,
  type BatchClient,
  type BatchItem,
  type BatchRecord,
  type CollectedLine,
} from '../src/core/batch/index.js'
import { virtualClock } from '../src/core/clock.js'
import { BATCH_PRICE_FACTOR, estimateCost } from '../src/core/engine/cost.js'
import type { PreparedSpec } from '../src/core/engine/prepare.js'
import { AiImageError } from '../src/core/errors.js'
import type { OpenAIProviderConfig } from '../src/core/providers/openai/config.js'
import { ImageService } from '../src/core/service.js'
import { TEST_OPENAI_KEY } from './emulator/index.js'
import { schemaErrors } from './emulator/schema.js'
import type { TempProject } from './helpers/project.js'
import { emulatorSuite, failure } from './helpers/suite.js'

const suite = emulatorSuite()
let project: TempProject
let config: OpenAIProviderConfig
let client: BatchClient
let inputPng: Buffer
let maskPng: Buffer
let caches = 0

const silent = { info: () => {}, warn: () => {}, error: () => {} }
const noUpload = async (): Promise<string> => {
  throw new Error('no upload expected')
}

beforeAll(async () => {
  inputPng = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 40, b: 40 } } }).png().toBuffer()
  maskPng = await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer()
  project = await suite.project({ 'src/in.png': inputPng, 'src/mask.png': maskPng })
  config = { kind: 'openai', apiKey: TEST_OPENAI_KEY, baseURL: suite.emulator.openaiBaseURL, organization: 'org-batch', project: 'proj-batch' }
  client = createBatchClient(config, { timeout: 30_000 })
})

afterAll(async () => {
  await client?.close()
})

function freshCache(): string {
  return path.join(project.root, `.ai-image-${++caches}`)
}

/** Spec files → the requests the engine would make for them (its `providerRequest()`), with their key material. */
async function itemsFor(specs: Record<string, Record<string, unknown>>): Promise<BatchItem[]> {
  const service = new ImageService({ provider: 'openai', openai: config }, { root: project.root, env: {}, sink: silent })
  const items: BatchItem[] = []
  try {
    for (const [name, fields] of Object.entries(specs)) {
      const file = path.join(project.root, 'src', `${name}.imgprompt.json`)
      await writeFile(file, JSON.stringify(fields))
      const spec = await service.loadSpec({ kind: 'file', file })
      const prepared = await service.prepare(spec, [], async () => {
        throw new Error('no chains in these tests')
      })
      items.push(itemOf(prepared))
    }
  } finally {
    await service.close()
  }
  return items
}

function itemOf(prepared: PreparedSpec): BatchItem {
  const { spec } = prepared
  const indices = [...Array(Number(spec.request.n)).keys()]
  const input = ({ name, data, mime }: { name: string; data: Buffer; mime: string }) => ({ name, data, mime })
  return {
    request: {
      label: spec.label,
      key: prepared.key,
      endpoint: spec.endpoint,
      params: { ...spec.request, n: indices.length },
      inputs: prepared.inputs.map(input),
      ...(prepared.mask ? { mask: input(prepared.mask) } : {}),
      ...(spec.transport.user === undefined ? {} : { user: spec.transport.user }),
      ...(spec.transport.stream ? { stream: { partialImages: spec.transport.partialImages } } : {}),
    },
    indices,
    material: prepared.material,
  }
}

async function submit(items: BatchItem[], cacheDir: string, extra: Partial<Parameters<typeof submitBatches>[2]> = {}) {
  return submitBatches(client, items, { cacheDir, provider: config, warn: () => {}, ...extra })
}

async function collect(record: BatchRecord, cacheDir: string, using: BatchClient = client) {
  const lines: CollectedLine[] = []
  const warnings: string[] = []
  const summary = await collectBatch(using, cacheDir, record, { onLine: (line) => void lines.push(line), warn: (m) => warnings.push(m) })
  const byLabel = Object.fromEntries(lines.map((line) => [line.label, line]))
  return { summary, lines, byLabel, warnings }
}

const low = (prompt: string, more: Record<string, unknown> = {}) => ({ prompt, model: 'gpt-image-1.5', size: '1024x1024', quality: 'low', ...more })

describe('submitting and collecting', () => {
  it('submits generations, polls validating → in_progress → finalizing → completed, and collects verified images with usage', async () => {
    const cacheDir = freshCache()
    const items = await itemsFor({
      one: low('a lighthouse at dusk'),
      two: { prompt: 'two kites', model: 'gpt-image-1-mini', size: '1536x1024', quality: 'low', n: 2, output_format: 'jpeg', stream: true, partial_images: 1 },
    })
    const submitted = await submit(items, cacheDir)
    expect(submitted).toHaveLength(1)
    const { batch, record } = submitted[0]!
    expect(batch.status).toBe('validating')
    expect(record.lines.map((l) => [l.key, l.indices])).toEqual([
      [items[0]!.request.key, [0]],
      [items[1]!.request.key, [0, 1]],
    ])

    const wire = suite.emulator.batches.requests
    expect(wire.map((r) => [r.method, r.path, r.purpose, r.status])).toEqual([
      ['POST', '/v1/files', 'batch', 200],
      ['POST', '/v1/batches', undefined, 200],
    ])
    expect(wire[0]!.headers).toMatchObject({ authorization: `Bearer ${TEST_OPENAI_KEY}`, 'openai-organization': 'org-batch', 'openai-project': 'proj-batch' })
    const lines = suite.emulator.batches.linesOf(record.input_file_id)
    expect(lines.map((l) => [l.custom_id, l.method, l.url])).toEqual([
      [customIdOf(items[0]!.request.key, [0]), 'POST', '/v1/images/generations'],
      [customIdOf(items[1]!.request.key, [0, 1]), 'POST', '/v1/images/generations'],
    ])
    for (const line of lines) expect(schemaErrors('generations', line.body)).toBeUndefined()
    // A batch never streams: the spec's stream settings stay out of the line.
    expect(lines[1]!.body).not.toHaveProperty('stream')
    expect(lines[1]!.body).not.toHaveProperty('partial_images')
    expect(lines[1]!.body).toMatchObject({ model: 'gpt-image-1-mini', n: 2, output_format: 'jpeg' })

    suite.emulator.batches.stepOnGet = true
    const seen: string[] = []
    const final = await waitForBatch(client, batch.id, { intervalMs: 1, onStatus: (b) => seen.push(b.status) })
    expect(seen).toEqual(['in_progress', 'finalizing', 'completed'])
    expect(final.counts).toEqual({ total: 2, completed: 2, failed: 0 })

    const { summary, byLabel } = await collect(record, cacheDir)
    expect(summary).toMatchObject({ finished: true, images: 2, errors: 0, notDone: 0, unattributable: [] })
    const two = byLabel['src/two.imgprompt.json']!
    if (two.kind !== 'images') throw new Error(`expected images, got ${two.kind}`)
    expect(two.indices).toEqual([0, 1])
    expect(two.images.map((i) => [i.facts.format, i.facts.width, i.facts.height])).toEqual([
      ['jpeg', 1536, 1024],
      ['jpeg', 1536, 1024],
    ])
    expect(two.usage).toMatchObject({ output_tokens: 544 })
    expect(two.requestId).toMatch(/^req_/)
    expect(byLabel['src/one.imgprompt.json']).toMatchObject({ kind: 'images' })
    // Everything collected: the record is gone.
    expect(await readdir(batchesDir(cacheDir))).toEqual([])
  })

  it('sends edits as EditImageBodyJsonParam JSON with the image and mask as data URLs', async () => {
    const cacheDir = freshCache()
    const items = await itemsFor({ edit: low('make it blue', { image: './in.png', mask: './mask.png', input_fidelity: 'high' }) })
    const [{ batch, record }] = (await submit(items, cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    expect(batch.endpoint).toBe('/v1/images/edits')
    const [line] = suite.emulator.batches.linesOf(record.input_file_id)
    expect(line!.url).toBe('/v1/images/edits')
    expect(schemaErrors('editsJson', line!.body)).toBeUndefined()
    expect(line!.body).toMatchObject({
      model: 'gpt-image-1.5',
      prompt: 'make it blue',
      input_fidelity: 'high',
      images: [{ image_url: `data:image/png;base64,${inputPng.toString('base64')}` }],
      mask: { image_url: `data:image/png;base64,${maskPng.toString('base64')}` },
    })
    await suite.emulator.batches.advance(batch.id, 'completed')
    const { summary, lines } = await collect(record, cacheDir)
    expect(summary).toMatchObject({ finished: true, images: 1 })
    expect(lines[0]).toMatchObject({ kind: 'images', label: 'src/edit.imgprompt.json' })
  })

  it('uploads an edit input too large for a data URL and refers to it by file id, then deletes it once collected', async () => {
    const cacheDir = freshCache()
    // Noise at 2300x2300 RGBA does not compress: over the schema's 20 MiB limit on image_url once in base64.
    const noise = Buffer.alloc(2300 * 2300 * 4)
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24
    const big = await sharp(noise, { raw: { width: 2300, height: 2300, channels: 4 } }).png({ compressionLevel: 0 }).toBuffer()
    expect(Math.ceil(big.length / 3) * 4).toBeGreaterThan(20_971_520)
    await project.write('src/big.png', big)
    const items = await itemsFor({ bigedit: low('frame it', { image: './big.png' }) })
    const [{ batch, record }] = (await submit(items, cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    expect(suite.emulator.batches.requests.map((r) => [r.path, r.purpose])).toEqual([
      ['/v1/files', 'vision'],
      ['/v1/files', 'batch'],
      ['/v1/batches', undefined],
    ])
    expect(record.uploaded_file_ids).toHaveLength(1)
    const [line] = suite.emulator.batches.linesOf(record.input_file_id)
    expect(line!.body.images).toEqual([{ file_id: record.uploaded_file_ids[0] }])
    expect(schemaErrors('editsJson', line!.body)).toBeUndefined()

    await suite.emulator.batches.advance(batch.id, 'completed')
    const { summary } = await collect(record, cacheDir)
    expect(summary).toMatchObject({ finished: true, images: 1 })
    expect(suite.emulator.batches.files.has(record.uploaded_file_ids[0]!)).toBe(false)
  })

  it('splits past the line or byte limit of an input file, and sends generations and edits in separate batches', async () => {
    const cacheDir = freshCache()
    const items = await itemsFor({
      s1: low('split one'),
      s2: low('split two'),
      s3: low('split three'),
      s4: low('split four'),
      s5: low('split five', { image: './in.png' }),
    })
    const byLines = await submit(items, cacheDir, { limits: { lines: 2, bytes: 200 * 1024 * 1024 } })
    expect(byLines.map((s) => [s.batch.endpoint, s.record.lines.length])).toEqual([
      ['/v1/images/generations', 2],
      ['/v1/images/generations', 2],
      ['/v1/images/edits', 1],
    ])
    expect(new Set(byLines.flatMap((s) => s.record.lines.map((l) => l.key)))).toEqual(new Set(items.map((i) => i.request.key)))

    const oneLine = Buffer.byteLength((await buildLine(items[0]!.request, items[0]!.indices, noUpload)).text) + 1
    const byBytes = await submit(items.slice(0, 3), freshCache(), { limits: { lines: 50_000, bytes: oneLine + 20 } })
    expect(byBytes.map((s) => s.record.lines.length)).toEqual([1, 1, 1])
    for (const s of byBytes) expect(s.bytes).toBeLessThanOrEqual(oneLine + 20)
  })

  it('lists batches newest first, a page at a time', async () => {
    const cacheDir = freshCache()
    const items = await itemsFor({ l1: low('list one'), l2: low('list two'), l3: low('list three') })
    const submitted = await submit(items, cacheDir, { limits: { lines: 1, bytes: 200 * 1024 * 1024 } })
    const ids = submitted.map((s) => s.batch.id).reverse()
    const first = await client.listBatches({ limit: 2 })
    expect(first.batches.map((b) => b.id)).toEqual(ids.slice(0, 2))
    expect(first.hasMore).toBe(true)
    const second = await client.listBatches({ after: first.lastId!, limit: 2 })
    expect(second.batches.map((b) => b.id)).toEqual(ids.slice(2))
    expect(second.hasMore).toBe(false)
  })
})

describe('outcomes per line and per batch', () => {
  it('a content-filtered line is CONTENT_FILTERED naming its spec; an invalid-request line is SPEC_INVALID', async () => {
    const cacheDir = freshCache()
    suite.emulator.batches.outcome = (line) => (String(line.body.prompt).includes('forbidden') ? 'content-filter' : String(line.body.prompt).includes('broken') ? 'invalid' : 'ok')
    const items = await itemsFor({ fine: low('a fine meadow'), filtered: low('something forbidden'), invalid: low('a broken request') })
    const [{ batch, record }] = (await submit(items, cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    const final = await suite.emulator.batches.advance(batch.id, 'completed')
    expect(final.error_file_id).not.toBeNull()

    const { summary, byLabel } = await collect(record, cacheDir)
    expect(summary).toMatchObject({ finished: true, images: 1, errors: 2, notDone: 0 })
    expect(byLabel['src/fine.imgprompt.json']).toMatchObject({ kind: 'images' })
    const filtered = byLabel['src/filtered.imgprompt.json']!
    if (filtered.kind !== 'error') throw new Error('expected an error')
    expect(filtered.error).toBeInstanceOf(AiImageError)
    expect(filtered.error).toMatchObject({ code: 'CONTENT_FILTERED', file: 'src/filtered.imgprompt.json', retryable: false, data: { stage: 'input', categories: ['violence'] } })
    expect(filtered.error.requestId).toMatch(/^req_/)
    const invalid = byLabel['src/invalid.imgprompt.json']!
    expect(invalid).toMatchObject({ kind: 'error', error: { code: 'SPEC_INVALID', field: 'prompt', file: 'src/invalid.imgprompt.json' } })
  })

  it('an expired batch returns the lines it finished and reports the rest as not done', async () => {
    const cacheDir = freshCache()
    suite.emulator.batches.outcome = (line) => (String(line.body.prompt).includes('slow') ? 'late' : 'ok')
    const items = await itemsFor({ e1: low('quick one'), e2: low('a slow one'), e3: low('quick two') })
    const [{ batch, record }] = (await submit(items, cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    await suite.emulator.batches.advance(batch.id, 'in_progress')
    // Still running: nothing to collect, and the record stays.
    const early = await collect(record, cacheDir)
    expect(early.summary).toMatchObject({ finished: false, images: 0 })
    expect(await readRecord(cacheDir, batch.id, () => {})).toEqual(record)

    await suite.emulator.batches.advance(batch.id, 'expired')
    const { summary, byLabel } = await collect(record, cacheDir)
    expect(summary).toMatchObject({ finished: true, images: 2, errors: 0, notDone: 1 })
    expect(summary.batch).toMatchObject({ status: 'expired', counts: { total: 3, completed: 2, failed: 1 } })
    expect(byLabel['src/e2.imgprompt.json']).toMatchObject({ kind: 'not-done', reason: expect.stringMatching(/completion window/) })
    expect(byLabel['src/e1.imgprompt.json']).toMatchObject({ kind: 'images' })
    expect(await readRecord(cacheDir, batch.id, () => {})).toBeUndefined()
  })

  it('a cancelled batch goes cancelling → cancelled and keeps what finished', async () => {
    const cacheDir = freshCache()
    suite.emulator.batches.outcome = (line) => (String(line.body.prompt).includes('slow') ? 'late' : 'ok')
    const items = await itemsFor({ c1: low('cancel quick'), c2: low('cancel slow') })
    const [{ batch, record }] = (await submit(items, cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    await suite.emulator.batches.advance(batch.id, 'in_progress')
    expect((await client.cancelBatch(batch.id)).status).toBe('cancelling')
    expect((await collect(record, cacheDir)).summary.finished).toBe(false)

    await suite.emulator.batches.advance(batch.id)
    const { summary, byLabel } = await collect(record, cacheDir)
    expect(summary).toMatchObject({ finished: true, images: 1, notDone: 1, batch: { status: 'cancelled' } })
    expect(byLabel['src/c2.imgprompt.json']).toMatchObject({ kind: 'not-done', reason: expect.stringMatching(/cancelled/) })
    // A final batch cannot be cancelled again: the API's own error, mapped.
    const again = await failure(client.cancelBatch(batch.id))
    expect(again).toMatchObject({ code: 'NETWORK', status: 409 })
  })

  it('a body the official schema refuses fails the batch; the validation error lands on its line (SPEC_INVALID), the others are not done', async () => {
    const cacheDir = freshCache()
    const items = await itemsFor({ v1: low('valid line'), v2: low('invalid line') })
    const built = await Promise.all(items.map((item) => buildLine(item.request, item.indices, noUpload)))
    const broken = JSON.parse(built[1]!.text) as { body: Record<string, unknown> }
    broken.body.quality = 'ultra'
    expect(schemaErrors('generations', broken.body)).toMatch(/quality/)
    const input = await client.uploadFile(new Blob([`${built[0]!.text}\n${JSON.stringify(broken)}\n`]), { purpose: 'batch', filename: 'hand.jsonl' })
    const batch = await client.createBatch({ inputFileId: input.id, endpoint: '/v1/images/generations' })
    const record: BatchRecord = {
      version: 1,
      id: batch.id,
      endpoint: '/v1/images/generations',
      models: ['gpt-image-1.5'],
      submitted: Math.floor(Date.now() / 1000),
      input_file_id: input.id,
      uploaded_file_ids: [],
      lines: built.map((l) => ({ custom_id: l.customId, key: l.key, indices: l.indices })),
      keys: Object.fromEntries(items.map((i) => [i.request.key, { label: i.request.label, material: i.material }])),
    }
    await writeRecord(cacheDir, record)

    const failed = await suite.emulator.batches.advance(batch.id)
    expect(failed.status).toBe('failed')
    expect(failed.errors!.data).toEqual([expect.objectContaining({ line: 2, param: 'quality', code: 'invalid_request' })])

    const { summary, byLabel } = await collect(record, cacheDir)
    expect(summary).toMatchObject({ finished: true, errors: 1, notDone: 1 })
    expect(byLabel['src/v2.imgprompt.json']).toMatchObject({ kind: 'error', error: { code: 'SPEC_INVALID', field: 'quality', file: 'src/v2.imgprompt.json' } })
    expect(byLabel['src/v1.imgprompt.json']).toMatchObject({ kind: 'not-done' })
  })

  it('an edit line without images fails validation against EditImageBodyJsonParam', async () => {
    const items = await itemsFor({ noimg: low('edit nothing', { image: './in.png' }) })
    const line = JSON.parse((await buildLine(items[0]!.request, items[0]!.indices, noUpload)).text) as { body: Record<string, unknown> }
    line.body.images = []
    const input = await client.uploadFile(new Blob([`${JSON.stringify(line)}\n`]), { purpose: 'batch', filename: 'edit.jsonl' })
    const batch = await client.createBatch({ inputFileId: input.id, endpoint: '/v1/images/edits' })
    const failed = await suite.emulator.batches.advance(batch.id)
    expect(failed).toMatchObject({ status: 'failed', errors: { data: [expect.objectContaining({ line: 1, param: 'images' })] } })
  })
})

describe('what the Batch API does not take', () => {
  it('refuses models it does not take, sizes a JSON edit cannot carry, and Azure, before anything is uploaded', async () => {
    const cacheDir = freshCache()
    const [good, dalle, bigEdit] = await itemsFor({
      ok: low('fine'),
      dalle: { prompt: 'a vivid kite', model: 'dall-e-3' },
      wide: { prompt: 'widen it', model: 'gpt-image-2', size: '1536x864', image: './in.png' },
    })
    const noModel = await failure(submit([good!, dalle!], cacheDir))
    expect(noModel).toMatchObject({ code: 'SPEC_INVALID', file: 'src/dalle.imgprompt.json', field: 'model' })
    expect(noModel.message).toMatch(/not taken by the Batch API/)
    expect(await failure(submit([good!, bigEdit!], cacheDir))).toMatchObject({ code: 'SPEC_INVALID', file: 'src/wide.imgprompt.json', field: 'size' })
    const azure = await failure(
      submitBatches(client, [good!], { cacheDir, provider: { kind: 'azure', endpoint: suite.emulator.url, apiKey: 'azure-test', deployments: {} }, warn: () => {} }),
    )
    expect(azure).toMatchObject({ code: 'SPEC_INVALID', file: 'src/ok.imgprompt.json' })
    expect(azure.message).toMatch(/Azure/)
    expect(() => checkBatchable({ kind: 'placeholder', explicit: true }, good!.request)).toThrow(/no Batch API/)
    // gpt-image-2 generations at any size are fine.
    expect(() => checkBatchable(config, { ...bigEdit!.request, endpoint: 'generations' })).not.toThrow()

    expect(suite.emulator.batches.requests).toEqual([])
    expect(existsSync(batchesDir(cacheDir))).toBe(false)
  })

  it('needs a key: a wrong one is AUTH from the API, none at all is AUTH before any request', async () => {
    const wrong = createBatchClient({ ...config, apiKey: 'not-the-emulator-key-0000' })
    try {
      expect(await failure(wrong.listBatches())).toMatchObject({ code: 'AUTH', status: 401 })
    } finally {
      await wrong.close()
    }
    const none = createBatchClient({ ...config, apiKey: undefined })
    expect(await failure(none.listBatches())).toMatchObject({ code: 'AUTH' })
    expect(suite.emulator.batches.requests).toHaveLength(1)
    await none.close()
  })
})

describe('transient failures and unknown batches', () => {
  it('tries reads again after a 503 or a 429 (honouring its hint), but never a write', async () => {
    const clock = virtualClock()
    const patient = createBatchClient(config, { clock })
    try {
      const [{ batch }] = (await submit(await itemsFor({ retry: low('retry reads') }), freshCache())) as [Awaited<ReturnType<typeof submit>>[number]]
      suite.emulator.batches.requests.length = 0
      suite.emulator.batches.fail({ status: 503 }, { status: 429, headers: { 'retry-after-ms': '1500' }, body: { error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' } } })
      expect((await patient.retrieveBatch(batch.id)).id).toBe(batch.id)
      expect(suite.emulator.batches.requests.map((r) => r.status)).toEqual([503, 429, 200])
      expect(clock.sleeps).toEqual([500, 1500])

      suite.emulator.batches.requests.length = 0
      suite.emulator.batches.fail({ status: 500 })
      const input = await failure(patient.createBatch({ inputFileId: batch.inputFileId, endpoint: '/v1/images/generations' }))
      expect(input).toMatchObject({ code: 'NETWORK', status: 500, retryable: true })
      expect(suite.emulator.batches.requests.map((r) => [r.method, r.status])).toEqual([['POST', 500]])
    } finally {
      await patient.close()
    }
  })

  it('a batch this key cannot see (404) is AUTH naming the batch, not a model error', async () => {
    const error = await failure(client.retrieveBatch('batch_fromanotherproject'))
    expect(error).toMatchObject({ code: 'AUTH', status: 404, file: undefined })
    expect(error.message).toMatch(/batch batch_fromanotherproject is unknown to this API key/)
  })

  it('a symlink in place of the batches folder is refused before anything is uploaded, and its records are ignored', async () => {
    const cacheDir = freshCache()
    const outside = path.join(project.root, 'outside-records')
    await mkdir(outside, { recursive: true })
    await mkdir(cacheDir, { recursive: true })
    await symlink(outside, batchesDir(cacheDir))
    const error = await failure(submit(await itemsFor({ linked: low('linked folder') }), cacheDir))
    expect(error).toMatchObject({ code: 'SPEC_INVALID', field: 'cacheDir' })
    expect(error.message).toMatch(/not a folder/)
    expect(suite.emulator.batches.requests).toEqual([])
    expect(await readdir(outside)).toEqual([])
    const warnings: string[] = []
    expect(await listPending(cacheDir, { warn: (m) => warnings.push(m) })).toEqual([])
    expect(warnings).toEqual([expect.stringMatching(/batches.* is not a folder/)])
  })
})

describe('untrusted answers', () => {
  it('streams a huge output file line by line: the server is never more than a few lines ahead of the reader', async () => {
    const cacheDir = freshCache()
    const [{ batch }] = (await submit(await itemsFor({ huge: low('huge output') }), cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    const done = await suite.emulator.batches.advance(batch.id, 'completed')
    const lineBytes = 2 * 1024 * 1024
    const line = Buffer.from(`{"custom_id":"pad","pad":"${'A'.repeat(lineBytes - 30)}"}\n`)
    const total = 120 // 240 MB
    let produced = 0
    suite.emulator.batches.setOutput(batch.id, function* () {
      for (let i = 0; i < total; i++) {
        produced++
        yield line
      }
    })
    let read = 0
    let mostAhead = 0
    const heapBefore = process.memoryUsage().heapUsed
    for await (const text of client.fileLines(done.output_file_id!, { maxLineBytes: 3 * 1024 * 1024 })) {
      read++
      mostAhead = Math.max(mostAhead, produced - read)
      expect(text.length).toBe(line.length - 1)
    }
    expect(read).toBe(total)
    // 240 MB went through; socket and stream buffers hold a few MB, never the file.
    expect(mostAhead).toBeLessThan(16)
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024)
  })

  it('refuses a line longer than any legitimate answer without reading the rest', async () => {
    const cacheDir = freshCache()
    const [{ batch }] = (await submit(await itemsFor({ long: low('long line') }), cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    const done = await suite.emulator.batches.advance(batch.id, 'completed')
    const chunk = Buffer.alloc(1024 * 1024, 'A')
    let produced = 0
    suite.emulator.batches.setOutput(batch.id, function* () {
      yield '{"custom_id":"x","pad":"'
      for (let i = 0; i < 500; i++) {
        produced++
        yield chunk
      }
    })
    const lines = async () => {
      for await (const _ of client.fileLines(done.output_file_id!, { maxLineBytes: 4 * 1024 * 1024 })) void _
    }
    const error = await failure(lines())
    expect(error).toMatchObject({ code: 'BAD_RESPONSE' })
    expect(error.message).toMatch(/longer than 4194304 bytes/)
    expect(produced).toBeLessThan(100)
  })

  it('refuses hostile result lines with named errors: an unknown custom_id, a second answer, junk, an image that is not base64 or not an image', async () => {
    const cacheDir = freshCache()
    const items = await itemsFor({ h1: low('hostile one'), h2: low('hostile two'), h3: low('hostile three') })
    const [{ batch, record }] = (await submit(items, cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    await suite.emulator.batches.advance(batch.id, 'completed')
    const [h1, h2, h3] = record.lines
    const answer = (customId: string, b64: string) =>
      JSON.stringify({ id: 'batch_req_x', custom_id: customId, response: { status_code: 200, request_id: 'req_x', body: { created: 1, data: [{ b64_json: b64 }] } }, error: null })
    const png = (await sharp({ create: { width: 1024, height: 1024, channels: 3, background: '#123456' } }).png().toBuffer()).toString('base64')
    suite.emulator.batches.setOutput(batch.id, () => [
      `${answer(h1!.custom_id, '%%% not base64 %%%')}\n`,
      `${answer(h2!.custom_id, Buffer.from('just some text').toString('base64'))}\n`,
      `${answer(`${'f'.repeat(44)}-0`, png)}\n`,
      `${answer('../../../etc/passwd', png)}\n`,
      `${answer(h3!.custom_id, png)}\n`,
      `${answer(h3!.custom_id, png)}\n`,
      'this is not JSON\n',
    ])
    const { summary, byLabel, warnings } = await collect(record, cacheDir)
    expect(byLabel['src/h1.imgprompt.json']).toMatchObject({ kind: 'error', error: { code: 'BAD_RESPONSE', file: 'src/h1.imgprompt.json' } })
    expect((byLabel['src/h1.imgprompt.json'] as { error: Error }).error.message).toMatch(/not valid base64/)
    expect(byLabel['src/h2.imgprompt.json']).toMatchObject({ kind: 'error', error: { code: 'BAD_RESPONSE' } })
    expect((byLabel['src/h2.imgprompt.json'] as { error: Error }).error.message).toMatch(/not a readable png/)
    expect(byLabel['src/h3.imgprompt.json']).toMatchObject({ kind: 'images' })
    expect(summary.unattributable.map((e) => e.code)).toEqual(['BAD_RESPONSE', 'BAD_RESPONSE', 'BAD_RESPONSE', 'BAD_RESPONSE'])
    expect(warnings.join('\n')).toMatch(/did not ask for/)
    expect(warnings.join('\n')).toMatch(/a second time/)
    expect(warnings.join('\n')).toMatch(/is not JSON/)
    expect(warnings.every((w) => w.includes(batch.id))).toBe(true)
  })

  it('refuses a batch id that is no batch id (it would name a file) and an oversized answer, writing no record', async () => {
    const cacheDir = freshCache()
    const items = await itemsFor({ evil: low('evil server') })
    const server: Server = createServer(async (req, res) => {
      for await (const _ of req) void _
      res.setHeader('content-type', 'application/json')
      if (req.url === '/v1/files') return res.end(JSON.stringify({ id: 'file-evil', object: 'file', bytes: 1, purpose: 'batch', filename: 'x.jsonl' }))
      if (req.url === '/v1/batches') {
        return res.end(JSON.stringify({ id: '../../../outside', object: 'batch', status: 'validating', endpoint: '/v1/images/generations', input_file_id: 'file-evil', created_at: 1 }))
      }
      res.end(`{"id":"batch_big","pad":"${'x'.repeat(5 * 1024 * 1024)}"}`)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const evil = createBatchClient({ ...config, baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` })
    try {
      const error = await failure(submitBatches(evil, items, { cacheDir, provider: config, warn: () => {} }))
      expect(error).toMatchObject({ code: 'BAD_RESPONSE' })
      expect(error.message).toMatch(/not a batch id/)
      expect(await readdir(batchesDir(cacheDir))).toEqual([])
      expect(existsSync(path.join(cacheDir, '..', '..', 'outside.json'))).toBe(false)
      const big = await failure(evil.retrieveBatch('batch_big'))
      expect(big).toMatchObject({ code: 'BAD_RESPONSE' })
      expect(big.message).toMatch(/over 4194304 bytes/)
    } finally {
      await evil.close()
      server.close()
    }
  })
})

describe('pending-batch records', () => {
  it('round trip: written at submission, read back equal, listed as pending keys with their batch and age', async () => {
    const cacheDir = freshCache()
    const items = await itemsFor({ p1: low('pending one'), p2: low('pending two', { n: 2 }) })
    const [{ record }] = (await submit(items, cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    const file = path.join(batchesDir(cacheDir), `${record.id}.json`)
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(record)
    expect(record).toMatchObject({ version: 1, endpoint: '/v1/images/generations', models: ['gpt-image-1.5'], uploaded_file_ids: [] })
    const warnings: string[] = []
    expect(await readRecord(cacheDir, record.id, (m) => warnings.push(m))).toEqual(record)
    const pending = await listPending(cacheDir, { warn: (m) => warnings.push(m), now: record.submitted + 90 })
    expect(pending).toEqual(
      items.map((i) => ({ key: i.request.key, batchId: record.id, label: i.request.label, submitted: record.submitted, ageSeconds: 90, file })),
    )
    expect(warnings).toEqual([])
  })

  it('a tampered record is ignored with a warning naming its file; valid records are still listed', async () => {
    const cacheDir = freshCache()
    const items = await itemsFor({ t1: low('tamper one'), t2: low('tamper two') })
    const [{ record }] = (await submit(items, cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    const dir = batchesDir(cacheDir)
    const variant = async (name: string, change: (r: BatchRecord) => unknown) => {
      const copy = structuredClone(record) as BatchRecord & Record<string, unknown>
      copy.id = name
      await writeFile(path.join(dir, `${name}.json`), JSON.stringify(change(copy) ?? copy))
    }
    const otherKey = items[1]!.request.key
    await variant('batch_prompt', (r) => void (r.keys[r.lines[0]!.key]!.material.request.prompt = 'a different prompt'))
    await variant('batch_customid', (r) => void (r.lines[0]!.custom_id = customIdOf(otherKey, [0])))
    await variant('batch_indices', (r) => void (r.lines[0]!.indices = [0, 7]))
    await variant('batch_name', (r) => void (r.id = 'batch_elsewhere'))
    await variant('batch_version', (r) => void (r.version = 2))
    await variant('batch_age', (r) => void (r.submitted = 9_999_999_999))
    await variant('batch_label', (r) => void (r.keys[r.lines[0]!.key]!.label = 'bad\u0000label'))
    await writeFile(path.join(dir, 'batch_junk.json'), '{ not json')
    await symlink(path.join(dir, `${record.id}.json`), path.join(dir, 'batch_link.json'))
    expect((await lstat(path.join(dir, 'batch_link.json'))).isSymbolicLink()).toBe(true)

    const warnings: string[] = []
    const pending = await listPending(cacheDir, { warn: (m) => warnings.push(m) })
    expect(new Set(pending.map((p) => p.batchId))).toEqual(new Set([record.id]))
    expect(pending).toHaveLength(2)
    const expected: Record<string, RegExp> = {
      batch_prompt: /does not hash to its key/,
      batch_customid: /does not belong to its key/,
      batch_indices: /indices/,
      batch_name: /does not match the file name/,
      batch_version: /version/,
      batch_age: /submitted/,
      batch_label: /label/,
      batch_junk: /not valid JSON/,
      batch_link: /not a regular file/,
    }
    expect(warnings).toHaveLength(Object.keys(expected).length)
    for (const [name, reason] of Object.entries(expected)) {
      const warning = warnings.find((w) => w.includes(`/batches/${name}.json:`))
      expect(warning, name).toMatch(reason)
    }
    expect((await readRecords(cacheDir, () => {})).map((r) => r.record.id)).toEqual([record.id])
  })

  it('a record pointing at another batch (a different input file) is refused when collected, and kept', async () => {
    const cacheDir = freshCache()
    const [{ batch, record }] = (await submit(await itemsFor({ moved: low('moved record') }), cacheDir)) as [Awaited<ReturnType<typeof submit>>[number]]
    await suite.emulator.batches.advance(batch.id, 'completed')
    const forged = { ...record, input_file_id: 'file-someoneelse' }
    const error = await failure(collectBatch(client, cacheDir, forged, { onLine: () => {}, warn: () => {} }))
    expect(error).toMatchObject({ code: 'BAD_RESPONSE' })
    expect(error.message).toMatch(/not the batch its record describes/)
    expect(await readRecord(cacheDir, batch.id, () => {})).toEqual(record)
  })
})

describe('batch prices', () => {
  it('are the synchronous estimate times BATCH_PRICE_FACTOR (50%), labelled as such', () => {
    const spec = { model: 'gpt-image-1.5', request: { model: 'gpt-image-1.5', n: 2, size: '1024x1024', quality: 'high' } }
    const sync = estimateCost(spec)
    const batch = estimateCost(spec, {}, 2, { batch: true })
    expect(BATCH_PRICE_FACTOR).toBe(0.5)
    expect(batch.usd).toBeCloseTo(sync.usd! / 2, 10)
    expect(batch.usdPerImage).toBeCloseTo(0.0665, 10)
    expect(batch.basis).toMatch(/batch prices \(50%\)/)
    expect(estimateCost(spec, { 'gpt-image-1.5': 0.1 }, 1, { batch: true }).usd).toBeCloseTo(0.05, 10)
  })
})
