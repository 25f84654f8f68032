/**
 * Server-side traffic behaviour of the emulator, for the engine's tests and the cold-generation benchmark:
 * - `maxInFlight`: requests the server works on at once; more wait in line (first come, first served), like
 *   a backend pool behind a load balancer. A stalled request keeps its place until the client gives up.
 * - `rateWindow`: at most `images` images admitted in any `windowMs` (a sliding window, counted when a
 *   request is admitted); beyond that a 429 at once with the exact wait (`retry-after-ms`, and
 *   `retry-after` in whole seconds).
 * - `faults`: fractions of requests answered with a fault, on a fixed schedule (in every block of
 *   1/min(rate) requests, each fault takes exactly its share of places, shuffled by a seeded generator), so
 *   rates hold exactly and a run can be repeated. When each fault happens:
 *   - 503 (overloaded): at once, before any work; not billed.
 *   - 500 (an error while working): at a random moment of the latency; not billed.
 *   - dropped connection: at a random moment of the latency; billed (the generation goes on without us).
 *   - stall: never answers (the client's timeout ends it); billed.
 *   - broken base64: a 200 after the full latency whose image is cut short; billed.
 */
import type { ServerResponse } from 'node:http'
import type { HttpAnswer, ScriptedAnswer } from './answers.js'
import { answers } from './answers.js'

export type FaultKind = 'status500' | 'status503' | 'drop' | 'stall' | 'brokenBase64'

export type FaultRates = Partial<Record<FaultKind, number>>

export interface TrafficOptions {
  maxInFlight?: number
  rateWindow?: { images: number; windowMs: number }
  faults?: FaultRates
  /** Seed of the fault schedule. @default 1 */
  seed?: number
}

export interface InjectedFault {
  kind: FaultKind
  answer: ScriptedAnswer
  /** Answered before the latency (no generation happened). */
  immediate: boolean
}

export class Traffic {
  /** How often each fault was injected, and 429s sent by the rate window. */
  readonly counts: Record<FaultKind | 'rateLimited', number> = { status500: 0, status503: 0, drop: 0, stall: 0, brokenBase64: 0, rateLimited: 0 }
  private readonly admitted: Array<{ at: number; images: number }> = []
  private readonly line: Array<() => void> = []
  private working = 0
  private schedule: Array<FaultKind | undefined> = []
  private readonly random: () => number
  private served = 0

  constructor(private readonly options: TrafficOptions) {
    this.random = mulberry32(options.seed ?? 1)
  }

  /** A 429 when admitting `images` more would pass the window; otherwise counts them in. */
  rateLimit(images: number, now = Date.now()): HttpAnswer | undefined {
    const window = this.options.rateWindow
    if (!window) return undefined
    while (this.admitted.length > 0 && this.admitted[0]!.at + window.windowMs <= now) this.admitted.shift()
    let used = this.admitted.reduce((sum, a) => sum + a.images, 0)
    if (this.admitted.length === 0 || used + images <= window.images) {
      this.admitted.push({ at: now, images })
      return undefined
    }
    let waitMs = 0
    for (const entry of this.admitted) {
      used -= entry.images
      waitMs = entry.at + window.windowMs - now
      if (used + images <= window.images) break
    }
    this.counts.rateLimited++
    const wait = Math.max(1, Math.ceil(waitMs))
    return answers.rateLimited({ 'retry-after-ms': String(wait), 'retry-after': String(Math.ceil(wait / 1000)) })
  }

  /** Wait for a place among the requests the server works on; it is given back when the response closes. */
  async admit(res: ServerResponse): Promise<void> {
    const cap = this.options.maxInFlight
    if (!cap) return
    if (this.working >= cap) await new Promise<void>((resolve) => this.line.push(resolve))
    else this.working++
    res.once('close', () => {
      const next = this.line.shift()
      if (next) next()
      else this.working--
    })
  }

  /** The fault for the next request on the schedule, if any. */
  next(): InjectedFault | undefined {
    const rates = this.options.faults
    if (!rates) return undefined
    if (this.served % Math.max(1, this.schedule.length) === 0) this.schedule = this.makeBlock(rates)
    const kind = this.schedule[this.served++ % this.schedule.length]
    if (!kind) return undefined
    this.counts[kind]++
    switch (kind) {
      case 'status500':
        // The server fails at a random moment of its work.
        return { kind, answer: { ...answers.serverError(500), at: this.random() }, immediate: false }
      case 'status503':
        return { kind, answer: answers.serverError(503), immediate: true }
      case 'drop':
        // The connection breaks at a random moment while the client waits; the generation is billed anyway.
        return { kind, answer: { kind: 'drop', billed: true, at: this.random() }, immediate: false }
      case 'stall':
        return { kind, answer: { kind: 'stall', billed: true }, immediate: false }
      case 'brokenBase64':
        return { kind, answer: { kind: 'truncated-base64' }, immediate: false }
    }
  }

  /** Images the server billed for answers it broke (drops, stalls, broken bodies). */
  get brokenBilled(): number {
    return this.counts.drop + this.counts.stall + this.counts.brokenBase64
  }

  private makeBlock(rates: FaultRates): Array<FaultKind | undefined> {
    const entries = Object.entries(rates).filter(([, rate]) => rate && rate > 0) as Array<[FaultKind, number]>
    if (entries.length === 0) return [undefined]
    const size = Math.min(1000, Math.round(1 / Math.min(...entries.map(([, r]) => r))))
    const block: Array<FaultKind | undefined> = []
    for (const [kind, rate] of entries) for (let i = 0; i < Math.round(rate * size); i++) block.push(kind)
    while (block.length < size) block.push(undefined)
    for (let i = block.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1))
      ;[block[i], block[j]] = [block[j], block[i]]
    }
    return block
  }
}

/** A small seeded PRNG, so a fault schedule can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
