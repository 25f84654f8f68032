/**
 * A held remote lease on one cache key, kept alive while this machine generates the key: renewed every
 * third of its duration, so a live holder's lease never lapses even when one or two renewals fail. When the
 * store says it is no longer ours (it lapsed and another machine took it over), or no renewal has gone
 * through for a whole lease duration, `signal` aborts: another machine may be generating the key too.
 */
import type { StoreLease } from './object-store.js'

export class KeyLease {
  private readonly controller = new AbortController()
  private readonly timer: NodeJS.Timeout
  private lastRenewed: number
  private renewing = false
  private released = false

  constructor(
    readonly key: string,
    private readonly lease: StoreLease,
    private readonly now: () => number = Date.now,
  ) {
    this.lastRenewed = now()
    this.timer = setInterval(() => void this.heartbeat(), Math.max(250, Math.floor(lease.ttlMs / 3)))
    // A forgotten lease must not keep the process alive; it lapses by itself in the store.
    this.timer.unref()
  }

  /** Aborts when the lease is lost. */
  get signal(): AbortSignal {
    return this.controller.signal
  }

  get lost(): boolean {
    return this.controller.signal.aborted
  }

  /** Give the lease up; failures are not errors (the store lets an unrenewed lease lapse within its duration). */
  async release(): Promise<void> {
    if (this.released) return
    this.released = true
    clearInterval(this.timer)
    if (!this.lost) await this.lease.release().catch(() => {})
  }

  /** Stop renewing without releasing: as a holder that died would (for tests and for shutting down hard). */
  abandon(): void {
    this.released = true
    clearInterval(this.timer)
  }

  private async heartbeat(): Promise<void> {
    if (this.renewing || this.released || this.lost) return
    this.renewing = true
    try {
      const kept = await this.lease.renew().catch(() => undefined)
      if (this.released) return
      if (kept === true) this.lastRenewed = this.now()
      else if (kept === false) this.lose('another machine took the lease over')
      else if (this.now() - this.lastRenewed > this.lease.ttlMs) this.lose('the lease could not be renewed for its whole duration')
    } finally {
      this.renewing = false
    }
  }

  private lose(reason: string): void {
    clearInterval(this.timer)
    this.controller.abort(new Error(`lease on ${this.key} lost: ${reason}`))
  }
}
