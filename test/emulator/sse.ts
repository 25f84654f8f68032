/**
 * Streamed answers of the emulator (`stream: true`, API-FACTS.md "Streaming"): `event:`/`data:` pairs,
 * partial frames that are real images distinct from the final one (so a test can tell a preview from a
 * result), and the stream faults tests script: frames paced by a delay, or a stream cut before `completed`.
 */
import { createHash } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { renderImage } from './render.js'

/**
 * `slow-stream`: wait before every event (`frameDelayMs`, also for `filtered-stream`), and before the first one
 * until `start` resolves when given (a test lets the stream begin once its client is listening); `cut-stream`:
 * send the partial frames, then end without `completed`; `filtered-stream`: send the partial frames, then an
 * `error` event of the output moderation.
 */
export type StreamFault =
  | { kind: 'slow-stream'; frameDelayMs: number; start?: Promise<unknown> }
  | { kind: 'cut-stream' }
  | { kind: 'filtered-stream'; categories: string[]; frameDelayMs?: number }

export function isStreamFault(answer: { kind?: string } | undefined): answer is StreamFault {
  return answer?.kind === 'slow-stream' || answer?.kind === 'cut-stream' || answer?.kind === 'filtered-stream'
}

export interface StreamFacts {
  operation: 'generations' | 'edits' | 'variations'
  requestId: string
  created: number
  /** The usage of the `completed` event of image `i` (the request's input tokens on the first). */
  usage: (i: number) => object
  partials: number
  width: number
  height: number
  format: 'png' | 'jpeg' | 'webp'
  transparent: boolean
  /** Seed of the final images; partial frames derive their own from it. */
  seed: string
}

/** What went over the wire: SHA-256 of each partial frame and of each completed image. */
export interface StreamRecord {
  partials: string[]
  completed: string[]
}

export async function streamImages(res: ServerResponse, images: readonly string[], facts: StreamFacts, fault?: StreamFault): Promise<StreamRecord> {
  const sent: StreamRecord = { partials: [], completed: [] }
  if (fault?.kind === 'slow-stream') await fault.start
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': facts.requestId })
  const prefix = facts.operation === 'edits' ? 'image_edit' : 'image_generation'
  const common = {
    created_at: facts.created,
    size: `${facts.width}x${facts.height}`,
    quality: 'high',
    background: facts.transparent ? 'transparent' : 'opaque',
    output_format: facts.format,
  }
  const emit = async (type: string, payload: object) => {
    const pause = fault && 'frameDelayMs' in fault ? (fault.frameDelayMs ?? 0) : 0
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause))
    if (res.destroyed) return
    const event = type === 'error' ? 'error' : `${prefix}.${type}`
    res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...payload })}\n\n`)
  }
  for (const [i, b64] of images.entries()) {
    for (let p = 0; p < facts.partials; p++) {
      const frame = await renderImage({ seed: `${facts.seed}|${i}|partial-${p}`, width: facts.width, height: facts.height, format: facts.format, transparent: facts.transparent })
      sent.partials.push(sha256(frame))
      await emit('partial_image', { b64_json: frame.toString('base64'), partial_image_index: p, ...common })
    }
    if (fault?.kind === 'cut-stream') break
    if (fault?.kind === 'filtered-stream') {
      const details = { moderation_details: { moderation_stage: 'output', categories: fault.categories } }
      await emit('error', { error: { type: 'image_generation_user_error', code: 'moderation_blocked', message: 'Your request was rejected by the safety system.', param: null, ...details } })
      break
    }
    sent.completed.push(sha256(Buffer.from(b64, 'base64')))
    await emit('completed', { b64_json: b64, ...common, usage: facts.usage(i) })
  }
  res.end()
  return sent
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}
