/**
 * Azure OpenAI in real `vite build`s against the emulator's Azure routes: the deployment URL with its
 * api-version and `api-key`, Entra ID tokens from a TokenCredential (Bearer, never both headers, cached
 * until shortly before expiry), the v1 URL with the deployment in `model`, and Azure's differences
 * rejected before any request.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { createTokenSource } from '../src/core/providers/azure/provider.js'
import type { TokenCredentialLike } from '../src/types.js'
import { TEST_AZURE_KEY } from './emulator/index.js'
import { withEnv } from './helpers/env.js'
import { spec } from './helpers/project.js'
import { emulatorSuite, failure, png } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const TOKENS = ['entra-token-1', 'entra-token-2', 'entra-token-3']
const suite = emulatorSuite({ azureTokens: TOKENS })

const twoSpecs = {
  'src/main.js': "import a from './a.imgprompt.json'\nimport b from './b.imgprompt.json'\nconsole.log(a, b)\n",
  'src/a.imgprompt.json': spec({ prompt: 'a harbour', model: 'gpt-image-2', size: '1024x1024' }),
  'src/b.imgprompt.json': spec({ prompt: 'a dall-e lighthouse', model: 'dall-e-3' }),
}

/** A TokenCredential that hands out TOKENS in order, each valid for `lifetimeMs`. */
function testCredential(lifetimeMs: number) {
  const scopes: Array<string | string[]> = []
  const credential: TokenCredentialLike = {
    async getToken(scope) {
      scopes.push(scope)
      return { token: TOKENS[scopes.length - 1]!, expiresOnTimestamp: Date.now() + lifetimeMs }
    },
  }
  return { credential, scopes }
}

describe('Azure OpenAI', () => {
  it('calls the deployment URL with the default api-version per model and the api-key header', async () => {
    const project = await suite.project(twoSpecs)
    await withEnv(suite.azureEnv(), () => viteBuild(project.root, { azure: { deployments: { 'gpt-image-2': 'img-prod' } } }))

    const byModel = Object.fromEntries(suite.emulator.requests.map((r) => [String(r.body.model), r]))
    expect(Object.keys(byModel).sort()).toEqual(['dall-e-3', 'gpt-image-2'])
    // `deployments` maps a model to its deployment; a model without an entry uses its own name.
    expect(byModel['gpt-image-2']!.url).toBe('/openai/deployments/img-prod/images/generations?api-version=2025-04-01-preview')
    expect(byModel['dall-e-3']!.url).toBe('/openai/deployments/dall-e-3/images/generations?api-version=2024-10-21')
    for (const request of suite.emulator.requests) {
      expect(request.status).toBe(200)
      expect(request.headers['api-key']).toBe(TEST_AZURE_KEY)
      expect(request.headers.authorization).toBeUndefined()
    }
    // Azure takes no `moderation`; DALL-E is asked for base64.
    expect(byModel['gpt-image-2']!.body).not.toHaveProperty('moderation')
    expect(byModel['dall-e-3']!.body.response_format).toBe('b64_json')

    // The sidecar names the provider and the deployment, never the key.
    const sidecars = (await project.list('.ai-image')).filter((f) => f.endsWith('.json'))
    const texts = await Promise.all(sidecars.map((f) => readFile(path.join(project.root, '.ai-image', f), 'utf8')))
    expect(texts.map((t) => JSON.parse(t).provider).sort((x, y) => x.deployment.localeCompare(y.deployment))).toEqual([
      { kind: 'azure', deployment: 'dall-e-3' },
      { kind: 'azure', deployment: 'img-prod' },
    ])
    expect(texts.join('\n')).not.toContain(TEST_AZURE_KEY)
  })

  it('takes the deployment from AZURE_OPENAI_DEPLOYMENT and the api-version from OPENAI_API_VERSION', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': twoSpecs['src/a.imgprompt.json'],
    })
    await withEnv({ ...suite.azureEnv(), AZURE_OPENAI_DEPLOYMENT: 'images-eu', OPENAI_API_VERSION: '2025-06-01-preview' }, () => viteBuild(project.root))
    expect(suite.emulator.requests.map((r) => r.url)).toEqual(['/openai/deployments/images-eu/images/generations?api-version=2025-06-01-preview'])
  })

  it('authenticates with a TokenCredential: Bearer token, no api-key, one token for the build', async () => {
    const project = await suite.project(twoSpecs)
    const { credential, scopes } = testCredential(60 * 60_000)
    await withEnv({ ...suite.azureEnv(), AZURE_OPENAI_API_KEY: undefined }, () => viteBuild(project.root, { azure: { credential } }))

    expect(suite.emulator.requests).toHaveLength(2)
    for (const request of suite.emulator.requests) {
      expect(request.status).toBe(200)
      expect(request.headers.authorization).toBe(`Bearer ${TOKENS[0]}`)
      expect(request.headers['api-key']).toBeUndefined()
    }
    expect(scopes).toEqual(['https://cognitiveservices.azure.com/.default'])
  })

  it('refreshes a token that expires within five minutes, and shares one refresh between concurrent requests', async () => {
    const short = testCredential(4 * 60_000)
    const source = createTokenSource(async () => short.credential)
    const signal = new AbortController().signal
    expect(await Promise.all([source(signal, 'a'), source(signal, 'b')])).toEqual([TOKENS[0], TOKENS[0]])
    expect(await source(signal, 'c')).toBe(TOKENS[1])
    expect(short.scopes).toHaveLength(2)

    const long = testCredential(60 * 60_000)
    const cached = createTokenSource(async () => long.credential)
    await cached(signal, 'a')
    await cached(signal, 'b')
    expect(long.scopes).toHaveLength(1)
  })

  it('reports a credential that yields no token as AUTH, naming the spec, before any request', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': twoSpecs['src/a.imgprompt.json'],
    })
    const credential: TokenCredentialLike = { getToken: async () => null }
    const error = await failure(withEnv({ ...suite.azureEnv(), AZURE_OPENAI_API_KEY: undefined }, () => viteBuild(project.root, { azure: { credential } })))
    expect(error.message).toContain('AUTH')
    expect(error.message).toContain('src/a.imgprompt.json')
    expect(error.message).toContain('AZURE_OPENAI_API_KEY')
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it('uses the v1 URL with the deployment in `model` when apiVersion is v1 or preview', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': twoSpecs['src/a.imgprompt.json'],
    })
    await withEnv(suite.azureEnv(), () => viteBuild(project.root, { azure: { apiVersion: 'v1', deployment: 'img-v1' } }))
    await project.write('src/a.imgprompt.json', spec({ prompt: 'a harbour at night', model: 'gpt-image-2', size: '1024x1024' }))
    await withEnv(suite.azureEnv(), () => viteBuild(project.root, { azure: { apiVersion: 'preview', deployment: 'img-v1' } }))

    expect(suite.emulator.requests.map((r) => r.url)).toEqual(['/openai/v1/images/generations', '/openai/v1/images/generations?api-version=preview'])
    for (const request of suite.emulator.requests) {
      expect(request.status).toBe(200)
      expect(request.body.model).toBe('img-v1')
      expect(request.headers['api-key']).toBe(TEST_AZURE_KEY)
    }
  })

  it.each([
    ['output_format', { prompt: 'p', model: 'gpt-image-2', size: '1024x1024', output_format: 'webp' }, 'webp'],
    ['moderation', { prompt: 'p', model: 'gpt-image-2', size: '1024x1024', moderation: 'low' }, 'moderation'],
    ['image', { image: './in.png', model: 'dall-e-2', size: '256x256' }, 'variations'],
    ['model', { prompt: 'p', image: './in.png', model: 'gpt-image-1-mini', size: '1024x1024' }, 'gpt-image-1-mini'],
  ])('rejects %s that Azure does not support with SPEC_INVALID before any request', async (field, fields, word) => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec(fields),
      'src/in.png': await png(64, 64, [200, 40, 40]),
    })
    const error = await failure(withEnv(suite.azureEnv(), () => viteBuild(project.root)))
    expect(error.message).toContain('SPEC_INVALID')
    expect(error.message).toContain('src/a.imgprompt.json')
    expect(error.message).toContain(`field "${field}"`)
    expect(error.message).toContain(word)
    expect(error.message).toContain('Azure')
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it('rejects a chained edit Azure cannot make before its upstream spec is generated (and paid for)', async () => {
    const project = await suite.project({
      'src/main.js': "import b from './b.imgprompt.json'\nconsole.log(b)\n",
      'src/a.imgprompt.json': spec({ prompt: 'the upstream', model: 'gpt-image-1.5', size: '1024x1024' }),
      'src/b.imgprompt.json': spec({ prompt: 'an edit of it', image: './a.imgprompt.json', model: 'gpt-image-1-mini', size: '1024x1024' }),
    })
    const error = await failure(withEnv(suite.azureEnv(), () => viteBuild(project.root)))
    expect(error.message).toContain('SPEC_INVALID src/b.imgprompt.json')
    expect(error.message).toContain('gpt-image-1-mini')
    expect(suite.emulator.requests).toHaveLength(0)
    expect(await project.list('.ai-image')).toEqual([])
  })
})
