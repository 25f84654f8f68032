/**
 * Progress while generating: images done of those planned, requests in flight, a rate-limit pause, and an
 * ETA from the throughput so far. Reported on a timer, only while something is being generated: a build
 * whose specs are all cache hits never starts it and stays silent. In a bundler the total grows as imports
 * are discovered; the CLI plans every spec up front.
 *
 * Counts are per round: once everything added is done (or given up), the next image added starts from zero,
 * so a dev server that generates now and then says `1/1`, not the sum of its session.
 *
 * The ETA is the throughput of finished images (done ÷ time from the start to the latest finish) applied to
 * what is left, counted from that latest finish: between two finishes it falls with the clock instead of
 * rising (images of one concurrent wave finish together; the time since the last wave is not a slowdown).
 * It never goes below the floor: a rate-limit pause still to wait, and one progress interval while images
 * are left (a late wave shows a short ETA, never zero or a negative one).
 */
import type { Clock } from '../clock.js'
import { formatMs } from '../clock.js'

export interface ProgressSnapshot {
  /** Images planned in this build so far. */
  total: number
  done: number
  failed: number
  /** Requests on the wire. */
  inFlight: number
  /** Requests held back by pacing or a rate-limit pause. */
  waiting: number
  /** What is left of a pause the server asked for with a 429. */
  rateLimitedMs: number
  /** Estimated time to finish, once something finished. */
  etaMs: number | undefined
  elapsedMs: number
}

export interface ProgressProbe {
  inFlight(): number
  waiting(): number
  pausedFor(): number
}

export interface ProgressOptions {
  clock: Clock
  /** How often a line is reported while generating. */
  intervalMs: number
  probe: ProgressProbe
  report(snapshot: ProgressSnapshot): void
}

export class Progress {
  private total = 0
  private done = 0
  private failed = 0
  private startedAt: number | undefined
  /** When the latest image of this round finished. */
  private lastFinishAt: number | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly options: ProgressOptions) {}

  /** Images about to be generated. */
  add(images: number): void {
    if (images <= 0) return
    // Everything of the last round is done: this is a new round (a dev server generating again).
    if (this.total > 0 && this.done + this.failed >= this.total) this.resetCounts()
    this.startedAt ??= this.options.clock.now()
    this.total += images
    if (!this.timer) {
      this.timer = setInterval(() => this.options.report(this.snapshot()), this.options.intervalMs)
      // Progress must never keep a finished process alive.
      this.timer.unref()
    }
  }

  /** Images that landed in the cache (`ok`) or were given up on. */
  finish(images: number, ok: boolean): void {
    if (images <= 0) return
    if (ok) {
      this.done += images
      this.lastFinishAt = this.options.clock.now()
    } else this.failed += images
    if (this.done + this.failed >= this.total) this.stopTimer()
  }

  snapshot(): ProgressSnapshot {
    const now = this.options.clock.now()
    const elapsedMs = this.startedAt === undefined ? 0 : now - this.startedAt
    const left = Math.max(0, this.total - this.done - this.failed)
    const rateLimitedMs = this.options.probe.pausedFor()
    return {
      total: this.total,
      done: this.done,
      failed: this.failed,
      inFlight: this.options.probe.inFlight(),
      waiting: this.options.probe.waiting(),
      rateLimitedMs,
      etaMs: this.eta(now, left, rateLimitedMs),
      elapsedMs,
    }
  }

  reset(): void {
    this.stopTimer()
    this.resetCounts()
  }

  private eta(now: number, left: number, rateLimitedMs: number): number | undefined {
    if (this.done === 0 || this.startedAt === undefined || this.lastFinishAt === undefined) return undefined
    if (left === 0) return 0
    const perImageMs = Math.max(1, this.lastFinishAt - this.startedAt) / this.done
    const fromLastFinish = left * perImageMs - (now - this.lastFinishAt)
    return Math.max(fromLastFinish, rateLimitedMs, this.options.intervalMs)
  }

  private resetCounts(): void {
    this.total = this.done = this.failed = 0
    this.startedAt = this.lastFinishAt = undefined
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }
}

/** `generating images: 12/60 done, 4 in flight, rate limit: resuming in 7.5 s, ETA 35 s` */
export function formatProgress(s: ProgressSnapshot): string {
  const parts = [`generating images: ${s.done}/${s.total} done`]
  if (s.failed) parts.push(`${s.failed} failed`)
  parts.push(`${s.inFlight} in flight`)
  if (s.rateLimitedMs > 0) parts.push(`rate limit: resuming in ${formatMs(s.rateLimitedMs)}`)
  else if (s.waiting > 0) parts.push(`${s.waiting} paced`)
  if (s.etaMs !== undefined) parts.push(`ETA ${formatMs(s.etaMs)}`)
  return parts.join(', ')
}
