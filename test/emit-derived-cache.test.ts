/**
 * The derived cache on its own: what its key depends on, atomic writes, and reads that verify every
 * file (anything missing or altered is a miss, never a broken asset).
 */
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DerivedCache, entryOf } from '../src/core/cache/derived.js'
import type { Derivation } from '../src/core/emit/pipeline.js'
import { derivedKey, isPassThrough, recipeFor, type EmitRecipe } from '../src/core/emit/recipe.js'
import type { NormalizedEmit } from '../src/core/spec/validate.js'

const SOURCE = 'a'.repeat(64)
const PINNED_KEEP = '48a5b32f9f0b439ee5deed2ca764bb24236f8451b39dbbad183435e72c158ae2'
const PINNED_JPEG = '4e8c9cf9bc2005fd4ba382cabf66d56160628ccebf3bf92ed77814c172c0f5ec'
const base: EmitRecipe = { format: 'webp', quality: undefined, widths: [640], placeholder: 'blur', background: '#ffffff', metadata: 'keep' }

describe('derived key and recipe', () => {
  it('changes with the source and every option that changes the output', () => {
    const key = derivedKey(SOURCE, base)
    expect(derivedKey(SOURCE, { ...base })).toBe(key)
    const changed = [
      derivedKey('b'.repeat(64), base),
      derivedKey(SOURCE, { ...base, format: 'avif' }),
      derivedKey(SOURCE, { ...base, quality: 70 }),
      derivedKey(SOURCE, { ...base, widths: [640, 1280] }),
      derivedKey(SOURCE, { ...base, placeholder: 'thumbhash' }),
      derivedKey(SOURCE, { ...base, format: 'jpeg', background: '#000000' }),
      derivedKey(SOURCE, { ...base, metadata: 'strip' }),
    ]
    expect(new Set([key, ...changed]).size).toBe(changed.length + 1)
    // The background only matters to JPEG.
    expect(derivedKey(SOURCE, { ...base, background: '#000000' })).toBe(key)
    expect(derivedKey(SOURCE, { ...base, format: 'jpeg', background: '#000000' })).not.toBe(derivedKey(SOURCE, { ...base, format: 'jpeg' }))
  })

  it('hashes the whole recipe: a field it gains changes the key without being listed anywhere', () => {
    const key = derivedKey(SOURCE, base)
    expect(derivedKey(SOURCE, { ...base, sharpen: 1 } as EmitRecipe)).not.toBe(key)
    expect(derivedKey(SOURCE, { ...base, sharpen: 2 } as EmitRecipe)).not.toBe(derivedKey(SOURCE, { ...base, sharpen: 1 } as EmitRecipe))
  })

  it('gives new keys to the files made before provenance marks (which lack the mark), and pins the new ones', () => {
    // The canonical recipe of the first release, without `metadata`: its files carry no XMP mark and must not
    // be reused, so the recipe with `metadata` hashes to other keys (pinned here, so they do not drift).
    const { metadata: _metadata, ...firstRelease } = base
    expect(derivedKey(SOURCE, firstRelease as EmitRecipe)).toBe('75d56c67a6b3ccbdd62c3bdb31088ca2ef404dd1ad3ec890bcdc97ad46c4fe80')
    expect(derivedKey(SOURCE, base)).not.toBe('75d56c67a6b3ccbdd62c3bdb31088ca2ef404dd1ad3ec890bcdc97ad46c4fe80')
    expect(derivedKey(SOURCE, base)).toBe(PINNED_KEEP)
    expect(derivedKey(SOURCE, { format: 'jpeg', quality: 70, widths: [], placeholder: 'none', background: '#000', metadata: 'keep' })).toBe(PINNED_JPEG)
  })

  it('gives widths and the placeholder to the picked candidate only, and defaults to the generated format', () => {
    const emit: NormalizedEmit = { widths: [320, 640], placeholder: 'thumbhash', background: '#fff' }
    expect(recipeFor(emit, 'image/jpeg', true)).toEqual({ format: 'jpeg', quality: undefined, widths: [320, 640], placeholder: 'thumbhash', background: '#fff', metadata: 'keep' })
    expect(recipeFor({ ...emit, metadata: 'strip' }, 'image/jpeg', true)).toMatchObject({ metadata: 'strip' })
    expect(recipeFor(emit, 'image/jpeg', false)).toMatchObject({ widths: [], placeholder: 'none' })
  })

  it('passes a lossy image through untouched only when nothing is asked of it', () => {
    const plain = recipeFor({ widths: [], placeholder: 'none', background: '#fff' }, 'image/jpeg', true)
    expect(isPassThrough(plain, 'image/jpeg')).toBe(true)
    expect(isPassThrough({ ...plain, quality: 80 }, 'image/jpeg')).toBe(false)
    expect(isPassThrough({ ...plain, format: 'webp' }, 'image/jpeg')).toBe(false)
    expect(isPassThrough({ ...plain, widths: [100] }, 'image/jpeg')).toBe(false)
    // PNG meets the lossless optimizer, except in the dev server.
    expect(isPassThrough({ ...plain, format: 'png' }, 'image/png')).toBe(false)
    expect(isPassThrough({ ...plain, format: 'png' }, 'image/png', false)).toBe(true)
    expect(isPassThrough({ ...plain, format: 'png', widths: [100] }, 'image/png', false)).toBe(false)
  })
})

describe('DerivedCache', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ai-image-derived-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const derivation: Derivation = {
    main: { data: Buffer.from('main bytes'), width: 1536, height: 1024, format: 'webp' },
    variants: [{ data: Buffer.from('variant bytes'), width: 640, height: 427, format: 'webp' }],
    placeholder: 'data:image/webp;base64,AAAA',
    flattened: false,
  }

  it('reads back exactly what was written, files first and the manifest last, no temp files left', async () => {
    const cache = new DerivedCache(dir)
    const key = derivedKey(SOURCE, base)
    expect(await cache.read(key, SOURCE)).toBeUndefined()
    await cache.write(key, SOURCE, undefined, derivation)
    expect(await cache.read(key, SOURCE)).toEqual(entryOf(derivation, undefined))
    const files = await readdir(path.join(dir, key.slice(0, 2)))
    expect(files.sort()).toEqual([`${key}-640w.webp`, `${key}-main.webp`, `${key}.json`])
  })

  it('treats a missing, truncated or altered file, a foreign manifest or another source as a miss', async () => {
    const cache = new DerivedCache(dir)
    const key = derivedKey(SOURCE, { ...base, quality: 42 })
    const folder = path.join(dir, key.slice(0, 2))
    const reset = () => cache.write(key, SOURCE, undefined, derivation)

    await reset()
    expect(await cache.read(key, 'c'.repeat(64))).toBeUndefined()

    await writeFile(path.join(folder, `${key}-640w.webp`), 'variant bytez')
    expect(await cache.read(key, SOURCE)).toBeUndefined()

    await reset()
    await writeFile(path.join(folder, `${key}-main.webp`), 'main')
    expect(await cache.read(key, SOURCE)).toBeUndefined()

    await reset()
    await rm(path.join(folder, `${key}-main.webp`))
    expect(await cache.read(key, SOURCE)).toBeUndefined()

    await reset()
    const manifest = JSON.parse(await readFile(cache.manifestPath(key), 'utf8'))
    await writeFile(cache.manifestPath(key), JSON.stringify({ ...manifest, main: { ...manifest.main, file: '../../etc/passwd' } }))
    expect(await cache.read(key, SOURCE)).toBeUndefined()

    await writeFile(cache.manifestPath(key), '{ not json')
    expect(await cache.read(key, SOURCE)).toBeUndefined()

    await reset()
    expect(await cache.read(key, SOURCE)).toEqual(entryOf(derivation, undefined))
  })

  it('hashes a file only when its stamp changed, like git\'s index; a restored mtime does not hide an edit', async () => {
    const cache = new DerivedCache(dir)
    const key = derivedKey(SOURCE, { ...base, quality: 7 })
    const variantPath = path.join(dir, key.slice(0, 2), `${key}-640w.webp`)
    await cache.write(key, SOURCE, undefined, derivation)
    const manifest = () => readFile(cache.manifestPath(key), 'utf8').then((text) => JSON.parse(text))
    const written = await manifest()
    expect(written.variants[0].stamp).toMatchObject({ size: 13, ino: expect.any(Number), ctimeMs: expect.any(Number) })

    // Unchanged stamp: the content is not hashed (a wrong SHA-256 in the manifest goes unnoticed) …
    await writeFile(cache.manifestPath(key), JSON.stringify({ ...written, variants: [{ ...written.variants[0], sha256: 'f'.repeat(64) }] }))
    expect(await cache.read(key, SOURCE)).toEqual(entryOf(derivation, undefined))
    // … without a stamp, it is, and the mismatch is a miss.
    await writeFile(cache.manifestPath(key), JSON.stringify({ ...written, variants: [{ ...written.variants[0], sha256: 'f'.repeat(64), stamp: undefined }] }))
    expect(await cache.read(key, SOURCE)).toBeUndefined()

    // Same size, mtime put back: the ctime still moved, so the edit is found.
    await cache.write(key, SOURCE, undefined, derivation)
    const before = await stat(variantPath)
    await writeFile(variantPath, 'variant byteZ')
    await utimes(variantPath, before.atime, before.mtime)
    expect(await cache.read(key, SOURCE)).toBeUndefined()
  })

  it('verifies files without a valid stamp (a restored CI cache) by content, then stamps them', async () => {
    const cache = new DerivedCache(dir)
    const key = derivedKey(SOURCE, { ...base, quality: 8 })
    await cache.write(key, SOURCE, undefined, derivation)
    const written = JSON.parse(await readFile(cache.manifestPath(key), 'utf8'))
    const stale = { size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1 }
    await writeFile(cache.manifestPath(key), JSON.stringify({ ...written, main: { ...written.main, stamp: stale }, variants: [{ ...written.variants[0], stamp: stale }] }))
    expect(await cache.read(key, SOURCE)).toEqual(entryOf(derivation, undefined))
    const restamped = JSON.parse(await readFile(cache.manifestPath(key), 'utf8'))
    expect(restamped.main.stamp).toEqual(written.main.stamp)
    expect(restamped.variants[0].stamp).toEqual(written.variants[0].stamp)
  })

  it('stores "the source is the answer" without a file', async () => {
    const cache = new DerivedCache(dir)
    const key = derivedKey(SOURCE, { ...base, format: 'png', widths: [], placeholder: 'none' })
    await cache.write(key, SOURCE, undefined, { main: undefined, variants: [], placeholder: undefined, flattened: false })
    expect(await cache.read(key, SOURCE)).toEqual({ sourceStamp: undefined, main: undefined, variants: [], placeholder: undefined, flattened: false })
  })
})
