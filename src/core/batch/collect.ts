/**
 * Collecting a pending batch: ask for its status; once it is final, stream its output and error files line
 * by line, check every line against the record (`results.ts`), verify every image like any answer of the
 * API (`engine/verify.ts`: format, size, a full decode), and hand each line's outcome to the caller, who
 * writes the entries. The record is removed only when the batch is final and every outcome was taken: a
 * crash in between leaves the record, and the next collection (on any machine) starts over.
 *
 * A failed batch (its input was refused) maps its validation errors onto the lines they name; the other
 * lines, and the lines an expired or cancelled batch did not finish, are `not-done`: still missing, to be
 * submitted again.
 */
import { AiImageError } from '../errors.js'
import { realClock, type Clock } from '../clock.js'
import { pixelBound } from '../providers/limits.js'
import { checkGeneratedImage } from '../providers/check-image.js'
import type { ImageFacts } from '../image-format.js'
import { modelCapabilities } from '../spec/models.js'
import type { BatchClient } from './client.js'
import { FINAL_STATUSES, wireError, type BatchInfo } from './objects.js'
import { removeRecord, type BatchRecord } from './record.js'
import { maxResultLineBytes, ResultReader, type LineRef, type LineResult } from './results.js'

export interface CollectedImage {
  data: Buffer
  facts: ImageFacts
  revisedPrompt?: string
}

/** What one line of a batch came to: verified images, an error for its spec, or nothing yet. */
export type CollectedLine =
  | (LineRef & { kind: 'images'; images: CollectedImage[]; created: number; usage?: Record<string, unknown>; requestId?: string })
  | (LineRef & { kind: 'error'; error: AiImageError })
  | (LineRef & { kind: 'not-done'; reason: string })

export interface CollectOptions {
  /** Each line's outcome, one at a time. The record stays until every call has resolved. */
  onLine(line: CollectedLine): Promise<void> | void
  warn(message: string): void
  signal?: AbortSignal
  /** Result lines that name no line of the batch are ignored (with a warning); this many end the collection. */
  maxUnattributable?: number
}

export interface CollectSummary {
  batch: BatchInfo
  /** The batch is final and every line was handed over; its record is removed. */
  finished: boolean
  images: number
  errors: number
  notDone: number
  /** Result lines that could not be tied to a line of the batch. */
  unattributable: AiImageError[]
}

export async function collectBatch(client: BatchClient, cacheDir: string, record: BatchRecord, options: CollectOptions): Promise<CollectSummary> {
  const batch = await client.retrieveBatch(record.id, options.signal)
  // The record names the batch; the batch must be the one this record submitted (a copied or edited record
  // must not pull another batch's images under these keys).
  if (batch.endpoint !== record.endpoint || batch.inputFileId !== record.input_file_id) {
    throw wireError('batch', `${record.id} is not the batch its record describes (endpoint or input file differ)`)
  }
  const summary: CollectSummary = { batch, finished: false, images: 0, errors: 0, notDone: 0, unattributable: [] }
  if (!FINAL_STATUSES.has(batch.status)) return summary

  const hand = async (line: CollectedLine) => {
    summary[line.kind === 'images' ? 'images' : line.kind === 'error' ? 'errors' : 'notDone']++
    await options.onLine(line)
  }

  if (batch.status === 'failed') {
    for (const line of failedLines(record, batch)) await hand(line)
  } else {
    const reader = new ResultReader(record)
    const maxLineBytes = maxResultLineBytes(record)
    const limit = options.maxUnattributable ?? 100
    for (const fileId of [batch.outputFileId, batch.errorFileId]) {
      if (!fileId) continue
      for await (const text of client.fileLines(fileId, { maxLineBytes, ...(options.signal ? { signal: options.signal } : {}) })) {
        const parsed = reader.read(text)
        if (parsed.kind === 'unattributable') {
          summary.unattributable.push(parsed.error)
          options.warn(parsed.error.message)
          if (summary.unattributable.length >= limit) {
            throw wireError('batch', `${record.id}: ${summary.unattributable.length} result lines name no request of the batch; collection stopped`)
          }
          continue
        }
        await hand(await verified(parsed, record))
      }
    }
    const reason = batch.status === 'completed' ? 'the batch completed without an answer for it' : `the batch was ${batch.status} before it was done`
    for (const ref of reader.unanswered()) await hand({ ...ref, kind: 'not-done', reason })
  }

  for (const id of record.uploaded_file_ids) {
    await client.deleteFile(id, options.signal).catch((error: unknown) => options.warn(`could not delete the uploaded input image ${id} of ${record.id}: ${(error as Error).message}`))
  }
  await removeRecord(cacheDir, record.id)
  summary.finished = true
  return summary
}

/** A failed batch: each validation error is an error of the line it names; an error naming no line, of every line. */
function failedLines(record: BatchRecord, batch: BatchInfo): CollectedLine[] {
  const general = batch.errors.filter((e) => e.line === undefined || e.line > record.lines.length)
  return record.lines.map((line, i) => {
    const ref: LineRef = { customId: line.custom_id, key: line.key, indices: [...line.indices], label: record.keys[line.key]!.label }
    const own = batch.errors.find((e) => e.line === i + 1) ?? general[0]
    if (!own) return { ...ref, kind: 'not-done', reason: `batch ${batch.id} failed because of other lines` }
    const error = new AiImageError('SPEC_INVALID', `the Batch API refused this request (batch ${batch.id}, ${own.code}${own.param ? `, parameter "${own.param}"` : ''}): ${own.message}`, {
      file: ref.label,
      ...(own.param ? { field: own.param } : {}),
    })
    return { ...ref, kind: 'error', error }
  })
}

/** Images checked like a synchronous answer's; a line whose image fails is an error of its spec. */
async function verified(line: LineResult, record: BatchRecord): Promise<CollectedLine> {
  if (line.kind !== 'images') return line
  const request = record.keys[line.key]!.material.request
  const format = (request.output_format ?? 'png') as 'png' | 'jpeg' | 'webp'
  const size = String(request.size ?? 'auto')
  const expected = {
    format,
    size: modelCapabilities(String(request.model)) && size !== 'auto' ? size : undefined,
    // Nothing a batch answers is decoded past the size asked (the model's largest for `auto`).
    bound: pixelBound(String(request.model), request.size),
  }
  try {
    const images: CollectedImage[] = []
    for (const image of line.images) {
      const facts = await checkGeneratedImage(image.data, expected, line.label, line.requestId)
      images.push({ data: image.data, facts, ...(image.revisedPrompt ? { revisedPrompt: image.revisedPrompt } : {}) })
    }
    const { images: _raw, ...rest } = line
    return { ...rest, images }
  } catch (error) {
    if (!(error instanceof AiImageError)) throw error
    return { customId: line.customId, key: line.key, indices: line.indices, label: line.label, kind: 'error', error }
  }
}

export interface WaitOptions {
  /** Between two looks at the batch. @default 60000 */
  intervalMs?: number
  clock?: Clock
  signal?: AbortSignal
  /** Each status seen, for progress. */
  onStatus?(batch: BatchInfo): void
}

/** Poll a batch until it is final. */
export async function waitForBatch(client: BatchClient, id: string, options: WaitOptions = {}): Promise<BatchInfo> {
  const clock = options.clock ?? realClock
  for (;;) {
    const batch = await client.retrieveBatch(id, options.signal)
    options.onStatus?.(batch)
    if (FINAL_STATUSES.has(batch.status)) return batch
    await clock.sleep(options.intervalMs ?? 60_000, options.signal)
  }
}
