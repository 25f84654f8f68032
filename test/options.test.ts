/**
 * resolveOptions: every default and environment variable, and clear errors for bad options.
 */
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { isCI, resolveOptions } from '../src/core/options.js'

const root = path.resolve('/project')

describe('resolveOptions', () => {
  it('picks the provider from the environment: azure, then openai, then placeholder with a notice', () => {
    expect(resolveOptions({}, { root, env: { AZURE_OPENAI_ENDPOINT: 'https://r.openai.azure.com/', OPENAI_API_KEY: 'sk-x' } }).provider).toMatchObject({
      kind: 'azure',
      endpoint: 'https://r.openai.azure.com',
    })
    expect(resolveOptions({}, { root, env: { OPENAI_API_KEY: 'sk-abcdefgh' } }).provider).toMatchObject({
      kind: 'openai',
      apiKey: 'sk-abcdefgh',
      baseURL: 'https://api.openai.com/v1',
    })
    const offline = resolveOptions({}, { root, env: {} })
    expect(offline.provider).toEqual({ kind: 'placeholder', explicit: false })
    expect(offline.notices).toHaveLength(1)
    const explicit = resolveOptions({ provider: 'placeholder' }, { root, env: { OPENAI_API_KEY: 'sk-x' } })
    expect(explicit.provider).toEqual({ kind: 'placeholder', explicit: true })
    expect(explicit.notices).toHaveLength(0)
  })

  it('reads every OpenAI variable, options winning over the environment', () => {
    const env = { OPENAI_API_KEY: 'sk-env-key-123', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1/', OPENAI_ORG_ID: 'org-env', OPENAI_PROJECT_ID: 'proj-env' }
    expect(resolveOptions({}, { root, env }).provider).toEqual({
      kind: 'openai',
      apiKey: 'sk-env-key-123',
      baseURL: 'http://127.0.0.1:9/v1',
      organization: 'org-env',
      project: 'proj-env',
    })
    expect(resolveOptions({ openai: { apiKey: 'sk-option-key', organization: 'org-opt' } }, { root, env }).provider).toMatchObject({
      apiKey: 'sk-option-key',
      organization: 'org-opt',
    })
    expect(resolveOptions({}, { root, env }).secrets).toEqual(['sk-env-key-123'])
  })

  it('reads the Azure variables', () => {
    const env = { AZURE_OPENAI_ENDPOINT: 'https://r.openai.azure.com', AZURE_OPENAI_API_KEY: 'azkey-0123456789', AZURE_OPENAI_DEPLOYMENT: 'img', OPENAI_API_VERSION: 'v1' }
    expect(resolveOptions({}, { root, env }).provider).toMatchObject({ kind: 'azure', apiKey: 'azkey-0123456789', deployment: 'img', apiVersion: 'v1', deployments: {} })
    expect(() => resolveOptions({ provider: 'azure' }, { root, env: {} })).toThrow(/azure\.endpoint.*AZURE_OPENAI_ENDPOINT/)
  })

  it('turns frozen on when CI is set, unless the option says otherwise', () => {
    expect(resolveOptions({}, { root, env: { CI: 'true' } }).frozen).toBe(true)
    expect(resolveOptions({}, { root, env: { CI: '1' } }).frozen).toBe(true)
    expect(resolveOptions({}, { root, env: {} }).frozen).toBe(false)
    expect(resolveOptions({ frozen: false }, { root, env: { CI: 'true' } }).frozen).toBe(false)
    expect(resolveOptions({ frozen: true }, { root, env: {} }).frozen).toBe(true)
    expect([isCI({ CI: 'false' }), isCI({ CI: '0' }), isCI({ CI: '' })]).toEqual([false, false, false])
  })

  it('has the documented defaults', () => {
    const o = resolveOptions({}, { root, env: {} })
    expect(o).toMatchObject({ root, cacheDir: path.join(root, '.ai-image'), concurrency: 4, retries: 4, timeout: 300_000, frozen: false })
    expect(o.derivedCacheDir).toBe(path.join(root, 'node_modules/.cache/unplugin-ai-image'))
    expect(o.isSpecFile(path.join(root, 'src/a.imgprompt.json'))).toBe(true)
    expect(o.isSpecFile(path.join(root, 'node_modules/x/a.imgprompt.json'))).toBe(false)
    expect(o.isSpecFile(path.join(root, 'src/a.json'))).toBe(false)
    const custom = resolveOptions({ include: 'src/**/*.imgprompt.json', exclude: ['src/legacy/**'] }, { root, env: {} })
    expect(custom.isSpecFile(path.join(root, 'src/a.imgprompt.json'))).toBe(true)
    expect(custom.isSpecFile(path.join(root, 'src/legacy/a.imgprompt.json'))).toBe(false)
    expect(custom.isSpecFile(path.join(root, 'other/a.imgprompt.json'))).toBe(false)
  })

  it('rejects bad options with the option name and the fix', () => {
    expect(() => resolveOptions({ concurrency: 0 }, { root, env: {} })).toThrow(/SPEC_INVALID plugin options: option "concurrency" must be an integer of at least 1/)
    expect(() => resolveOptions({ provider: 'dalle' as never }, { root, env: {} })).toThrow(/"dalle" is not a provider/)
    expect(() => resolveOptions({ timeout: -1 }, { root, env: {} })).toThrow(/"timeout"/)
    expect(() => resolveOptions({ defaults: { prompt: 'x' } as never }, { root, env: {} })).toThrow(/field "prompt" cannot be set for every spec/)
    expect(() => resolveOptions({ defaults: { sise: '1024x1024' } as never }, { root, env: {} })).toThrow(/Did you mean "size"/)
    expect(() => resolveOptions({ defaults: { quality: 'ultra' } as never }, { root, env: {} })).toThrow(/"ultra" must be one of: low/)
  })
})
