/**
 * Flattening: a transparent image emitted as JPEG (no alpha channel) is flattened onto `background`, and
 * the caller is told when it had transparent pixels (it warns on every build until the spec changes).
 */
import sharp from 'sharp'
import { specInvalid } from '../../errors.js'
import type { EmitStep } from './step.js'

export const flatten: EmitStep = {
  name: 'flatten',
  applies: ({ recipe, hasAlpha }) => recipe.format === 'jpeg' && hasAlpha,
  async run(state) {
    // An alpha channel that is fully opaque changes nothing when flattened: no warning for it.
    state.result.flattened = !(await sharp(state.source).stats()).isOpaque
    state.base = state.base.flatten({ background: state.recipe.background })
    state.altered = true
  },
}

/** An unparseable colour fails on every derivation, not only when a transparent JPEG happens to use it. */
export function checkBackground(background: string, label: string): void {
  try {
    sharp({ create: { width: 1, height: 1, channels: 3, background } })
  } catch {
    throw specInvalid(
      label,
      'emit.background',
      `${JSON.stringify(background)} is not a colour`,
      "Use a CSS colour such as '#ffffff', '#000', 'rgb(20, 20, 20)' or 'white'",
    )
  }
}
