/**
 * API failures → error codes and retry hints (API-FACTS.md "Errors" and "Retries"), and the one retry
 * seam in a real build.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { openaiErrorFromResponse as errorFromResponse, retryAfterMs, scrub } from '../src/core/providers/openai/wire-errors.js'
import { answers } from './emulator/index.js'
import { withEnv } from './helpers/env.js'
import { spec, type TempProject } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const label = 'src/a.imgprompt.json'
const fromAnswer = (a: { status: number; body?: unknown; headers?: Record<string, string> }) =>
  errorFromResponse(a.status, Object.fromEntries(Object.entries(a.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])), JSON.stringify(a.body), label)

describe('retry hints', () => {
  it('reads retry-after-ms, retry-after seconds and HTTP dates', () => {
    expect(retryAfterMs({ 'retry-after-ms': '1500.5' })).toBe(1500.5)
    expect(retryAfterMs({ 'retry-after-ms': '250', 'retry-after': '9' })).toBe(250)
    expect(retryAfterMs({ 'retry-after': '3' })).toBe(3000)
    const now = Date.parse('2026-11-21T10:00:00Z')
    expect(retryAfterMs({ 'retry-after': 'Sat, 21 Nov 2026 10:00:30 GMT' }, now)).toBe(30_000)
    expect(retryAfterMs({ 'retry-after': 'soon' })).toBeUndefined()
    expect(retryAfterMs({})).toBeUndefined()
  })
})

describe('errorFromResponse', () => {
  it('maps each documented failure to its code and retry policy', () => {
    expect(fromAnswer(answers.rateLimited({ 'retry-after-ms': '20' }))).toMatchObject({ code: 'RATE_LIMITED', retryable: true, retryAfterMs: 20, file: label })
    expect(fromAnswer(answers.insufficientQuota())).toMatchObject({ code: 'QUOTA_EXCEEDED', retryable: false })
    expect(fromAnswer(answers.serverError(503))).toMatchObject({ code: 'NETWORK', retryable: true })
    expect(fromAnswer(answers.serverError(500, { 'x-should-retry': 'false' }))).toMatchObject({ code: 'NETWORK', retryable: false })
    expect(fromAnswer({ ...answers.invalidParameter('size', 'Invalid size'), headers: { 'x-should-retry': 'true' } })).toMatchObject({ code: 'SPEC_INVALID', field: 'size', retryable: true })
    expect(fromAnswer(answers.invalidParameter('size', "Invalid value: '999x999'."))).toMatchObject({ code: 'SPEC_INVALID', field: 'size', retryable: false })
    expect(fromAnswer({ status: 404, body: { error: { message: 'The model does not exist', type: 'invalid_request_error', code: 'model_not_found', param: null } } })).toMatchObject({ code: 'SPEC_INVALID', field: 'model' })
    expect(fromAnswer({ status: 403, body: { error: { message: 'forbidden', type: 'x', code: null, param: null } } })).toMatchObject({ code: 'AUTH' })
  })

  it('recognizes the three content-filter shapes with stage and categories', () => {
    expect(fromAnswer(answers.moderationBlocked('output', ['sexual']))).toMatchObject({ code: 'CONTENT_FILTERED', retryable: false, data: { stage: 'output', categories: ['sexual'] } })
    expect(fromAnswer(answers.contentPolicyViolation())).toMatchObject({ code: 'CONTENT_FILTERED', data: { stage: 'input' } })
    expect(fromAnswer(answers.azureContentFilter('output'))).toMatchObject({ code: 'CONTENT_FILTERED', data: { stage: 'output', categories: ['violence'] } })
    expect(fromAnswer(answers.azureContentFilter('input')).message).toContain('reword the prompt')
  })

  it('never passes on a key the server echoed', () => {
    const error = fromAnswer(answers.unauthorized('sk-proj-abc****wxyz'))
    expect(error.code).toBe('AUTH')
    expect(error.message).not.toContain('wxyz')
    expect(scrub('Incorrect API key provided: sk-live-0123456789. api_key=abc123')).toBe('Incorrect API key provided: sk-[redacted] api_key=[redacted]')
  })

  it('names the request id', () => {
    expect(fromAnswer({ ...answers.serverError(502), headers: { 'x-request-id': 'req_123' } })).toMatchObject({ requestId: 'req_123', message: expect.stringContaining('req_123') })
    expect(fromAnswer({ ...answers.serverError(502), headers: { 'apim-request-id': 'az-9' } }).requestId).toBe('az-9')
  })
})

describe('retries in a build', () => {
  const suite = emulatorSuite()
  let project: TempProject
  beforeAll(async () => {
    project = await suite.project({ 'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n" })
  })

  it('waits out a 429 and a 503, then caches the image from the successful answer', async () => {
    await project.write('src/a.imgprompt.json', spec({ prompt: 'a patient cat', model: 'gpt-image-2', size: '1024x1024' }))
    suite.emulator.enqueue(answers.rateLimited({ 'retry-after-ms': '30' }), answers.serverError(503, { 'retry-after': '0' }))
    const { logs } = await withEnv(suite.openaiEnv(), () => viteBuild(project.root))
    expect(suite.emulator.requests.map((r) => r.status)).toEqual([429, 503, 200])
    expect(suite.emulator.billedImages).toBe(1)
    expect((await project.list('.ai-image')).filter((f) => f.endsWith('.png'))).toHaveLength(1)
    expect(logs.text()).toMatch(/rate limited \(HTTP 429\): pausing all requests for 30 ms/)
    expect(logs.text()).toMatch(/NETWORK .*HTTP 503.*retry 1\/4/)
    expect(logs.text()).toMatch(/generated 1 image for 1 spec .* 3 requests, 2 retries \(1 rate-limited\)/)
  })

  it('fails at once on a quota error, after one request, with nothing cached', async () => {
    await project.write('src/a.imgprompt.json', spec({ prompt: 'a broke cat', model: 'gpt-image-2', size: '1024x1024' }))
    suite.emulator.enqueue(answers.insufficientQuota())
    const error = await withEnv(suite.openaiEnv(), () => viteBuild(project.root)).catch((e: Error) => e)
    expect((error as Error).message).toContain('QUOTA_EXCEEDED')
    expect((error as Error).message).toContain('src/a.imgprompt.json')
    expect(suite.emulator.requests).toHaveLength(1)
  })
})
