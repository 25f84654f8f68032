/**
 * The content-filter shapes of API-FACTS.md mapped by `errorFromResponse`, including the variants the
 * emulator does not script (Azure's `content_policy_violation` "seen in the wild", `innererror`), and what
 * must not be mistaken for a filter.
 */
import { describe, expect, it } from 'vitest'
import { openaiErrorFromResponse as errorFromResponse } from '../src/core/providers/openai/wire-errors.js'

const label = 'src/a.imgprompt.json'
const map = (body: unknown, headers: Record<string, string> = {}) => errorFromResponse(400, headers, JSON.stringify(body), label)

describe('content-filter shapes', () => {
  it('reads Azure content_policy_violation with inner_error results (seen in the wild)', () => {
    const error = map({
      error: {
        code: 'content_policy_violation',
        message: 'Your request was rejected as a result of our safety system.',
        inner_error: {
          code: 'ResponsibleAIPolicyViolation',
          content_filter_results: { hate: { filtered: true, severity: 'medium' }, sexual: { filtered: false, severity: 'safe' }, jailbreak: { filtered: true, detected: true } },
        },
      },
    })
    expect(error.code).toBe('CONTENT_FILTERED')
    expect(error.file).toBe(label)
    expect(error.data).toEqual({ stage: 'input', categories: ['hate', 'jailbreak'] })
    expect(error.retryable).toBe(false)
  })

  it('reads `innererror` and the output stage from the message when no stage is given', () => {
    const error = map({
      error: {
        code: 'contentFilter',
        message: 'Generated image was filtered as a result of our safety system.',
        innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_results: { violence: { filtered: true, severity: 'high' } } },
      },
    })
    expect(error.data).toEqual({ stage: 'output', categories: ['violence'] })
    expect(error.message).toContain('the output was rejected by the content filter; categories: violence')
  })

  it('keeps a filter unretryable whatever x-should-retry says, and a plain 400 a SPEC_INVALID', () => {
    const filtered = map({ error: { code: 'moderation_blocked', type: 'image_generation_user_error', message: 'blocked', moderation_details: { moderation_stage: 'input', categories: [] } } }, { 'x-should-retry': 'true' })
    expect([filtered.code, filtered.retryable]).toEqual(['CONTENT_FILTERED', false])

    const invalid = map({ error: { code: 'invalid_value', type: 'invalid_request_error', param: 'size', message: 'Invalid size' } })
    expect([invalid.code, invalid.field]).toEqual(['SPEC_INVALID', 'size'])
  })
})
