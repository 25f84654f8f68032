/**
 * What one build (or CLI run) did and cost: counted by the engine and the scheduler, reset at the start of
 * each build, and printed as one closing line when the build had misses.
 */
import { formatMs } from '../clock.js'
import { formatUSD } from './cost.js'

export class RunStats {
  /** Specs served from the committed cache (including entries another process made while we waited). */
  hits = 0
  /** Specs generated and committed to the cache. */
  generated = 0
  /** Images generated and committed (resumed candidates excluded: they were paid for by an earlier run). */
  images = 0
  /** Candidates reused from an interrupted earlier run. */
  resumedImages = 0
  /** Specs rendered offline by the placeholder provider. */
  placeholders = 0
  /** Specs whose generation failed (budget refusals included). */
  failed = 0
  /** HTTP requests sent. */
  requests = 0
  /** Attempts repeated after a retryable failure (rate limits included). */
  retries = 0
  /** 429 answers (rate limits; quota errors excluded). */
  rateLimited = 0
  /** Failed attempts the server may have billed (timeouts, dropped or broken answers). */
  possiblyBilledFailures = 0
  /** Estimated USD of `possiblyBilledFailures`. */
  possiblyBilledUSD = 0
  /** `total_tokens` reported by the API for the images generated. */
  tokens = 0
  /** Estimated USD of the images generated (priced images only): what the price table said before each call. */
  estimatedUSD = 0
  /** USD of the images generated, from the token `usage` of their answers (the actual cost). */
  actualUSD = 0
  /** Generated images whose answers' usage was priced into `actualUSD`. */
  usagePricedImages = 0
  /** Generated images whose model has no price. */
  unpricedImages = 0
  /** When the first request of this build was sent (epoch ms). */
  startedAt: number | undefined
  finishedAt: number | undefined

  reset(): void {
    Object.assign(this, new RunStats())
  }

  /** Whether this build asked the API for anything (what makes it worth a summary). */
  get hadMisses(): boolean {
    return this.generated + this.failed + this.requests > 0
  }

  snapshot(): RunSummary {
    const { startedAt, finishedAt } = this
    return {
      hits: this.hits,
      generated: this.generated,
      images: this.images,
      resumedImages: this.resumedImages,
      placeholders: this.placeholders,
      failed: this.failed,
      requests: this.requests,
      retries: this.retries,
      rateLimited: this.rateLimited,
      possiblyBilledFailures: this.possiblyBilledFailures,
      possiblyBilledUSD: this.possiblyBilledUSD,
      tokens: this.tokens,
      estimatedUSD: this.estimatedUSD,
      actualUSD: this.actualUSD,
      usagePricedImages: this.usagePricedImages,
      unpricedImages: this.unpricedImages,
      elapsedMs: startedAt === undefined ? 0 : (finishedAt ?? Date.now()) - startedAt,
    }
  }
}

export type RunSummary = Omit<
  { [K in keyof RunStats as RunStats[K] extends number ? K : never]: number },
  'startedAt' | 'finishedAt'
> & { elapsedMs: number }

/**
 * One line: `generated 12 images for 12 specs, 40 cache hits, 3 retries, 3,264 tokens, estimated cost $0.408,
 * actual cost $0.381 (from usage)`.
 */
export function formatSummary(s: RunSummary): string {
  const parts = [`generated ${plural(s.images, 'image')} for ${plural(s.generated, 'spec')} in ${formatMs(s.elapsedMs)}`]
  if (s.resumedImages) parts.push(`${plural(s.resumedImages, 'image')} resumed from an interrupted run`)
  parts.push(`${plural(s.hits, 'cache hit')}`)
  if (s.failed) parts.push(`${s.failed} failed`)
  parts.push(`${plural(s.requests, 'request')}, ${plural(s.retries, 'retry', 'retries')}${s.rateLimited ? ` (${s.rateLimited} rate-limited)` : ''}`)
  parts.push(`${s.tokens.toLocaleString('en-US')} tokens`)
  let cost = `estimated cost ${formatUSD(s.estimatedUSD)}`
  if (s.unpricedImages) cost += ` (not counting ${plural(s.unpricedImages, 'image')} of models without a price: see the \`prices\` option)`
  if (s.usagePricedImages) {
    const without = s.images - s.usagePricedImages
    cost += `, actual cost ${formatUSD(s.actualUSD)} (from usage${without > 0 ? `; ${plural(without, 'image')} whose answer had no usage not included` : ''})`
  }
  if (s.possiblyBilledFailures) {
    cost += `; ${plural(s.possiblyBilledFailures, 'failed attempt')} may also have been billed (up to ${formatUSD(s.possiblyBilledUSD)})`
  }
  parts.push(cost)
  return parts.join(', ')
}

function plural(count: number, word: string, many = `${word}s`): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? word : many}`
}
