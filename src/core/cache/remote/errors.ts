/**
 * How a store failure reaches people: an `AiImageError` that says it is the remote cache (a frozen build must
 * not blame missing specs when the store refused the credentials), with the store's status and error code
 * but never the SDK's own message or request (they can carry a SAS URL), and a fix.
 */
import { AiImageError, type AiImageErrorCode } from '../../errors.js'

/** What went wrong, told apart by each store from its SDK's errors. */
export type StoreFailure =
  /** 401/403, expired or refused credentials, no credential available. */
  | { kind: 'auth'; status?: number; code?: string }
  /** 503/500/429 answered until the retries ran out. */
  | { kind: 'throttled'; status: number; code?: string }
  /** No answer: refused or dropped connections, DNS, timeouts. */
  | { kind: 'unreachable'; code?: string }
  /** The container or bucket does not exist. */
  | { kind: 'no-container'; status: number; code?: string }
  /** Anything else the store answered. */
  | { kind: 'unexpected'; status?: number; code?: string }

export interface RemoteErrorContext {
  /** The remote's display (no secret). */
  display: string
  /** What was being done, e.g. `reading entries/ab….json`. */
  doing: string
  /** Store-specific fixes. */
  fixes: { auth: string; noContainer: { noun: 'container' | 'bucket'; fix: string } }
  /** How many tries the SDK made, for the message. */
  tries: number
}

export function remoteError(failure: StoreFailure, context: RemoteErrorContext): AiImageError {
  const answer = [failure.kind !== 'unreachable' && 'status' in failure ? failure.status : undefined, failure.code].filter((x) => x !== undefined).join(' ')
  const shown = answer ? ` (${answer})` : ''
  const prefix = `remote cache ${context.display}: `
  const data = { remote: true, ...(failure.code ? { storeCode: failure.code } : {}) }
  const status = 'status' in failure ? failure.status : undefined
  const make = (code: AiImageErrorCode, message: string, retryable: boolean) =>
    new AiImageError(code, prefix + message, { data, retryable, ...(status !== undefined ? { status } : {}) })
  switch (failure.kind) {
    case 'auth':
      return make('AUTH', `the store refused the credentials${shown} while ${context.doing}. ${context.fixes.auth}`, false)
    case 'throttled':
      return make('NETWORK', `the store is busy${shown} and still was after ${context.tries} tries while ${context.doing}. Try again later, or lower the build's concurrency`, true)
    case 'unreachable':
      return make('NETWORK', `cannot reach the store${shown} after ${context.tries} tries while ${context.doing}. Check the URL or endpoint and the network`, true)
    case 'no-container':
      return make('SPEC_INVALID', `the ${context.fixes.noContainer.noun} does not exist${shown}. ${context.fixes.noContainer.fix}`, false)
    case 'unexpected':
      return make('BAD_RESPONSE', `the store answered an unexpected error${shown} while ${context.doing}`, false)
  }
}

/** Node's and undici's codes for an answer that never came. */
export const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'REQUEST_SEND_ERROR',
  'TimeoutError',
  'AbortError',
])
