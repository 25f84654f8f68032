/**
 * Names of emitted assets. The bundler adds the content hash (`assets/hero-3f2a1b.png`); the stem keeps
 * the spec's name so a `dist/` listing stays readable.
 */
import { extensionOf } from '../image-format.js'
import { specStem } from '../spec-path.js'
import type { ValidatedSpec } from '../spec/validate.js'

export function assetStem(spec: ValidatedSpec, key: string): string {
  const raw =
    spec.source.kind === 'file'
      ? specStem(spec.source.file)
      : spec.source.kind === 'named'
        ? spec.source.name
        : `ai-image-${key.slice(0, 8)}`
  return raw.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'ai-image'
}

/** `hero.png` for a single image; `hero-0.png`, `hero-1.png`, … for candidates. */
export function assetFileName(spec: ValidatedSpec, key: string, index: number, count: number, mime: string): string {
  return `${candidateStem(spec, key, index, count)}.${extensionOf(mime)}`
}

/** A resized variant: `hero-640w.webp`, or `hero-1-640w.webp` when there are candidates. */
export function variantFileName(spec: ValidatedSpec, key: string, index: number, count: number, width: number, mime: string): string {
  return `${candidateStem(spec, key, index, count)}-${width}w.${extensionOf(mime)}`
}

function candidateStem(spec: ValidatedSpec, key: string, index: number, count: number): string {
  return `${assetStem(spec, key)}${count > 1 ? `-${index}` : ''}`
}
