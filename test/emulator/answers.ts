/**
 * Canned answers of the Images APIs (API-FACTS.md "Errors"), for tests to enqueue.
 */
import { hostileAnswers, type HostileAnswer } from './hostile.js'
import type { StreamFault } from './sse.js'

export interface HttpAnswer {
  kind?: 'http'
  status: number
  body?: unknown
  headers?: Record<string, string>
  /** Answer after this many ms instead of the emulator's latency. */
  afterMs?: number
  /** Answer after this fraction of the emulator's latency (a failure in the middle of the work). */
  at?: number
}

/**
 * Faults below HTTP. `drop`: close the socket after reading the request (at the end of the latency, or
 * after `at` × the latency); `stall`: never answer. `billed`: the server generated (and billed) the images
 * although the answer was lost.
 */
export type SocketFault = { kind: 'drop'; billed?: boolean; at?: number } | { kind: 'stall'; billed?: boolean }

/** A 200 whose body is broken in the given way. */
export type BrokenAnswer = { kind: 'truncated-base64' } | { kind: 'not-json' } | { kind: 'wrong-size' }

export type ScriptedAnswer = HttpAnswer | SocketFault | BrokenAnswer | StreamFault | HostileAnswer

function error(message: string, type: string, code: string | null, param: string | null = null, extra: object = {}) {
  return { error: { message, type, param, code, ...extra } }
}

export const answers = {
  /** A hostile or broken server (hostile.ts): huge bodies, endless streams, huge images, echoed secrets, redirects. */
  ...hostileAnswers,
  /** A streamed answer whose every event waits `frameDelayMs` (a slow generation with visible previews). */
  slowStream(frameDelayMs: number, start?: Promise<unknown>): StreamFault {
    return { kind: 'slow-stream', frameDelayMs, ...(start ? { start } : {}) }
  },
  /** A streamed answer that ends after its partial frames, before `completed` (a dropped stream). */
  cutStream(): StreamFault {
    return { kind: 'cut-stream' }
  },
  /** A streamed answer whose partial frames are followed by an `error` event of the output moderation. */
  filteredStream(categories = ['violence'], frameDelayMs = 0): StreamFault {
    return { kind: 'filtered-stream', categories, frameDelayMs }
  },
  rateLimited(headers: Record<string, string> = { 'retry-after-ms': '20' }): HttpAnswer {
    return {
      status: 429,
      headers,
      body: error('Rate limit reached for images per minute. Please try again later.', 'requests', 'rate_limit_exceeded'),
    }
  },
  insufficientQuota(): HttpAnswer {
    return {
      status: 429,
      body: error('You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota'),
    }
  },
  serverError(status = 500, headers: Record<string, string> = {}): HttpAnswer {
    return { status, headers, body: error('The server had an error while processing your request.', 'server_error', null) }
  },
  invalidParameter(param: string, message: string): HttpAnswer {
    return { status: 400, body: error(message, 'invalid_request_error', 'invalid_value', param) }
  },
  unauthorized(maskedKey = 'sk-te****cdef'): HttpAnswer {
    return {
      status: 401,
      body: error(`Incorrect API key provided: ${maskedKey}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key'),
    }
  },
  /** OpenAI GPT image models. */
  moderationBlocked(stage: 'input' | 'output' = 'input', categories = ['violence']): HttpAnswer {
    return {
      status: 400,
      body: error('Your request was rejected by the safety system.', 'image_generation_user_error', 'moderation_blocked', null, {
        moderation_details: { moderation_stage: stage, categories },
      }),
    }
  },
  /** DALL-E on OpenAI. */
  contentPolicyViolation(): HttpAnswer {
    return {
      status: 400,
      body: error('Your request was rejected as a result of our safety system.', 'invalid_request_error', 'content_policy_violation'),
    }
  },
  /** Azure OpenAI content filter (docs shape: `contentFilter`, `inner_error`, `created` beside `error`). */
  azureContentFilter(stage: 'input' | 'output' = 'input'): HttpAnswer {
    const filtered = { filtered: true, severity: 'high' }
    return {
      status: 400,
      body: {
        created: 1698435368,
        error: {
          code: 'contentFilter',
          message: stage === 'input' ? 'Your task failed as a result of our safety system.' : 'Generated image was filtered as a result of our safety system.',
          inner_error: {
            code: 'ResponsibleAIPolicyViolation',
            content_filter_results: {
              sexual: { filtered: false, severity: 'safe' },
              violence: filtered,
              hate: { filtered: false, severity: 'safe' },
              self_harm: { filtered: false, severity: 'safe' },
            },
            revised_prompt: null,
          },
        },
      },
    }
  },
}
