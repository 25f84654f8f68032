/**
 * Keys a batch is making (#16), as builds and the dev server meet them: never generated (that would pay twice).
 * A build lists each with its batch and age at its end (`buildError`), like a frozen miss; the dev server
 * shows the placeholder image instead, its caption and a warning saying which batch it waits for.
 * Loaded on the first miss, never by a warm build.
 */
import { describePending, formatAge, PendingIndex, pendingMiss } from '../batch/pending.js'
import type { PendingKey } from '../batch/record.js'
import { AiImageError } from '../errors.js'
import { sha256 } from '../hash.js'
import { readImageFacts } from '../image-format.js'
import type { Logger } from '../log.js'
import type { PreparedSpec, ResolvedImage } from '../engine/prepare.js'
import type { ProviderRequest } from '../providers/types.js'
import type { PendingBatch } from './plan.js'

export { PendingIndex, pendingMiss }

/** The batch making `key`, as the plan and the CLI report it. */
export async function pendingBatchOf(index: PendingIndex, key: string): Promise<PendingBatch | undefined> {
  const pending = await index.get(key)
  return pending && { batch: pending.batchId, submitted: pending.submitted, ageSeconds: pending.ageSeconds }
}

/** The dev server's image of a pending key: the placeholder, captioned with its batch, and one warning. */
export async function pendingPlaceholder(prepared: PreparedSpec, request: ProviderRequest, pending: PendingKey, log: Logger): Promise<ResolvedImage> {
  const { renderPlaceholders } = await import('../providers/placeholder/provider.js')
  log.warnOnce(
    `${prepared.spec.label}: ${describePending(pending)}; the dev server shows a placeholder until it is collected ` +
      '(`npx ai-image generate --batch`, or cancel the batch with `npx ai-image generate --batch --cancel` to generate it now)',
  )
  const result = await renderPlaceholders(request, `pending in a batch (${formatAge(pending.ageSeconds)})`)
  const images = []
  for (const image of result.images) {
    const facts = (await readImageFacts(image.data))!
    images.push({ data: image.data, sha256: sha256(image.data), width: facts.width, height: facts.height, mime: facts.mime })
  }
  return { key: prepared.key, spec: prepared.spec, hit: false, placeholder: true, images }
}

/**
 * The error a build ends with when specs have no image: those a batch is making (with their batch and age),
 * and those generation is frozen for. CACHE_MISS_FROZEN either way; `data.missing` lists every such spec.
 */
export function missingImagesError(frozen: readonly string[], pending: ReadonlyArray<{ file: string; pending: PendingBatch }>): AiImageError {
  const parts: string[] = []
  if (pending.length > 0) {
    parts.push(
      `${pending.length} spec${pending.length > 1 ? 's have' : ' has'} no cached image yet: a batch is making ${pending.length > 1 ? 'them' : 'it'}, so ${pending.length > 1 ? 'they are' : 'it is'} not generated here (it would be paid twice):\n` +
        pending.map(({ file, pending: p }) => `  - ${file} (${describePending({ batchId: p.batch, ageSeconds: p.ageSeconds })})`).join('\n') +
        '\nCollect finished batches with `npx ai-image generate --batch` (add --wait to wait for them) and commit the cache folder, ' +
        'or cancel them with `npx ai-image generate --batch --cancel` to generate these specs now.',
    )
  }
  if (frozen.length > 0) {
    parts.push(
      `${frozen.length} spec${frozen.length > 1 ? 's have' : ' has'} no cached image and generation is frozen (CI is set):\n` +
        frozen.map((f) => `  - ${f}`).join('\n') +
        '\nGenerate them where an API key is available with `npx ai-image generate` (or a build without CI), ' +
        'commit the cache folder, or set `frozen: false` to allow paid generation here.',
    )
  }
  return new AiImageError('CACHE_MISS_FROZEN', parts.join('\n'), {
    data: { missing: [...pending.map((p) => p.file), ...frozen].sort(), ...(pending.length > 0 ? { pending: pending.map(({ file, pending: p }) => ({ file, ...p })) } : {}) },
  })
}
