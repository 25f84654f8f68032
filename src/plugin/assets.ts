/**
 * How each bundler emits an image and spells its URL in module code. Rollup, Rolldown and Vite builds
 * emit through `emitFile` and reference the file with `import.meta.ROLLUP_FILE_URL_<ref>`, which the
 * bundler (and Vite, honouring `base`) turns into the final content-hashed URL.
 */
import type { AssetSink } from '../core/emit/image-module.js'

export interface RollupLikeContext {
  emitFile(file: { type: 'asset'; name: string; source: Uint8Array }): string
}

export function rollupAssetSink(context: RollupLikeContext): AssetSink {
  return (asset) => `import.meta.ROLLUP_FILE_URL_${context.emitFile({ type: 'asset', name: asset.name, source: asset.data })}`
}
