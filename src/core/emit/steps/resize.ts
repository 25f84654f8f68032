/**
 * Resized variants, one per width of the recipe, smallest first, in the emitted format. A width at or above
 * the image's own is never produced: the image is not upscaled (the full-size image serves it).
 */
import { encode } from './encode.js'
import type { EmitStep } from './step.js'

export const resize: EmitStep = {
  name: 'resize',
  applies: ({ recipe }) => recipe.widths.length > 0,
  async run(state) {
    for (const width of state.recipe.widths) {
      if (width >= state.sourceWidth) continue
      state.result.variants.push(await encode(state.base.clone().resize({ width }), state.recipe.format, { quality: state.recipe.quality, metadata: state.recipe.metadata }))
    }
  },
}
