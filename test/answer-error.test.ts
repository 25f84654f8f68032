/**
 * An `error` object in any answer is that error (#12): a 2xx JSON answer or a Batch API line carrying
 * `error` is reported as its type and code say, never retried as "an answer without images" (and paid again).
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ResultReader } from '../src/core/batch/results.js'
import type { BatchRecord } from '../src/core/batch/record.js'
import { statusOfApiError } from '../src/core/providers/openai/wire-errors.js'
import { makeService } from './helpers/engine.js'
import { spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()

async function generateWith(body: unknown) {
  const project = await suite.project({})
  await writeFile(path.join(project.root, 'x.imgprompt.json'), spec({ prompt: `an answer ${Math.random()}`, model: 'gpt-image-1.5', quality: 'low', size: '1024x1024' }))
  const ref = { kind: 'file' as const, file: path.join(project.root, 'x.imgprompt.json') }
  const h = makeService(suite.emulator, project)
  suite.emulator.enqueue({ status: 200, body })
  try {
    const error = await h.service.resolve(await h.service.loadSpec(ref)).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    )
    return { error, requests: suite.emulator.requests.length }
  } finally {
    await h.service.close()
  }
}

describe('an error object in a 2xx answer', () => {
  it('is the content filter it reports: CONTENT_FILTERED after one request, not retried', async () => {
    const { error, requests } = await generateWith({
      error: { message: 'Your request was rejected by the safety system.', type: 'image_generation_user_error', code: 'moderation_blocked', param: null, moderation_details: { moderation_stage: 'output', categories: ['violence'] } },
    })
    expect(error?.message).toMatch(/CONTENT_FILTERED.*output.*violence/)
    expect(requests).toBe(1)
  })

  it('is the quota error it reports: QUOTA_EXCEEDED after one request', async () => {
    const { error, requests } = await generateWith({ error: { message: 'You exceeded your current quota.', type: 'insufficient_quota', code: 'insufficient_quota', param: null } })
    expect(error?.message).toContain('QUOTA_EXCEEDED')
    expect(requests).toBe(1)
  })

  it('is the invalid request it reports, not a bad answer to retry', async () => {
    const { error, requests } = await generateWith({ error: { message: "Invalid value: 'x'.", type: 'invalid_request_error', code: 'invalid_value', param: 'size' } })
    expect(error?.message).not.toContain('BAD_RESPONSE')
    expect(error?.message).toContain("Invalid value: 'x'")
    expect(requests).toBe(1)
  })

  it('maps type and code to the status they stand for', () => {
    expect(statusOfApiError({ type: 'insufficient_quota' })).toBe(429)
    expect(statusOfApiError({ code: 'rate_limit_exceeded' })).toBe(429)
    expect(statusOfApiError({ type: 'authentication_error' })).toBe(401)
    expect(statusOfApiError({ code: 'DeploymentNotFound' })).toBe(404)
    expect(statusOfApiError({ code: 'contentFilter' })).toBe(400)
    expect(statusOfApiError({ type: 'server_error' })).toBe(500)
    expect(statusOfApiError('not an object')).toBe(500)
  })
})

describe('an error object in a Batch API line with a 2xx status', () => {
  it('is that error, not images missing from the line', () => {
    const record: BatchRecord = {
      version: 1,
      id: 'batch_1',
      endpoint: '/v1/images/generations',
      models: ['gpt-image-1.5'],
      submitted: 1,
      input_file_id: 'file-1',
      uploaded_file_ids: [],
      lines: [{ custom_id: 'l0', key: 'k'.repeat(64), indices: [0] }],
      keys: { ['k'.repeat(64)]: { label: 'src/a.imgprompt.json', material: {} as never } },
    }
    const line = { custom_id: 'l0', response: { status_code: 200, body: { error: { message: 'Your request was rejected by the safety system.', type: 'image_generation_user_error', code: 'moderation_blocked' } } } }
    const result = new ResultReader(record).read(JSON.stringify(line))
    expect(result.kind).toBe('error')
    expect((result as { error: Error }).error.message).toMatch(/CONTENT_FILTERED/)
  })
})
