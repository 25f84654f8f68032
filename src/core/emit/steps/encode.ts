/**
 * Encoding an image into the emitted format: PNG through the lossless optimizer (`png-optimize.ts`),
 * JPEG through mozjpeg, WebP and AVIF through sharp's encoders, at `quality` (else the encoder's default).
 * With `metadata: 'keep'` every file carries the provenance XMP (`../provenance.ts`): sharp writes it for JPEG
 * (APP1), WebP and AVIF; PNG gets the standard iTXt chunk, with `carried` chunks of the source.
 */
import type { Sharp } from 'sharp'
import type { EncodedImage } from '../../cache/derived.js'
import type { ImageFormat } from '../../image-format.js'
import { PROVENANCE_XMP, markPng } from '../provenance.js'
import { finish } from './finish.js'
import { optimizePng } from './png-optimize.js'

export interface EncodeOptions {
  quality: number | undefined
  metadata: 'keep' | 'strip'
  /** PNG only: chunks of the source a recompressed copy keeps byte for byte. */
  carried?: Buffer[]
}

export async function encode(image: Sharp, format: ImageFormat, options: EncodeOptions): Promise<EncodedImage> {
  const { quality, metadata } = options
  if (format === 'png') {
    const png = await optimizePng(image, quality)
    return metadata === 'keep' ? { ...png, data: markPng(png.data, options.carried) } : png
  }
  const q = quality === undefined ? {} : { quality }
  const pipeline =
    format === 'jpeg'
      ? image.clone().jpeg({ ...q, mozjpeg: true })
      : format === 'webp'
        ? image.clone().webp(q)
        : image.clone().avif(q)
  return finish(metadata === 'keep' ? pipeline.withXmp(PROVENANCE_XMP) : pipeline, format)
}
