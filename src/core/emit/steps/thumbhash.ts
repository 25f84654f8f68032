/**
 * The `thumbhash` placeholder: the image's ThumbHash (evanw's `thumbhash`: colours, alpha and the rough
 * layout in ~25 bytes), rendered back to its ~32 px picture and inlined as a compressed PNG data URL. Made
 * from the base (already flattened for JPEG, so the preview matches).
 */
import sharp from 'sharp'
import { rgbaToThumbHash, thumbHashToRGBA } from 'thumbhash'
import { dataUrl } from './data-url.js'
import type { EmitStep } from './step.js'

/** ThumbHash encodes images of at most 100x100 pixels. */
const THUMBHASH_INPUT = 100

export const thumbhashPlaceholder: EmitStep = {
  name: 'thumbhash placeholder',
  applies: ({ recipe }) => recipe.placeholder === 'thumbhash',
  async run(state) {
    const { data, info } = await state.base
      .clone()
      .resize(THUMBHASH_INPUT, THUMBHASH_INPUT, { fit: 'inside' })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true })
    const hash = rgbaToThumbHash(info.width, info.height, data)
    const rendered = thumbHashToRGBA(hash)
    let png = sharp(Buffer.from(rendered.rgba.buffer, rendered.rgba.byteOffset, rendered.rgba.byteLength), {
      raw: { width: rendered.w, height: rendered.h, channels: 4 },
    })
    // An opaque preview needs no alpha channel: a quarter less to inline.
    if (isOpaque(rendered.rgba)) png = png.removeAlpha()
    state.result.placeholder = dataUrl('image/png', await png.png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer())
  },
}

function isOpaque(rgba: Uint8Array): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return false
  return true
}
