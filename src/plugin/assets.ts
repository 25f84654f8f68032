/**
 * How each bundler emits an image and spells its URL in module code. Rollup, Rolldown and Vite builds
 * emit through `emitFile` and reference the file with `import.meta.ROLLUP_FILE_URL_<ref>`, which the
 * bundler (and Vite, honouring `base`) turns into the final content-hashed URL.
 */

export interface EmittedImage {
  key: string
  index: number
  /** File name before hashing, e.g. `hero.png`. */
  name: string
  data: Buffer
  mime: string
}

export interface RollupLikeContext {
  emitFile(file: { type: 'asset'; name: string; source: Uint8Array }): string
}

/** Returns a JS expression evaluating to the image URL. */
export type AssetUrl = (context: RollupLikeContext, image: EmittedImage) => string

export const rollupAssetUrl: AssetUrl = (context, image) => {
  const ref = context.emitFile({ type: 'asset', name: image.name, source: image.data })
  return `import.meta.ROLLUP_FILE_URL_${ref}`
}
