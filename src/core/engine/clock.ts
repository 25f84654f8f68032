/**
 * Time as the engine sees it. Every wait of the engine (rate-limit pauses, pacing, backoff, lock polling)
 * goes through a `Clock`, so tests can run minutes of waiting in milliseconds with `virtualClock()`.
 * Per-request timeouts stay on real timers: they guard real sockets.
 */
export interface Clock {
  now(): number
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const realClock: Clock = { now: () => Date.now(), sleep }

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, Math.max(0, ms))
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export interface VirtualClock extends Clock {
  /** Every sleep asked for, in order (ms). */
  readonly sleeps: number[]
}

/**
 * A clock whose sleeps return (almost) at once and move time forward by the time asked for. Waits that are
 * computed from `now()` (a pause until a moment) see time already moved by an earlier sleeper, so many
 * requests waiting out one pause move the clock once, as real timers would.
 */
export function virtualClock(start = Date.now()): VirtualClock {
  let now = start
  const sleeps: number[] = []
  return {
    sleeps,
    now: () => now,
    sleep(ms, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason)
      sleeps.push(ms)
      now += Math.max(0, ms)
      return new Promise((resolve) => setImmediate(resolve))
    },
  }
}

export function formatMs(ms: number): string {
  if (ms >= 60_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`
}
