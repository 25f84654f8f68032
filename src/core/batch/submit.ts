/**
 * Submitting requests to the Batch API: every request is checked first (nothing is uploaded unless all of
 * them can go), then the lines are written to JSONL files on disk, one series per endpoint, a new file past
 * 50,000 lines or 200 MB, each uploaded (streamed from disk) and made a batch, whose record is written to
 * the cache folder at once. Batches submitted before a failure keep their records, so nothing is paid twice.
 */
import { openAsBlob } from 'node:fs'
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { computeKey, type KeyMaterial } from '../cache/key.js'
import { specInvalid } from '../errors.js'
import type { ProviderConfig } from '../providers/registry.js'
import type { ProviderRequest } from '../providers/types.js'
import type { BatchClient } from './client.js'
import { BATCH_LIMITS, buildLine, type BatchLimits } from './lines.js'
import { BATCH_ENDPOINTS, checkBatchable, type BatchEndpoint } from './models.js'
import type { BatchInfo } from './objects.js'
import { BATCH_RECORD_VERSION, prepareBatchesDir, writeRecord, type BatchRecord, type RecordedKey, type RecordLine } from './record.js'

export interface BatchItem {
  /** The request of one call, as the engine builds it (`params.n` = the number of `indices`). */
  request: ProviderRequest
  /** Candidates this call makes. */
  indices: readonly number[]
  /** Key material of `request.key`, recorded so the entry can be written from the record alone. */
  material: KeyMaterial
}

export interface SubmitOptions {
  cacheDir: string
  provider: ProviderConfig
  /** Added to each batch (up to 16 pairs). @default { source: 'unplugin-ai-image' } */
  metadata?: Record<string, string>
  limits?: BatchLimits
  signal?: AbortSignal
  warn(message: string): void
  /** Unix seconds. */
  now?: () => number
}

export interface SubmittedBatch {
  record: BatchRecord
  batch: BatchInfo
  /** Size of its input file. */
  bytes: number
}

interface Part {
  endpoint: BatchEndpoint
  file: string
  handle: FileHandle
  bytes: number
  lines: RecordLine[]
  keys: Record<string, RecordedKey>
  models: Set<string>
  uploaded: string[]
}

/** Check every item (SPEC_INVALID before anything is uploaded), then submit them in as few batches as the limits allow. */
export async function submitBatches(client: BatchClient, items: readonly BatchItem[], options: SubmitOptions): Promise<SubmittedBatch[]> {
  for (const item of items) {
    checkBatchable(options.provider, item.request)
    if (computeKey(item.material) !== item.request.key) throw new Error(`${item.request.label}: the key material does not hash to the request's key`)
  }
  if (items.length === 0) return []
  // Where the records go must be sound before anything is paid for.
  await prepareBatchesDir(options.cacheDir)
  const limits = options.limits ?? BATCH_LIMITS
  const metadata = options.metadata ?? { source: 'unplugin-ai-image' }
  const now = options.now ?? (() => Math.floor(Date.now() / 1000))
  const submitted: SubmittedBatch[] = []
  const dir = await mkdtemp(path.join(tmpdir(), 'ai-image-batch-'))
  let part: Part | undefined
  let parts = 0

  const send = async (done: Part) => {
    await done.handle.close()
    const name = `ai-image-${done.endpoint.split('/').pop()}-${path.basename(done.file)}`
    let input: { id: string } | undefined
    let batch: BatchInfo
    try {
      input = await client.uploadFile(await openAsBlob(done.file, { type: 'application/jsonl' }), { purpose: 'batch', filename: name, ...(options.signal ? { signal: options.signal } : {}) })
      batch = await client.createBatch({ inputFileId: input.id, endpoint: done.endpoint, metadata }, options.signal)
    } catch (error) {
      await forget(client, [...(input ? [input.id] : []), ...done.uploaded], options.warn)
      throw error
    }
    const record: BatchRecord = {
      version: BATCH_RECORD_VERSION,
      id: batch.id,
      endpoint: done.endpoint,
      models: [...done.models],
      submitted: now(),
      input_file_id: input.id,
      uploaded_file_ids: done.uploaded,
      lines: done.lines,
      keys: done.keys,
    }
    try {
      await writeRecord(options.cacheDir, record)
    } catch (error) {
      // Without its record nobody would collect it and every build would pay for its keys again.
      await client.cancelBatch(batch.id).catch(() => options.warn(`could not cancel batch ${batch.id} after failing to record it; cancel it in the OpenAI dashboard`))
      throw error
    }
    submitted.push({ record, batch, bytes: done.bytes })
  }

  try {
    const seen = new Set<string>()
    for (const endpoint of ['generations', 'edits'] as const) {
      for (const item of items) {
        if (item.request.endpoint !== endpoint) continue
        const uploaded: string[] = []
        const line = await buildLine(item.request, item.indices, async (input) => {
          const file = await client.uploadFile(new Blob([new Uint8Array(input.data)], { type: input.mime }), { purpose: 'vision', filename: input.name, ...(options.signal ? { signal: options.signal } : {}) })
          uploaded.push(file.id)
          return file.id
        })
        if (seen.has(line.customId)) {
          // The same call twice: one line makes it.
          await forget(client, uploaded, options.warn)
          continue
        }
        seen.add(line.customId)
        const bytes = Buffer.byteLength(line.text) + 1
        if (bytes > limits.bytes) {
          throw specInvalid(item.request.label, '', `its batch line would be ${bytes} bytes, more than a batch input file may hold (${limits.bytes})`, 'Generate this spec without --batch')
        }
        if (part && (part.endpoint !== BATCH_ENDPOINTS[endpoint] || part.lines.length >= limits.lines || part.bytes + bytes > limits.bytes)) {
          const done = part
          part = undefined
          await send(done)
        }
        if (!part) {
          const file = path.join(dir, `part-${++parts}.jsonl`)
          part = { endpoint: line.endpoint, file, handle: await open(file, 'w'), bytes: 0, lines: [], keys: {}, models: new Set(), uploaded: [] }
        }
        await part.handle.write(`${line.text}\n`)
        part.bytes += bytes
        part.lines.push({ custom_id: line.customId, key: line.key, indices: [...line.indices] })
        part.keys[line.key] ??= { label: line.label, material: item.material }
        part.models.add(line.model)
        part.uploaded.push(...uploaded)
      }
    }
    if (part) {
      const done = part
      part = undefined
      await send(done)
    }
  } catch (error) {
    if (part) {
      await part.handle.close().catch(() => {})
      await forget(client, part.uploaded, options.warn)
    }
    throw error
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return submitted
}

/** Best-effort removal of files uploaded for a batch that was never created. */
async function forget(client: BatchClient, ids: readonly string[], warn: (message: string) => void): Promise<void> {
  for (const id of ids) await client.deleteFile(id).catch(() => warn(`could not delete the uploaded file ${id}; it is unused`))
}
