/**
 * Azure OpenAI as its documentation describes it (#12): the endpoint in every documented form, the images
 * api-version whatever OPENAI_API_VERSION says for chat, PNG/JPEG inputs only, the revised prompt of a
 * filtered answer shown, and a token refresh that one caller's abort does not cancel for the others.
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { normalizeAzureEndpoint } from '../src/core/providers/azure/config.js'
import { createTokenSource } from '../src/core/providers/azure/provider.js'
import type { AiImageOptions, TokenCredentialLike } from '../src/types.js'
import { answers } from './emulator/index.js'
import { makeService } from './helpers/engine.js'
import { spec } from './helpers/project.js'
import { emulatorSuite, png } from './helpers/suite.js'

const suite = emulatorSuite()

/** Resolve one spec through the Azure provider; the requests the emulator saw and the warnings logged. */
async function onAzure(fields: Record<string, unknown>, options: AiImageOptions = {}, env: Record<string, string | undefined> = {}, extra: Record<string, Buffer> = {}) {
  const project = await suite.project({ 'src/in.png': await png(64, 64, [30, 90, 200]), ...extra })
  await writeFile(path.join(project.root, 'src/x.imgprompt.json'), spec(fields))
  const ref = { kind: 'file' as const, file: path.join(project.root, 'src/x.imgprompt.json') }
  const h = makeService(suite.emulator, project, { provider: 'azure', ...options }, { env: { ...suite.azureEnv(), ...env } })
  try {
    const outcome = await h.service.resolve(await h.service.loadSpec(ref)).then(
      (image) => ({ image, error: undefined }),
      (error: Error) => ({ image: undefined, error }),
    )
    return { ...outcome, requests: [...suite.emulator.requests], warnings: h.logs.filter((l) => l.startsWith('warn')) }
  } finally {
    await h.service.close()
  }
}

describe('the Azure endpoint, in every form the docs write it', () => {
  it.each([
    ['https://res.openai.azure.com', 'https://res.openai.azure.com', false],
    ['https://res.openai.azure.com/', 'https://res.openai.azure.com', false],
    ['https://res.openai.azure.com/openai', 'https://res.openai.azure.com', false],
    ['https://res.openai.azure.com/openai/', 'https://res.openai.azure.com', false],
    ['https://res.openai.azure.com/openai/v1/', 'https://res.openai.azure.com', true],
    ['https://res.openai.azure.com/openai/v1', 'https://res.openai.azure.com', true],
    ['https://res.cognitiveservices.azure.com/', 'https://res.cognitiveservices.azure.com', false],
    ['https://res.cognitiveservices.azure.com/openai/v1/', 'https://res.cognitiveservices.azure.com', true],
  ])('%s → %s (v1 routes: %s)', (raw, endpoint, v1Endpoint) => {
    expect(normalizeAzureEndpoint(raw)).toEqual({ endpoint, v1Endpoint })
  })

  it('refuses a deployment URL, a query and credentials in the URL, with the fix', () => {
    expect(() => normalizeAzureEndpoint('https://res.openai.azure.com/openai/deployments/img/images/generations')).toThrow(/names a deployment.*https:\/\/res\.openai\.azure\.com/)
    expect(() => normalizeAzureEndpoint('https://res.openai.azure.com/?api-version=2024-10-21')).toThrow(/query.*azure\.apiVersion/)
    expect(() => normalizeAzureEndpoint('https://user:pw@res.openai.azure.com')).toThrow(/user name or password/)
    expect(() => normalizeAzureEndpoint('res.openai.azure.com')).toThrow(/not a URL/)
  })

  it('calls the deployment route for …/openai/ and the v1 route for …/openai/v1/ (never …/openai/v1/openai/…)', async () => {
    const fields = { prompt: 'a quay', model: 'gpt-image-1.5', quality: 'low', size: '1024x1024' }
    const deployment = await onAzure(fields, {}, { AZURE_OPENAI_ENDPOINT: `${suite.emulator.url}/openai/` })
    expect(deployment.error).toBeUndefined()
    expect(deployment.requests.map((r) => r.url)).toEqual(['/openai/deployments/gpt-image-1.5/images/generations?api-version=2025-04-01-preview'])
    suite.emulator.reset()
    const v1 = await onAzure({ ...fields, prompt: 'a quay at night' }, { azure: { deployment: 'img-v1' } }, { AZURE_OPENAI_ENDPOINT: `${suite.emulator.url}/openai/v1/` })
    expect(v1.error).toBeUndefined()
    expect(v1.requests.map((r) => [r.url, r.body.model])).toEqual([['/openai/v1/images/generations', 'img-v1']])
  })
})

describe('the images api-version', () => {
  const fields = { prompt: 'a lock', model: 'gpt-image-1.5', quality: 'low', size: '1024x1024' }

  it('sets aside a chat OPENAI_API_VERSION (one notice) and calls with the images version', async () => {
    const chat = await onAzure(fields, {}, { OPENAI_API_VERSION: '2024-08-01-preview' })
    expect(chat.error).toBeUndefined()
    expect(chat.requests.map((r) => r.apiVersion)).toEqual(['2025-04-01-preview'])
    expect(chat.warnings).toHaveLength(1)
    expect(chat.warnings[0]).toMatch(/OPENAI_API_VERSION=2024-08-01-preview does not serve gpt-image-1\.5 images.*api-version 2025-04-01-preview.*azure\.apiVersion/)
  })

  it('honours an OPENAI_API_VERSION that serves the images, and azure.apiVersion whatever it is', async () => {
    const images = await onAzure(fields, {}, { OPENAI_API_VERSION: '2025-06-01-preview' })
    expect(images.requests.map((r) => r.apiVersion)).toEqual(['2025-06-01-preview'])
    expect(images.warnings).toEqual([])
    suite.emulator.reset()
    const own = await onAzure({ ...fields, prompt: 'a second lock' }, { azure: { apiVersion: '2025-04-01-preview' } }, { OPENAI_API_VERSION: '2024-08-01-preview' })
    expect(own.requests.map((r) => r.apiVersion)).toEqual(['2025-04-01-preview'])
    expect(own.warnings).toEqual([])
  })

  it('gives dall-e-3 its own images version when OPENAI_API_VERSION predates image generation', async () => {
    const dalle = await onAzure({ prompt: 'a kite', model: 'dall-e-3' }, {}, { OPENAI_API_VERSION: '2023-05-15' })
    expect(dalle.requests.map((r) => r.apiVersion)).toEqual(['2024-10-21'])
    expect(dalle.warnings).toHaveLength(1)
  })
})

describe("Azure's rules and answers", () => {
  it('refuses a WebP input before any request (Azure takes PNG and JPEG), which OpenAI takes', async () => {
    const webp = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } }).webp().toBuffer()
    const fields = { prompt: 'paint it', model: 'gpt-image-1.5', quality: 'low', size: '1024x1024', image: './in.webp' }
    const refused = await onAzure(fields, {}, {}, { 'src/in.webp': webp })
    expect(refused.error?.message).toMatch(/SPEC_INVALID.*field "image".*in\.webp is webp; Azure OpenAI takes PNG and JPEG inputs only.*Convert/)
    expect(refused.requests).toHaveLength(0)
  })

  it('never sends auto where Azure does not list it, and Azure would refuse it', async () => {
    const auto = await onAzure({ prompt: 'an auto', model: 'gpt-image-1', quality: 'auto', size: 'auto', background: 'auto' })
    expect(auto.error).toBeUndefined()
    expect(auto.requests[0]!.body).toEqual({ model: 'gpt-image-1', prompt: 'an auto' })
  })

  it('shows the prompt as Azure revised it in a CONTENT_FILTERED message', async () => {
    const filtered = answers.azureContentFilter('output')
    const body = filtered.body as { error: { inner_error: { revised_prompt: string | null } } }
    body.error.inner_error.revised_prompt = 'A dramatic battle scene with swords'
    suite.emulator.enqueue(filtered)
    const { error, requests } = await onAzure({ prompt: 'a fight', model: 'dall-e-3' })
    expect(requests).toHaveLength(1)
    expect(error?.message).toMatch(/CONTENT_FILTERED.*categories: violence.*The prompt was revised by the service to: "A dramatic battle scene with swords"/)
  })
})

describe('Entra ID tokens', () => {
  it("one caller's abort stops its own wait, never the refresh the others wait for", async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const signals: AbortSignal[] = []
    const credential: TokenCredentialLike = {
      async getToken(_scope, options) {
        signals.push(options!.abortSignal!)
        await gate
        return { token: 'entra-shared-token', expiresOnTimestamp: Date.now() + 3_600_000 }
      },
    }
    const source = createTokenSource(async () => credential)
    const impatient = new AbortController()
    const first = source(impatient.signal, 'a')
    const second = source(new AbortController().signal, 'b')
    impatient.abort(new Error('the first request timed out'))
    await expect(first).rejects.toThrow('the first request timed out')
    release()
    expect(await second).toBe('entra-shared-token')
    // One refresh for both, and it was never aborted by the first caller.
    expect(signals).toHaveLength(1)
    expect(signals[0]!.aborted).toBe(false)
  })
})
