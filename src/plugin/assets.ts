/**
 * How each bundler emits an image and spells its URL in module code. Rollup, Rolldown and Vite builds
 * emit through `emitFile` and reference the file with `import.meta.ROLLUP_FILE_URL_<ref>`, which the
 * bundler (and Vite, honouring `base`) turns into the final content-hashed URL. webpack, Rspack and
 * esbuild (`webpack-hooks.ts`, `esbuild-hooks.ts`) name the file themselves with `hashedAssetPath`, the
 * same shape as Rollup's default `assets/[name]-[hash][extname]`.
 */
import { createHash } from 'node:crypto'
import path from 'node:path'
import type { AssetSink, EmittedAsset } from '../core/service.js'

export interface RollupLikeContext {
  emitFile(file: { type: 'asset'; name: string; source: Uint8Array }): string
}

export function rollupAssetSink(context: RollupLikeContext): AssetSink {
  return (asset) => `import.meta.ROLLUP_FILE_URL_${context.emitFile({ type: 'asset', name: asset.name, source: asset.data })}`
}

/** Digits of the content hash in a file name: as many as Rollup uses, far from colliding in one project. */
const HASH_LENGTH = 8

/** Hash of an asset's bytes for its file name (lowercase hex: safe on case-insensitive disks). */
export function contentHash(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, HASH_LENGTH)
}

/** `assets/hero-1a2b3c4d.png`: the asset's name plus the hash of its bytes. */
export function hashedAssetPath(asset: Pick<EmittedAsset, 'name' | 'data'>): string {
  const ext = path.extname(asset.name)
  const stem = asset.name.slice(0, asset.name.length - ext.length)
  return `assets/${stem}-${contentHash(asset.data)}${ext}`
}

/** `publicPath` + file, with one `/` between them as esbuild and webpack do; '' keeps the URL relative. */
export function publicUrl(publicPath: string, file: string): string {
  return publicPath === '' || publicPath.endsWith('/') ? `${publicPath}${file}` : `${publicPath}/${file}`
}
