/**
 * Resolved image → module code: every emitted file goes through the bundler's `AssetSink`, which
 * returns the JS expression of its URL. Bundler-agnostic; the same input gives the same exports on a
 * cache hit and on a miss.
 */
import type { ResolvedImage } from '../engine/generate.js'
import { assetFileName } from './asset-name.js'
import { renderModule } from './module-code.js'

export interface EmittedAsset {
  /** Cache key and candidate index of the source image. */
  key: string
  index: number
  /** File name before the bundler's content hash, e.g. `hero.png`. */
  name: string
  data: Buffer
  mime: string
}

/** Emits one file; returns a JS expression evaluating to its public URL. */
export type AssetSink = (asset: EmittedAsset) => string

export async function imageModuleCode(image: ResolvedImage, sink: AssetSink): Promise<string> {
  const { spec } = image
  const count = image.images.length
  const urls = image.images.map((file, index) =>
    sink({ key: image.key, index, name: assetFileName(spec, image.key, index, count, file.mime), data: file.data, mime: file.mime }),
  )
  return renderModule({
    images: image.images.map((file, i) => ({ url: urls[i]!, width: file.width, height: file.height })),
    pick: spec.pick,
    alt: spec.alt,
    key: image.key,
    srcset: [],
    placeholder: undefined,
  })
}
