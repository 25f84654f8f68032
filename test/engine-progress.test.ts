/**
 * The progress line's figures (issue #13): an ETA that falls with the clock between finishes instead of
 * jumping up while a concurrent wave is under way, with a floor (never zero or negative while images are
 * left), and counts per round, not summed over a dev session.
 */
import { describe, expect, it } from 'vitest'
import type { Clock } from '../src/core/clock.js'
import { Progress, type ProgressSnapshot } from '../src/core/engine/progress.js'

const INTERVAL_MS = 1_000

function progressAt(): { progress: Progress; at(ms: number): void; paused: { ms: number } } {
  let now = 0
  const paused = { ms: 0 }
  const clock: Clock = { now: () => now, sleep: async () => {} }
  const progress = new Progress({
    clock,
    intervalMs: INTERVAL_MS,
    probe: { inFlight: () => 0, waiting: () => 0, pausedFor: () => paused.ms },
    report: (_: ProgressSnapshot) => {},
  })
  return { progress, at: (ms) => (now = ms), paused }
}

describe('progress', () => {
  it('an ETA that falls with the clock between the waves of a concurrent build, and never rises while nothing finished', () => {
    const { progress, at } = progressAt()
    try {
      at(0)
      progress.add(6) // two at a time, ~10 s each: waves end at 10, 20 and 30 s
      expect(progress.snapshot().etaMs).toBeUndefined()
      at(10_000)
      progress.finish(2, true)
      const etas: number[] = []
      for (let t = 10_000; t < 20_000; t += 1_000) {
        at(t)
        etas.push(progress.snapshot().etaMs!)
      }
      // 4 images left at 5 s apiece: 20 s after the first wave, then one second less each second.
      expect(etas[0]).toBe(20_000)
      for (let i = 1; i < etas.length; i++) expect(etas[i]).toBe(etas[i - 1]! - 1_000)
      at(20_000)
      progress.finish(2, true)
      expect(progress.snapshot().etaMs).toBe(10_000)
      // The last wave is late: the ETA stays at its floor, never 0 or negative while images are left.
      at(45_000)
      expect(progress.snapshot().etaMs).toBe(INTERVAL_MS)
      progress.finish(2, true)
      expect(progress.snapshot()).toMatchObject({ total: 6, done: 6, etaMs: 0 })
    } finally {
      progress.reset()
    }
  })

  it('a rate-limit pause still to wait is the least the ETA says', () => {
    const { progress, at, paused } = progressAt()
    try {
      at(0)
      progress.add(2)
      at(2_000)
      progress.finish(1, true)
      paused.ms = 30_000
      expect(progress.snapshot().etaMs).toBe(30_000)
    } finally {
      progress.reset()
    }
  })

  it('counts per round: images generated later in the same session start again from zero', () => {
    const { progress, at } = progressAt()
    try {
      at(0)
      progress.add(2)
      at(5_000)
      progress.finish(1, true)
      progress.finish(1, false)
      expect(progress.snapshot()).toMatchObject({ total: 2, done: 1, failed: 1 })
      // Minutes later, the dev server generates one more image: 0/1, not 2/3.
      at(300_000)
      progress.add(1)
      expect(progress.snapshot()).toMatchObject({ total: 1, done: 0, failed: 0, elapsedMs: 0 })
      at(304_000)
      progress.finish(1, true)
      expect(progress.snapshot()).toMatchObject({ total: 1, done: 1, elapsedMs: 4_000 })
    } finally {
      progress.reset()
    }
  })
})
