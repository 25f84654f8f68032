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
 * A clock for tests whose time only moves when everything is waiting on it: each sleep sets a timer on the
 * virtual time line; once the process has run every pending callback (a `setImmediate` later), time jumps
 * to the earliest timer and wakes it. Minutes of rate-limit pauses and backoff take milliseconds, in the
 * order real timers would fire. Real I/O still takes real time, during which virtual time may move on.
 */
export function virtualClock(start = Date.now()): VirtualClock {
  let now = start
  const sleeps: number[] = []
  const timers: Array<{ at: number; wake: () => void }> = []
  let scheduled = false
  const advance = () => {
    scheduled = false
    if (timers.length === 0) return
    const at = Math.min(...timers.map((t) => t.at))
    now = Math.max(now, at)
    for (const timer of timers.filter((t) => t.at === at)) {
      timers.splice(timers.indexOf(timer), 1)
      timer.wake()
    }
    schedule()
  }
  const schedule = () => {
    if (scheduled || timers.length === 0) return
    scheduled = true
    setImmediate(advance)
  }
  return {
    sleeps,
    now: () => now,
    sleep(ms, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason)
      sleeps.push(ms)
      return new Promise<void>((resolve, reject) => {
        const timer = {
          at: now + Math.max(0, ms),
          wake: () => {
            signal?.removeEventListener('abort', onAbort)
            resolve()
          },
        }
        const onAbort = () => {
          const index = timers.indexOf(timer)
          if (index >= 0) timers.splice(index, 1)
          reject(signal!.reason)
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        timers.push(timer)
        schedule()
      })
    },
  }
}

export function formatMs(ms: number): string {
  if (ms >= 60_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`
}

/** An age in seconds for messages: "45 s", "12 min", "3 h", "2 days". */
export function formatAge(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} h`
  return `${Math.round(seconds / 86_400)} days`
}
