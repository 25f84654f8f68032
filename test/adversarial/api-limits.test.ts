/**
 * The pieces behind the API-server boundary, one by one: the largest legitimate answer to a request
 * (providers/limits.ts), the pixel bound of an image, the redactor of secret values (secrets.ts) and the
 * scrub of server text (providers/errors.ts). The attacks themselves are in api-server.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { AiImageError } from '../../src/core/errors.js'
import { IMAGE_LIMITS } from '../../src/core/image-format.js'
import { createLogger } from '../../src/core/log.js'
import { openaiErrorFromResponse as errorFromResponse, requestIdOf, scrub } from '../../src/core/providers/openai/wire-errors.js'
import { answerLimits, pixelBound, withinBound } from '../../src/core/providers/limits.js'
import { addSecret, redactDeep, redactSecrets } from '../../src/core/secrets.js'

const MiB = 1024 * 1024

describe('the largest legitimate answer', () => {
  it('bounds pixels by the size asked, the model’s largest for auto, IMAGE_LIMITS for unknown models', () => {
    expect(pixelBound('gpt-image-1.5', '1024x1536')).toMatchObject({ maxLong: 1536, maxShort: 1024, maxPixels: 1024 * 1536 })
    expect(pixelBound('gpt-image-1.5', 'auto')).toMatchObject({ maxLong: 1536, maxShort: 1024, text: '1536x1024' })
    expect(pixelBound('gpt-image-2', 'auto')).toMatchObject({ maxLong: 3840, maxShort: 2160, maxPixels: 3840 * 2160 })
    expect(pixelBound('dall-e-3', undefined)).toMatchObject({ maxLong: 1792, maxShort: 1024 })
    expect(pixelBound('acme-image-1', '1024x1024')).toMatchObject({ maxPixels: IMAGE_LIMITS.maxPixels, maxLong: IMAGE_LIMITS.maxSide })
    // Either orientation of the largest size fits; anything past a side or the area does not.
    const auto = pixelBound('gpt-image-1.5', 'auto')
    expect(withinBound(1024, 1536, auto)).toBe(true)
    expect(withinBound(1536, 1536, auto)).toBe(false)
    expect(withinBound(16000, 16000, pixelBound('acme-image-1', 'auto'))).toBe(false)
  })

  it('grows with n, the size, the format and the previews; error bodies get 64 KiB', () => {
    const one = answerLimits({ model: 'gpt-image-1.5', size: '1024x1024', n: 1, output_format: 'png' })
    expect(one.imageBytes).toBeGreaterThan(4 * MiB)
    expect(one.answerBytes).toBeGreaterThan(one.imageBytes * (4 / 3))
    expect(one.answerBytes).toBeLessThan(8 * MiB)
    expect(one.errorBytes).toBe(64 * 1024)
    const ten = answerLimits({ model: 'gpt-image-1.5', size: '1024x1024', n: 10, output_format: 'png' })
    expect(ten.answerBytes).toBeGreaterThan(9 * one.answerBytes)
    expect(answerLimits({ model: 'gpt-image-1.5', size: '1024x1024', n: 1, output_format: 'jpeg' }).imageBytes).toBeLessThan(one.imageBytes)
    expect(answerLimits({ model: 'gpt-image-2', size: 'auto', n: 1 }).imageBytes).toBeGreaterThan(6 * one.imageBytes)
    // Never past what a cache read accepts (an unknown model's 4096x4096 RGBA would be just over it).
    expect(answerLimits({ model: 'acme-image-1', size: 'auto', n: 1 }).imageBytes).toBe(IMAGE_LIMITS.maxBytes)
    const streamed = answerLimits({ model: 'gpt-image-1.5', size: '1024x1024', n: 1 }, 3)
    expect(streamed.streamBytes).toBeGreaterThanOrEqual(4 * streamed.eventBytes)
    expect(streamed.eventBytes).toBeLessThan(streamed.answerBytes + 1)
  })
})

describe('secrets are known by value', () => {
  const SECRET = 'unit-test-secret-value/with+odd=chars'

  it('redacts the value and its URL- and JSON-escaped forms, wherever it is', () => {
    addSecret(SECRET)
    expect(redactSecrets(`key=${SECRET}; again ${SECRET}`)).toBe('key=[redacted]; again [redacted]')
    expect(redactSecrets(`?key=${encodeURIComponent(SECRET)}`)).toBe('?key=[redacted]')
    addSecret('quote"d\\secret-1234')
    expect(redactSecrets(JSON.stringify({ k: 'quote"d\\secret-1234' }))).toBe('{"k":"[redacted]"}')
  })

  it('ignores values too short to be credentials', () => {
    addSecret('short')
    expect(redactSecrets('a short word')).toBe('a short word')
  })

  it('redacts every string of a JSON value, keys included, leaving buffers and numbers alone', () => {
    addSecret(SECRET)
    const data = Buffer.from('pixels')
    const value = JSON.parse(`{"usage": {"total_tokens": 5, "note": "${SECRET}", "${SECRET}": 1, "__proto__": {"x": "${SECRET}"}}}`) as Record<string, unknown>
    const out = redactDeep({ ...value, list: [SECRET, 3], data }) as Record<string, unknown>
    expect(JSON.stringify(out)).not.toContain(SECRET)
    expect(out.data).toBe(data)
    expect((out.usage as Record<string, unknown>).total_tokens).toBe(5)
    expect(Object.getPrototypeOf(out.usage)).toBe(Object.prototype)
  })

  it('every AiImageError and every log line is redacted, whoever built them', () => {
    const lines: string[] = []
    const log = createLogger(['logger-only-secret-0001'], { info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m) => void lines.push(m) })
    log.warn(`a line with logger-only-secret-0001 and ${SECRET}`)
    expect(lines).toEqual(['[ai-image] a line with [redacted] and [redacted]'])
    const error = new AiImageError('NETWORK', `failed for logger-only-secret-0001`, { file: 'a.json', requestId: SECRET, field: SECRET, data: { echoed: SECRET } })
    expect(`${error.message} ${JSON.stringify(error)}`).not.toMatch(/logger-only-secret-0001|unit-test-secret/)
  })

  it('server text is scrubbed of known values and key patterns, and cut short', () => {
    addSecret(SECRET)
    expect(scrub(`echo ${SECRET} and sk-abcdefghijklmnop and Bearer abcdefghijklmnop`)).toBe('echo [redacted] and sk-[redacted] and Bearer [redacted]')
    expect(scrub('x'.repeat(10_000))).toHaveLength(500)
    expect(requestIdOf({ 'x-request-id': `${SECRET}\u0000\n${'y'.repeat(500)}` })).toMatch(/^\[redacted\]y+$/)
    expect(requestIdOf({ 'x-request-id': `${SECRET}\u0000\n${'y'.repeat(500)}` })).toHaveLength(128)
    const error = errorFromResponse(400, {}, JSON.stringify({ error: { message: `bad ${SECRET}`, param: SECRET, code: 'x', type: 'invalid_request_error' } }), 'a.json')
    expect(error.message).not.toContain(SECRET)
    expect(error.field).toBe('[redacted]')
  })
})
