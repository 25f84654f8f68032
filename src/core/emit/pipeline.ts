/**
 * The sharp pipeline: one cached image + a recipe → the emitted image, its resized variants and its
 * placeholder, by the steps `steps/index.ts` lists (each in a file of its own). Runs only when the derived
 * cache has no entry (a warm build never gets here, and never loads this module or sharp).
 */
import sharp from 'sharp'
import type { Derivation } from '../cache/derived.js'
import type { EmitRecipe } from './recipe.js'
import { EMIT_STEPS, type PipelineState } from './steps/index.js'
import { checkBackground } from './steps/flatten.js'

export type { Derivation, EncodedImage } from '../cache/derived.js'

export async function deriveImage(source: Buffer, recipe: EmitRecipe, label: string): Promise<Derivation> {
  checkBackground(recipe.background, label)
  const meta = await sharp(source).metadata()
  const state: PipelineState = {
    source,
    recipe,
    label,
    sourceWidth: meta.width,
    hasAlpha: meta.hasAlpha ?? false,
    base: sharp(source),
    altered: false,
    result: { main: undefined, variants: [], placeholder: undefined, flattened: false },
  }
  for (const step of EMIT_STEPS) if (step.applies(state)) await step.run(state)
  return state.result
}
