/**
 * The one place requests wait, run and retry. Every paid call of a build (plugin or CLI) goes through
 * `Scheduler.run`: a concurrency cap, a per-request timeout, and retries of retryable failures that
 * honour the server's wait hint, else exponential backoff with full jitter.
 */
import pLimit, { type LimitFunction } from 'p-limit'
import { AiImageError, isAiImageError } from '../errors.js'
import type { Logger } from '../log.js'

export interface SchedulerOptions {
  concurrency: number
  retries: number
  /** Milliseconds per attempt. */
  timeout: number
  log: Logger
  /** Injected in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  random?: () => number
}

export interface AttemptInfo {
  signal: AbortSignal
  /** 0 for the first try. */
  attempt: number
}

export interface SchedulerStats {
  requests: number
  retries: number
  /** Attempts that failed after the server may have billed them (timeouts, dropped answers). */
  possiblyBilledFailures: number
}

export const BACKOFF = { baseMs: 500, maxMs: 8_000 } as const

export class Scheduler {
  readonly stats: SchedulerStats = { requests: 0, retries: 0, possiblyBilledFailures: 0 }
  private readonly limit: LimitFunction
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>
  private readonly random: () => number

  constructor(private readonly options: SchedulerOptions) {
    this.limit = pLimit(options.concurrency)
    this.sleep = options.sleep ?? sleep
    this.random = options.random ?? Math.random
  }

  /** Run `attempt` until it succeeds, fails for good, or runs out of retries. */
  async run<T>(label: string, attempt: (info: AttemptInfo) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await this.limit(() => {
          signal?.throwIfAborted()
          this.stats.requests++
          const timeout = AbortSignal.timeout(this.options.timeout)
          return attempt({ signal: signal ? AbortSignal.any([signal, timeout]) : timeout, attempt: n })
        })
      } catch (error) {
        if (isAiImageError(error) && error.possiblyBilled) this.stats.possiblyBilledFailures++
        if (!isAiImageError(error) || !error.retryable || n >= this.options.retries || signal?.aborted) throw error
        const wait = this.delay(error, n)
        this.stats.retries++
        this.options.log.warn(`${label}: ${error.code} (${error.bareMessage}); retry ${n + 1}/${this.options.retries} in ${formatMs(wait)}`)
        // The slot is released while waiting, so other specs keep the connection pool busy.
        await this.sleep(wait, signal)
      }
    }
  }

  /** The server's hint wins; otherwise exponential backoff with full jitter. */
  delay(error: AiImageError, attempt: number): number {
    if (error.retryAfterMs !== undefined) return error.retryAfterMs
    const cap = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** attempt)
    return Math.round(this.random() * cap)
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`
}
