/**
 * The `blur` placeholder: the image shrunk to at most 16 px on its long side, as WebP (about 100-300 bytes),
 * inlined as a data URL that works as `<img src>` and as a CSS background. The browser's smooth upscaling of
 * so few pixels is the blur. Made from the base (already flattened for JPEG, so the preview matches).
 */
import { dataUrl } from './data-url.js'
import type { EmitStep } from './step.js'

/** Long side of the `blur` placeholder. */
export const BLUR_SIZE = 16

export const blurPlaceholder: EmitStep = {
  name: 'blur placeholder',
  applies: ({ recipe }) => recipe.placeholder === 'blur',
  async run(state) {
    const data = await state.base
      .clone()
      .resize(BLUR_SIZE, BLUR_SIZE, { fit: 'inside' })
      .webp({ quality: 60, alphaQuality: 60, smartSubsample: true })
      .toBuffer()
    state.result.placeholder = dataUrl('image/webp', data)
  },
}
