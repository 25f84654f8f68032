/** The bytes a sharp pipeline writes, with the dimensions it reports and the format it was told. */
import type { Sharp } from 'sharp'
import type { EncodedImage } from '../../cache/derived.js'
import type { ImageFormat } from '../../image-format.js'

export async function finish(pipeline: Sharp, format: ImageFormat): Promise<EncodedImage> {
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height, format }
}
