/**
 * The gate every request of a build passes right before it is sent:
 * - a pause shared by the whole queue, set when the server answers 429 (one wait for everyone, instead of
 *   every request retrying on its own timer and hammering the limit again);
 * - client-side pacing by `rateLimit.imagesPerMinute` / `requestsPerMinute`.
 *
 * Pacing uses sliding windows (at most `limit` in any `windowMs`), weighted by images per request. That is
 * stricter than the token bucket the API refills continuously, so a client paced here never causes a 429
 * itself. Written here rather than taken from a queue library: the libraries count calls, not weights.
 */
import type { Clock } from '../clock.js'

export class SlidingWindow {
  private readonly entries: Array<{ at: number; weight: number }> = []

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Milliseconds until `weight` more fits in the window (0: now). A weight above the limit waits for an empty window. */
  delay(weight: number, now: number): number {
    this.prune(now)
    let used = this.entries.reduce((sum, e) => sum + e.weight, 0)
    if (this.entries.length === 0 || used + weight <= this.limit) return 0
    for (const entry of this.entries) {
      used -= entry.weight
      if (used + weight <= this.limit || used === 0) return entry.at + this.windowMs - now
    }
    return 0
  }

  record(weight: number, now: number): void {
    this.entries.push({ at: now, weight })
  }

  private prune(now: number): void {
    while (this.entries.length > 0 && this.entries[0]!.at + this.windowMs <= now) this.entries.shift()
  }
}

export interface GateOptions {
  clock: Clock
  imagesPerMinute?: number
  requestsPerMinute?: number
}

export class Gate {
  /** Until when the server asked everyone to wait (epoch ms). */
  private pausedUntil = 0
  private readonly images?: SlidingWindow
  private readonly requests?: SlidingWindow
  /** Requests waiting at the gate right now (for progress). */
  waiting = 0

  constructor(private readonly options: GateOptions) {
    if (options.imagesPerMinute) this.images = new SlidingWindow(options.imagesPerMinute, 60_000)
    if (options.requestsPerMinute) this.requests = new SlidingWindow(options.requestsPerMinute, 60_000)
  }

  /** Wait until a request for `images` images may go, and count it as sent. */
  async pass(images: number, signal?: AbortSignal): Promise<void> {
    const { clock } = this.options
    for (;;) {
      signal?.throwIfAborted()
      const now = clock.now()
      const wait = Math.max(this.pausedUntil - now, this.images?.delay(images, now) ?? 0, this.requests?.delay(1, now) ?? 0)
      if (wait <= 0) {
        this.images?.record(images, now)
        this.requests?.record(1, now)
        return
      }
      this.waiting++
      try {
        // Re-checked after waking: the pause may have been extended, or others took the window meanwhile.
        await clock.sleep(wait, signal)
      } finally {
        this.waiting--
      }
    }
  }

  /** Pause the whole queue for `ms`; returns whether this extended the pause (so it is logged once). */
  pause(ms: number): boolean {
    const until = this.options.clock.now() + ms
    if (until <= this.pausedUntil) return false
    this.pausedUntil = until
    return true
  }

  /** Milliseconds left of the server-requested pause. */
  pausedFor(): number {
    return Math.max(0, this.pausedUntil - this.options.clock.now())
  }
}
