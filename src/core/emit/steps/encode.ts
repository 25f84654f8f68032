/**
 * Encoding an image into the emitted format: PNG through the lossless optimizer (`png-optimize.ts`),
 * JPEG through mozjpeg, WebP and AVIF through sharp's encoders, at `quality` (else the encoder's default).
 */
import type { Sharp } from 'sharp'
import type { EncodedImage } from '../../cache/derived.js'
import type { ImageFormat } from '../../image-format.js'
import { finish } from './finish.js'
import { optimizePng } from './png-optimize.js'

export async function encode(image: Sharp, format: ImageFormat, quality: number | undefined): Promise<EncodedImage> {
  if (format === 'png') return optimizePng(image, quality)
  const q = quality === undefined ? {} : { quality }
  const pipeline =
    format === 'jpeg'
      ? image.clone().jpeg({ ...q, mozjpeg: true })
      : format === 'webp'
        ? image.clone().webp(q)
        : image.clone().avif(q)
  return finish(pipeline, format)
}
