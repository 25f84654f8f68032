/**
 * The scheduler on its own, with virtual time and scripted attempts: the whole queue pauses on a 429,
 * backoff with full jitter, the rate-limit deadline, pacing windows, the budget checked before every paid
 * call, and cancelling what was not sent.
 */
import { describe, expect, it } from 'vitest'
import { AiImageError } from '../src/core/errors.js'
import { createLogger } from '../src/core/log.js'
import { Budget } from '../src/core/engine/budget.js'
import { virtualClock } from '../src/core/clock.js'
import { SlidingWindow } from '../src/core/engine/pacing.js'
import { Scheduler, type SchedulerOptions } from '../src/core/engine/scheduler.js'

function harness(options: Partial<SchedulerOptions> = {}) {
  const clock = virtualClock(0)
  const lines: string[] = []
  const log = createLogger([], { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) })
  const scheduler = new Scheduler({ concurrency: 4, retries: 4, timeout: 60_000, log, clock, random: () => 1, ...options })
  return { scheduler, clock, lines }
}

const call = (label: string, images = 1, usd?: number) => ({ label, images, usd })
const rateLimited = (retryAfterMs?: number) =>
  new AiImageError('RATE_LIMITED', 'rate limited', { retryable: true, status: 429, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) })
const serverError = () => new AiImageError('NETWORK', 'HTTP 500', { retryable: true, status: 500 })
const timeout = () => new AiImageError('TIMEOUT', 'timed out', { retryable: true, possiblyBilled: true })

describe('Scheduler', () => {
  it('pauses the whole queue on a 429 instead of letting each request retry on its own timer', async () => {
    const { scheduler, clock, lines } = harness({ concurrency: 1 })
    const starts: Array<[string, number]> = []
    let first = true
    const task = (name: string) =>
      scheduler.run(call(name), async () => {
        starts.push([name, clock.now()])
        if (name === 'a' && first) {
          first = false
          throw rateLimited(1_000)
        }
        return name
      })
    expect(await Promise.all([task('a'), task('b'), task('c')])).toEqual(['a', 'b', 'c'])
    // b was queued behind a: it waits out the pause too, and the pause is waited once. a's retry goes
    // before c, which had not started yet.
    expect(starts).toEqual([['a', 0], ['b', 1_000], ['a', 1_000], ['c', 1_000]])
    expect(clock.sleeps).toEqual([1_000])
    expect(lines.filter((l) => l.includes('pausing all requests'))).toHaveLength(1)
  })

  it('waits once for a storm of 429s that arrive together', async () => {
    const { scheduler, clock, lines } = harness({ concurrency: 4 })
    const limited = new Set(['a', 'b', 'c', 'd'])
    const results = await Promise.all(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((name) =>
        scheduler.run(call(name), async () => {
          // The four requests on the wire at once each answer 429 (once); e and f were still queued.
          if (limited.delete(name)) throw rateLimited(2_000)
          return clock.now()
        }),
      ),
    )
    expect(results).toEqual(Array(6).fill(2_000))
    expect(lines.filter((l) => l.includes('pausing all requests'))).toHaveLength(1)
    expect(scheduler.stats).toMatchObject({ rateLimited: 4, retries: 4, requests: 10 })
  })

  it('backs off exponentially with full jitter (0.5 s doubling to 8 s) and stops after `retries`', async () => {
    const { scheduler } = harness({ retries: 2 })
    expect([0, 1, 2, 3, 4, 5].map((n) => scheduler.backoff(n))).toEqual([500, 1000, 2000, 4000, 8000, 8000])
    const zero = harness({ random: () => 0 }).scheduler
    expect(zero.backoff(3)).toBe(0)
    const half = harness({ random: () => 0.5 }).scheduler
    expect(half.backoff(2)).toBe(1000)

    const { scheduler: limited, clock } = harness({ retries: 2 })
    let attempts = 0
    await expect(
      limited.run(call('x'), async () => {
        attempts++
        throw serverError()
      }),
    ).rejects.toMatchObject({ code: 'NETWORK' })
    expect(attempts).toBe(3)
    expect(clock.sleeps).toEqual([500, 1000])
  })

  it('fails at once on errors that are not retryable', async () => {
    const { scheduler } = harness()
    let attempts = 0
    await expect(
      scheduler.run(call('x'), async () => {
        attempts++
        throw new AiImageError('QUOTA_EXCEEDED', 'no money', { retryable: false, status: 429 })
      }),
    ).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' })
    expect(attempts).toBe(1)
  })

  it('gives up on rate limits at the deadline counted from the first 429, naming the wait', async () => {
    const { scheduler, clock } = harness({ rateLimit: { maxWait: 60_000 } })
    let attempts = 0
    const error = await scheduler
      .run(call('x'), async () => {
        attempts++
        throw rateLimited(40_000)
      })
      .catch((e: AiImageError) => e)
    // 40 s fits the 60 s deadline; a second 40 s would end 80 s after the first 429.
    expect(attempts).toBe(2)
    expect(clock.sleeps).toEqual([40_000])
    expect(error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 40_000 })
    expect(error.message).toContain('wait 40.0 s after 40.0 s of rate limiting')
  })

  it('rate limits do not use up `retries`', async () => {
    const { scheduler } = harness({ retries: 0 })
    let attempts = 0
    const result = await scheduler.run(call('x'), async () => {
      if (++attempts <= 3) throw rateLimited(100)
      return 'ok'
    })
    expect(result).toBe('ok')
  })

  it('paces by imagesPerMinute (weighted by images per request) and requestsPerMinute', async () => {
    const { scheduler, clock } = harness({ rateLimit: { imagesPerMinute: 10 } })
    const starts = await Promise.all([1, 2, 3].map(() => scheduler.run(call('x', 4), async () => clock.now())))
    expect(starts.sort((a, b) => a - b)).toEqual([0, 0, 60_000])

    const requests = harness({ rateLimit: { requestsPerMinute: 2 } })
    const times = await Promise.all([1, 2, 3, 4, 5].map(() => requests.scheduler.run(call('x'), async () => requests.clock.now())))
    expect(times.sort((a, b) => a - b)).toEqual([0, 0, 60_000, 60_000, 120_000])
  })

  it('checks the budget before every paid call; a possibly billed failure keeps its share', async () => {
    const budget = new Budget({ maxImages: 2 })
    const { scheduler } = harness({ budget, concurrency: 1 })
    let tries = 0
    // a: a timeout (maybe billed) then a success: both attempts count.
    await scheduler.run(call('a'), async () => {
      if (tries++ === 0) throw timeout()
      return 'a'
    })
    let sent = false
    const refused = await scheduler
      .run(call('b'), async () => {
        sent = true
        return 'b'
      })
      .then(() => undefined, (e: AiImageError) => e)
    expect(sent).toBe(false)
    expect(refused).toMatchObject({ code: 'BUDGET_EXCEEDED', file: 'b' })
    expect(refused!.message).toContain('1 more image would pass budget.maxImages = 2 (2 already paid for in this build)')
    // Once stopped, the build pays for nothing more, and the end-of-build error lists every refused spec.
    await expect(scheduler.run(call('c'), async () => 'c')).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED' })
    expect(budget.buildError()!.message).toMatch(/2 specs were not generated:\n {2}- b\n {2}- c/)
  })

  it('gives back the budget share of a failure that certainly cost nothing', async () => {
    const budget = new Budget({ maxImages: 2 })
    const { scheduler } = harness({ budget })
    let tries = 0
    await scheduler.run(call('a'), async () => {
      if (tries++ === 0) throw serverError()
      return 'a'
    })
    await expect(scheduler.run(call('b'), async () => 'b')).resolves.toBe('b')
  })

  it('stops at maxUSD with estimates, and refuses unpriced calls when maxUSD is set', async () => {
    const budget = new Budget({ maxUSD: 0.05 })
    const { scheduler } = harness({ budget, concurrency: 1 })
    for (const name of ['a', 'b', 'c']) await scheduler.run(call(name, 1, 0.016), async () => name)
    await expect(scheduler.run(call('d', 1, 0.016), async () => 'd')).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED' })

    const unpriced = harness({ budget: new Budget({ maxUSD: 1 }) }).scheduler
    await expect(unpriced.run(call('x', 1, undefined), async () => 'x')).rejects.toThrow(/cannot be estimated/)
  })

  it('gives the slot to the next request once the answer is read, and still retries a failed check', async () => {
    const { scheduler } = harness({ concurrency: 1 })
    const events: string[] = []
    let checks = 0
    const a = scheduler.run(call('a'), async ({ release }) => {
      events.push('a sent')
      release()
      // Checking the answer: b is already on the wire meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 20))
      events.push('a checked')
      if (checks++ === 0) throw new AiImageError('BAD_RESPONSE', 'truncated', { retryable: true, possiblyBilled: true })
      return 'a'
    })
    const b = scheduler.run(call('b'), async () => {
      events.push('b sent')
      return 'b'
    })
    expect(await Promise.all([a, b])).toEqual(['a', 'b'])
    expect(events).toEqual(['a sent', 'b sent', 'a checked', 'a sent', 'a checked'])
    expect(scheduler.stats).toMatchObject({ requests: 3, retries: 1, possiblyBilledFailures: 1 })
  })

  it('cancels calls not yet sent, lets the one on the wire finish, and sends again after reopen', async () => {
    const { scheduler } = harness({ concurrency: 1, clock: undefined })
    let release!: () => void
    const onWire = scheduler.run(call('a'), () => new Promise<string>((resolve) => (release = () => resolve('a'))))
    const queued = scheduler.run(call('b'), async () => 'b')
    await new Promise((resolve) => setImmediate(resolve))
    scheduler.cancelQueued('the build failed')
    release()
    await expect(onWire).resolves.toBe('a')
    await expect(queued).rejects.toThrow('not sent: the build failed')
    await expect(scheduler.run(call('c'), async () => 'c')).rejects.toThrow('not sent')
    scheduler.reopen()
    await expect(scheduler.run(call('d'), async () => 'd')).resolves.toBe('d')
  })
})

describe('SlidingWindow', () => {
  it('says how long until a weight fits, and lets an oversized request through an empty window', () => {
    const window = new SlidingWindow(5, 1_000)
    expect(window.delay(3, 0)).toBe(0)
    window.record(3, 0)
    window.record(2, 400)
    expect(window.delay(1, 500)).toBe(500)
    expect(window.delay(3, 500)).toBe(500)
    expect(window.delay(4, 500)).toBe(900)
    expect(window.delay(1, 1_000)).toBe(0)
    expect(new SlidingWindow(5, 1_000).delay(9, 0)).toBe(0)
  })
})
