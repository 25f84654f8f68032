/**
 * Real cache entries for remote-cache tests (a sidecar whose request hashes to its key, and real PNG bytes),
 * and a stand-in for the sidecar checker the local cache owns: the remote cache takes the checker as an
 * argument, so these tests pass a minimal one that checks what the remote cache relies on.
 */
import sharp from 'sharp'
import { computeKey, type KeyMaterial } from '../../src/core/cache/key.js'
import { sha256 } from '../../src/core/hash.js'
import { sidecarFor, type Sidecar } from '../../src/core/cache/store.js'
import type { SidecarCheck } from '../../src/core/cache/remote/remote-cache.js'

export interface TestEntry {
  key: string
  sidecar: Sidecar
  images: Buffer[]
}

export async function makeEntry(prompt: string, n = 1): Promise<TestEntry> {
  const material: KeyMaterial = {
    endpoint: 'generations',
    request: { model: 'gpt-image-1.5', prompt, size: '1024x1024', quality: 'low', n, background: 'auto', output_format: 'png', moderation: 'auto' },
    inputs: [],
    mask: null,
    seed: null,
  }
  const key = computeKey(material)
  const images = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      sharp({ create: { width: 16 + i, height: 12, channels: 3, background: { r: prompt.length % 256, g: i * 40, b: 99 } } })
        .png()
        .toBuffer(),
    ),
  )
  const sidecar = sidecarFor(key, material, {
    provider: { kind: 'openai' },
    created: 1_760_000_000,
    revised_prompt: null,
    usage: null,
    request_id: 'req_test',
    images: images.map((data, i) => ({ file: `${key}-${i}.png`, sha256: sha256(data), bytes: data.length, width: 16 + i, height: 12, mime: 'image/png' })),
  })
  return { key, sidecar, images }
}

/** The stand-in checker: shape, and the recorded request hashing to the key it is stored under. */
export const standInCheck: SidecarCheck = (json, key) => {
  const s = json as Partial<Sidecar> | null
  if (!s || typeof s !== 'object') return { ok: false, reason: 'the sidecar is not an object' }
  if (s.key !== key) return { ok: false, reason: 'the sidecar does not describe this key' }
  if (!Array.isArray(s.images) || s.images.length === 0) return { ok: false, reason: 'the sidecar has no images' }
  for (const image of s.images) {
    if (!image || typeof image.sha256 !== 'string' || !Number.isInteger(image.bytes) || !Number.isInteger(image.width) || !Number.isInteger(image.height) || typeof image.mime !== 'string') {
      return { ok: false, reason: 'an image record is malformed' }
    }
  }
  if (typeof s.request !== 'object' || !Array.isArray(s.inputs)) return { ok: false, reason: 'the request is malformed' }
  const recomputed = computeKey({ endpoint: s.endpoint!, request: s.request!, inputs: s.inputs, mask: s.mask ?? null, seed: s.seed ?? null })
  if (recomputed !== key) return { ok: false, reason: 'its recorded request does not hash to its key' }
  return { ok: true, sidecar: s as Sidecar }
}
