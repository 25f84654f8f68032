/**
 * The one place paid requests wait, run and retry. One scheduler per build (or CLI run), shared by every
 * import: every call of the engine goes through `Scheduler.run`, which
 * - holds one of `concurrency` slots while the request waits at the gate and is on the wire (retries are
 *   served first; the slot is given back as soon as the answer's body is read (providers/http.ts tells),
 *   before it is decoded and its images checked);
 * - passes the gate (pacing.ts): client pacing, and the pause the whole queue takes on a 429;
 * - reserves the call in the budget right before sending (budget.ts), so a limit stops the next paid call;
 * - bounds each attempt with `timeout` (abort; counted as possibly billed, since the server may finish);
 * - retries what is retryable: a 429 pauses everyone for the server's hint (`retry-after-ms`, `retry-after`
 *   seconds or HTTP date; long hints honoured up to `rateLimit.maxWait` from the first 429), else
 *   exponential backoff with full jitter; 5xx, dropped connections, timeouts and broken answers back off
 *   per request (slot released while waiting) up to `retries`. `x-should-retry` has already decided
 *   `retryable` (providers/errors.ts); quota, auth, content-filter and 400 errors fail at once.
 */
import PQueue from 'p-queue'
import { AiImageError, isAiImageError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Budget, PaidCall } from './budget.js'
import { formatMs, realClock, type Clock } from '../clock.js'
import { Gate } from './pacing.js'
import { RunStats } from './report.js'


export interface SchedulerOptions {
  concurrency: number
  /** Retries of failures other than rate limits. */
  retries: number
  /** Milliseconds per attempt. */
  timeout: number
  rateLimit?: { imagesPerMinute?: number; requestsPerMinute?: number; maxWait?: number }
  log: Logger
  /** Counters of the current build (shared with the engine). */
  stats?: RunStats
  budget?: Budget
  /** Injected in tests. */
  clock?: Clock
  random?: () => number
}

export interface AttemptInfo {
  signal: AbortSignal
  /** 0 for the first try. */
  attempt: number
  /**
   * The answer is in: give the request slot to the next request while this attempt checks what it got
   * (a failed check is still retried). The attempt passes it to the provider (`AttemptContext.onAnswerRead`),
   * which calls it once the answer's body is read; called at the latest when the attempt settles.
   */
  release(): void
  /**
   * The answer is in and says what it cost (from its `usage`): the budget counts that instead of the call's
   * estimate, whether the attempt then succeeds or fails after being billed.
   */
  charge(usd: number): void
}

/** Rate limiting met by one call: for backoff without hints and for the deadline. */
interface RateLimitState {
  count: number
  /** Clock time of the call's first 429. */
  firstAt?: number
  /** Set when the next wait would pass `rateLimit.maxWait`. */
  gaveUp?: AiImageError
}

export const BACKOFF = { baseMs: 500, maxMs: 8_000 } as const
/** Used when no `rateLimit.maxWait` is given (options.ts resolves the user-facing default). */
const FALLBACK_MAX_WAIT = 600_000

export class Scheduler {
  readonly stats: RunStats
  readonly gate: Gate
  /** The `concurrency` request slots; retries are served before first tries. */
  private readonly slots: PQueue
  private readonly clock: Clock
  private readonly random: () => number
  /** Aborted to cancel every call that has not been sent yet (a failed build); in-flight calls finish. */
  private queue = new AbortController()
  private active = 0

  constructor(private readonly options: SchedulerOptions) {
    this.slots = new PQueue({ concurrency: options.concurrency })
    this.clock = options.clock ?? realClock
    this.random = options.random ?? Math.random
    this.stats = options.stats ?? new RunStats()
    this.gate = new Gate({ clock: this.clock, ...options.rateLimit })
  }

  /** Run a paid call until it succeeds, fails for good, or runs out of retries or rate-limit patience. */
  async run<T>(call: PaidCall, attempt: (info: AttemptInfo) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const queued = this.queue.signal
    const waitSignal = signal ? AbortSignal.any([signal, queued]) : queued
    const limits: RateLimitState = { count: 0 }
    let failures = 0
    for (let n = 0; ; n++) {
      let error: unknown
      try {
        return await this.send(call, attempt, n, waitSignal, signal, limits)
      } catch (caught) {
        error = caught
      }
      if (!isAiImageError(error) || !error.retryable || waitSignal.aborted) throw error
      if (error.code === 'RATE_LIMITED') {
        // The gate was paused before the slot was given up (see send); what is left is to go through it again.
        if (limits.gaveUp) throw limits.gaveUp
        this.stats.retries++
        continue
      }
      if (failures >= this.options.retries) throw error
      const wait = error.retryAfterMs ?? this.backoff(failures)
      failures++
      if (wait > this.maxWait) throw error
      this.stats.retries++
      this.options.log.warn(`${call.label}: ${error.code} (${error.bareMessage}); retry ${failures}/${this.options.retries} in ${formatMs(wait)}`)
      // The slot is released while waiting, so other specs keep the connection pool busy.
      await this.clock.sleep(wait, waitSignal)
    }
  }

  private async send<T>(
    call: PaidCall,
    attempt: (info: AttemptInfo) => Promise<T>,
    n: number,
    waitSignal: AbortSignal,
    signal: AbortSignal | undefined,
    limits: RateLimitState,
  ): Promise<T> {
    let outcome: Promise<T> | undefined
    // Retries go first: a spec that already waited should not also wait behind every spec not started yet.
    await this.slots.add(
      async () => {
        waitSignal.throwIfAborted()
        await this.gate.pass(call.images, waitSignal)
        const ticket = await this.options.budget?.reserveSettled(call)
        this.stats.requests++
        this.stats.startedAt ??= this.clock.now()
        this.active++
        let freed = false
        let release!: () => void
        const slotFree = new Promise<void>((resolve) => {
          release = () => {
            if (freed) return
            freed = true
            this.active--
            resolve()
          }
        })
        // Once sent, a call is not cancelled with the queue: it is paid for, so its answer is kept.
        const timeout = AbortSignal.timeout(this.options.timeout)
        let charged: number | undefined
        const charge = (usd: number) => void (charged = usd)
        const info = { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, attempt: n, release, charge }
        outcome = attempt(info).then(
          (result) => {
            ticket?.spend(charged)
            return result
          },
          (error: unknown) => {
            if (isAiImageError(error) && error.possiblyBilled) {
              ticket?.spend(charged)
              this.stats.possiblyBilledFailures++
              this.stats.possiblyBilledUSD += call.usd ?? 0
            } else {
              ticket?.release()
            }
            // Pause the queue while this request still holds its slot: the request queued behind it must
            // not slip through the gate before the pause is set.
            if (isAiImageError(error) && error.code === 'RATE_LIMITED' && error.retryable) this.onRateLimited(error, limits)
            throw error
          },
        )
        void outcome.then(release, release)
        await slotFree
      },
      { priority: n > 0 ? 1 : 0 },
    )
    return outcome!
  }

  /** A 429: the whole queue waits once for the hint (or a backoff), unless that passes the deadline. */
  private onRateLimited(error: AiImageError, limits: RateLimitState): void {
    const now = this.clock.now()
    const wait = error.retryAfterMs ?? this.backoff(limits.count)
    limits.count++
    limits.firstAt ??= now
    this.stats.rateLimited++
    if (now + wait - limits.firstAt > this.maxWait) {
      limits.gaveUp = rateLimitDeadline(error, wait, this.maxWait, now - limits.firstAt)
      return
    }
    if (this.gate.pause(wait)) {
      const why = error.retryAfterMs === undefined ? 'backing off' : 'as the server asked'
      this.options.log.warn(`rate limited (HTTP 429): pausing all requests for ${formatMs(wait)} ${why}`)
    }
  }

  private get maxWait(): number {
    return this.options.rateLimit?.maxWait ?? FALLBACK_MAX_WAIT
  }

  /** Exponential backoff with full jitter: uniform in [0, min(8 s, 0.5 s × 2^attempt)]. */
  backoff(attempt: number): number {
    const cap = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** attempt)
    return Math.round(this.random() * cap)
  }

  /** Requests on the wire. */
  inFlight(): number {
    return this.active
  }

  /**
   * Fail every call not sent yet (waiting for a slot, at the gate, or backing off), and every call that
   * comes later until `reopen()`; sent calls finish, since they are paid for.
   */
  cancelQueued(reason = 'the build stopped before this request was sent'): void {
    if (this.queue.signal.aborted) return
    const error = new Error(`[ai-image] not sent: ${reason}`)
    error.name = 'AbortError'
    this.queue.abort(error)
  }

  /** Aborted once `cancelQueued` is called (until `reopen`): waits outside the scheduler follow it too. */
  get cancelSignal(): AbortSignal {
    return this.queue.signal
  }

  /** A new build may send again after `cancelQueued`. */
  reopen(): void {
    if (this.queue.signal.aborted) this.queue = new AbortController()
  }
}

function rateLimitDeadline(error: AiImageError, wait: number, maxWait: number, waited: number): AiImageError {
  const already = waited > 0 ? ` after ${formatMs(waited)} of rate limiting` : ''
  return new AiImageError(
    'RATE_LIMITED',
    `the server asked to wait ${formatMs(wait)}${already}, which passes the rate-limit deadline (rateLimit.maxWait = ${formatMs(maxWait)}). ` +
      'Raise `rateLimit.maxWait`, lower `rateLimit.imagesPerMinute`, or build again later',
    {
      ...(error.file ? { file: error.file } : {}),
      ...(error.status ? { status: error.status } : {}),
      ...(error.requestId ? { requestId: error.requestId } : {}),
      retryAfterMs: wait,
      data: { waitMs: wait, maxWaitMs: maxWait },
      cause: error,
    },
  )
}
