/**
 * No decoder sees an image from the API that is larger than the request allows: the header decides first,
 * and sharp is never even called for a 16000x16000 PNG; the one decode of an image within the bound runs
 * with `limitInputPixels` at the bound, so a header that lies cannot make libvips allocate more.
 */
import { describe, expect, it, vi } from 'vitest'
import sharp from 'sharp'
import { checkGeneratedImage } from '../../src/core/providers/check-image.js'
import { pixelBound } from '../../src/core/providers/limits.js'
import { bombPng } from '../emulator/index.js'

const calls = vi.hoisted(() => ({ options: [] as unknown[] }))
vi.mock('sharp', async (importOriginal) => {
  const actual = (await importOriginal<{ default: typeof sharp }>()).default
  const recorded = new Proxy(actual, {
    apply(target, thisArg, args: unknown[]) {
      calls.options.push(args[1])
      return Reflect.apply(target as unknown as (...a: unknown[]) => unknown, thisArg, args)
    },
  })
  return { default: recorded }
})

const label = 'src/a.imgprompt.json'

describe('decoding an answer’s image', () => {
  it('refuses a 16000x16000 PNG from its header, without calling sharp', async () => {
    calls.options.length = 0
    const bound = pixelBound('gpt-image-1.5', 'auto')
    const error = await checkGeneratedImage(bombPng(16000, 16000), { format: 'png', size: undefined, bound }, label).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', retryable: true, file: label })
    expect((error as Error).message).toContain('an image is 16000x16000, larger than this request allows (1536x1024)')
    expect(calls.options).toEqual([])
  })

  it('decodes an image within the bound with limitInputPixels at the bound', async () => {
    const image = await sharp({ create: { width: 1024, height: 1536, channels: 3, background: '#336699' } }).png().toBuffer()
    calls.options.length = 0
    const bound = pixelBound('gpt-image-1.5', 'auto')
    const facts = await checkGeneratedImage(image, { format: 'png', size: undefined, bound }, label)
    expect(facts).toMatchObject({ width: 1024, height: 1536, mime: 'image/png' })
    expect(calls.options.length).toBeGreaterThan(0)
    for (const options of calls.options) expect(options).toMatchObject({ limitInputPixels: 1536 * 1024 })
  })
})
