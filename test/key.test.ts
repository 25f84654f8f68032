/**
 * The cache key is a contract with every committed cache: these tests pin what goes into it and what
 * does not.
 */
import { describe, expect, it } from 'vitest'
import { computeKey, KEY_SCHEMA_VERSION } from '../src/core/cache/key.js'
import { canonicalJson } from '../src/core/hash.js'
import { validateSpec, type ValidatedSpec } from '../src/core/spec/validate.js'
import type { RawSpec } from '../src/core/spec/source.js'

const root = process.cwd()

function validated(fields: Record<string, unknown>, defaults = {}): ValidatedSpec {
  const raw: RawSpec = { source: { kind: 'named', name: 't' }, label: 'virtual:ai-image/t', dir: root, fields }
  return validateSpec(raw, { root, defaults, warn: () => {} })
}

function keyOf(fields: Record<string, unknown>, defaults = {}): string {
  const spec = validated(fields, defaults)
  return computeKey({ endpoint: spec.endpoint, request: spec.request, inputs: [], mask: null, seed: spec.seed })
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}')
  })
  it('drops undefined values and rejects non-finite numbers', () => {
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}')
    expect(() => canonicalJson({ a: Number.NaN })).toThrow()
  })
})

describe('computeKey', () => {
  it('is stable across releases (changing it invalidates every committed cache)', () => {
    // Computed once by hand from the canonical JSON below; a change here must be a deliberate, documented migration.
    // {"endpoint":"generations","inputs":[],"mask":null,"request":{"background":"auto","model":"gpt-image-1.5","moderation":"auto",
    //  "n":1,"output_format":"png","prompt":"a lighthouse at dusk","quality":"auto","size":"1024x1024"},"seed":null,"v":1}
    expect(KEY_SCHEMA_VERSION).toBe(1)
    expect(keyOf({ prompt: 'a lighthouse at dusk', model: 'gpt-image-1.5', size: '1024x1024' })).toBe(
      '6cba07754ef30cba9a55f469791b25b0b9d5f5dbcf8298341ef95cb0a1c38571',
    )
  })

  it('hashes an explicit default like an omitted one', () => {
    const base = keyOf({ prompt: 'p', model: 'gpt-image-1.5' })
    expect(keyOf({ prompt: 'p', model: 'gpt-image-1.5', size: 'auto', quality: 'auto', n: 1, background: 'auto', moderation: 'auto', output_format: 'png', output_compression: 100 })).toBe(base)
    expect(keyOf({ prompt: 'p' })).toBe(base) // gpt-image-1.5 is the default model
    expect(keyOf({ prompt: 'p' }, { model: 'gpt-image-1.5', quality: 'auto' })).toBe(base)
    expect(keyOf({ prompt: 'p', model: 'dall-e-3' })).toBe(keyOf({ prompt: 'p', model: 'dall-e-3', size: '1024x1024', quality: 'standard', style: 'vivid' }))
  })

  it('normalizes prompt line endings', () => {
    expect(keyOf({ prompt: 'line one\r\nline two\rthree' })).toBe(keyOf({ prompt: 'line one\nline two\nthree' }))
  })

  it('leaves out what does not change the pixels: user, stream, partial_images, pick, alt, emit', () => {
    const base = keyOf({ prompt: 'p' })
    expect(keyOf({ prompt: 'p', user: 'u-1', stream: true, partial_images: 2, pick: 0, alt: 'x', emit: { format: 'webp', widths: [640] } })).toBe(base)
  })

  it('changes with anything that changes the request, the seed or the inputs', () => {
    const base = keyOf({ prompt: 'p' })
    for (const change of [{ prompt: 'q' }, { quality: 'high' }, { size: '1536x1024' }, { n: 2 }, { background: 'opaque' }, { seed: 1 }, { output_format: 'webp' }]) {
      expect(keyOf({ prompt: 'p', ...change }), JSON.stringify(change)).not.toBe(base)
    }
    expect(keyOf({ prompt: 'p', seed: 1 })).toBe(keyOf({ prompt: 'p', seed: '1' }))
    const spec = validated({ prompt: 'p' })
    const material = { endpoint: spec.endpoint, request: spec.request, mask: null, seed: null }
    expect(computeKey({ ...material, inputs: ['a'.repeat(64)] })).not.toBe(computeKey({ ...material, inputs: ['b'.repeat(64)] }))
    expect(computeKey({ ...material, inputs: ['a'.repeat(64), 'b'.repeat(64)] })).not.toBe(computeKey({ ...material, inputs: ['b'.repeat(64), 'a'.repeat(64)] }))
  })
})
