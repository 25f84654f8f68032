/**
 * The generations a service is running, and those that failed lately, by cache key: what the dev server's
 * gallery shows as a spec's live status whenever its page is opened ("generating: 1 of 2 images", "failed"
 * with the error), and announces as `generation` events while it is open. A failure is kept until its key
 * is generated again (the most recent ones only). Made with the engine, on the first miss: a build that only
 * reads the cache never loads it.
 */
import { redactSecrets } from '../secrets.js'

export interface GenerationState {
  key: string
  /** The spec whose load started it (specs differing only in `emit` or `pick` share the key). */
  label: string
  status: 'generating' | 'done' | 'failed'
  /** Candidates finished (made, or failed) so far, of `total`. */
  done: number
  total: number
  /** Why it failed: the error's message, free of any known secret. */
  error?: string
}

/** Failures remembered, newest kept: one per key a developer looked at, not a log. */
const FAILURES_KEPT = 64

export class Generations {
  private readonly running = new Map<string, GenerationState>()
  private readonly failures = new Map<string, GenerationState>()

  constructor(private readonly announce: (state: GenerationState) => void) {}

  /** Run the generation of `key` (`work`), announcing its start, its progress (`progress`) and its end. */
  async track<T>(key: string, label: string, total: number, work: () => Promise<T>): Promise<T> {
    this.failures.delete(key)
    const state: GenerationState = { key, label, status: 'generating', done: 0, total }
    this.running.set(key, state)
    this.announce({ ...state })
    try {
      const result = await work()
      this.running.delete(key)
      this.announce({ ...state, status: 'done', done: state.total })
      return result
    } catch (error) {
      this.running.delete(key)
      const failed: GenerationState = { ...state, status: 'failed', error: redactSecrets(error instanceof Error ? error.message : String(error)) }
      this.failures.set(key, failed)
      if (this.failures.size > FAILURES_KEPT) this.failures.delete(this.failures.keys().next().value!)
      this.announce({ ...failed })
      throw error
    }
  }

  /** `done` of `total` candidates of the running generation of `key` are finished. */
  progress(key: string, done: number, total: number): void {
    const state = this.running.get(key)
    if (!state || (state.done === done && state.total === total)) return
    state.done = done
    state.total = total
    this.announce({ ...state })
  }

  /** Running generations, then remembered failures (copies). */
  list(): GenerationState[] {
    return [...this.running.values(), ...this.failures.values()].map((state) => ({ ...state }))
  }
}
