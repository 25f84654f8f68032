/**
 * What `ai-image push` and `ai-image pull` share: progress on stderr (the first and last line, and at most one
 * line a second between them, so a terminal or a CI log is not flooded), and the exit code of a failure: bad
 * set-up (no remote, mode 'read') is bad usage, anything else (the store refused or could not be reached) a
 * problem found.
 */
import { isAiImageError } from '../../core/errors.js'
import type { TransferProgress } from '../../core/service.js'
import { describeError } from '../describe.js'
import { EXIT } from '../help.js'
import type { Output } from '../output.js'

const PROGRESS_EVERY_MS = 1_000

export function progressLine(output: Output, verb: string, now: () => number = Date.now): (progress: TransferProgress) => void {
  let last = -Infinity
  return ({ done, total }) => {
    if (total === 0) return
    const time = now()
    if (done !== 0 && done !== total && time - last < PROGRESS_EVERY_MS) return
    last = time
    output.sink.info(`${verb} ${done} of ${total} entr${total === 1 ? 'y' : 'ies'}`)
  }
}

/** Print a failure of the transfer; its exit code. */
export function transferFailure(output: Output, error: unknown): number {
  output.err(output.style('red', describeError(error)))
  const setUp = isAiImageError(error) && error.code === 'SPEC_INVALID' && (error.field?.startsWith('remote.') ?? false)
  return setUp ? EXIT.usage : EXIT.problems
}

/**
 * The remote's own failure among a plan's invalid specs (its store unreachable, its credentials refused):
 * every spec that needed it fails the same way, so it is reported once, as what it is.
 */
export function remoteFailure(plan: ReadonlyArray<{ status: string; error?: unknown }>): unknown {
  return plan.find((entry) => entry.status === 'invalid' && isAiImageError(entry.error) && entry.error.data?.remote === true)?.error
}
