/**
 * The OpenAI provider on the wire: URL from OPENAI_BASE_URL (with /v1), Bearer key, organization and
 * project headers, `b64_json` asked of DALL-E only, and every body valid against the official schema
 * (the emulator rejects anything else).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { ImageService } from '../src/core/service.js'
import { TEST_OPENAI_KEY } from './emulator/index.js'
import type { TempProject } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'

const suite = emulatorSuite()
let project: TempProject

beforeAll(async () => {
  project = await suite.project({})
})

async function generate(images: Record<string, Record<string, unknown>>, name: string) {
  const svc = new ImageService(
    { provider: 'openai', openai: { apiKey: TEST_OPENAI_KEY, baseURL: suite.emulator.openaiBaseURL, organization: 'org-123', project: 'proj-456' }, images: images as never },
    { root: project.root, env: {}, sink: { info: () => {}, warn: () => {}, error: () => {} } },
  )
  try {
    return await svc.resolve(await svc.loadSpec({ kind: 'named', name }))
  } finally {
    await svc.close()
  }
}

describe('OpenAI provider', () => {
  it('posts to {baseURL}/images/generations with the key, organization and project headers', async () => {
    const image = await generate({ a: { prompt: 'headers', model: 'gpt-image-2', size: '1024x1024', quality: 'low' } }, 'a')
    const [request] = suite.emulator.requests
    expect(request).toMatchObject({ api: 'openai', operation: 'generations', status: 200 })
    expect(request!.headers).toMatchObject({
      authorization: `Bearer ${TEST_OPENAI_KEY}`,
      'openai-organization': 'org-123',
      'openai-project': 'proj-456',
      'content-type': 'application/json',
    })
    expect(request!.headers['user-agent']).toContain('unplugin-ai-image')
    // What the spec sets, and nothing the API would fill in by itself (#12: n, moderation, output_format and
    // background were sent as their defaults).
    expect(request!.body).toEqual({ model: 'gpt-image-2', prompt: 'headers', size: '1024x1024', quality: 'low' })
    expect(image.images[0]).toMatchObject({ width: 1024, height: 1024, mime: 'image/png' })
  })

  it('asks DALL-E for b64_json, keeps revised_prompt, and splits dall-e-3 candidates into one call each', async () => {
    const image = await generate({ d: { prompt: 'a vivid kite', model: 'dall-e-3', n: 2 } }, 'd')
    expect(suite.emulator.requests).toHaveLength(2)
    for (const request of suite.emulator.requests) {
      // `n` (the spec sets it; each call asks for one) and b64_json (the plugin's choice); size, quality and style
      // are DALL-E 3's own defaults, left to the API.
      expect(request.body).toEqual({ model: 'dall-e-3', prompt: 'a vivid kite', n: 1, response_format: 'b64_json' })
      expect(request.status).toBe(200)
    }
    expect(image.images).toHaveLength(2)
    expect(image.sidecar?.revised_prompt).toBe('revised: a vivid kite')
    expect(image.sidecar?.images.map((i) => i.file)).toEqual([`${image.key}-0.png`, `${image.key}-1.png`])
  })

  it('sends output_compression only for jpeg and webp, and checks the answer format', async () => {
    const image = await generate({ w: { prompt: 'webp', model: 'gpt-image-2', size: '1024x1024', output_format: 'webp', output_compression: 80 } }, 'w')
    expect(suite.emulator.requests[0]!.body).toMatchObject({ output_format: 'webp', output_compression: 80 })
    expect(image.images[0]!.mime).toBe('image/webp')
    expect(image.sidecar?.images[0]!.file).toMatch(/-0\.webp$/)
  })

  it('fails with AUTH and no request when the openai provider has no key', async () => {
    const svc = new ImageService({ provider: 'openai', openai: { baseURL: suite.emulator.openaiBaseURL }, images: { k: { prompt: 'k', model: 'gpt-image-2', size: '1024x1024' } } }, { root: project.root, env: {} })
    const error = await svc.resolve(await svc.loadSpec({ kind: 'named', name: 'k' })).catch((e: Error) => e)
    expect((error as Error).message).toMatch(/AUTH virtual:ai-image\/k: no OpenAI API key: set OPENAI_API_KEY/)
    expect(suite.emulator.requests).toHaveLength(0)
  })
})
