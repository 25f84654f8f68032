/**
 * What one transform step of the emit pipeline is: whether a recipe asks for it, and what it does to the
 * derivation in the making. `index.ts` lists the steps once, in the order they run.
 */
import type { Sharp } from 'sharp'
import type { Derivation } from '../../cache/derived.js'
import type { EmitRecipe } from '../recipe.js'

/** One derivation in the making: the source, its facts, the image pipeline so far and what was made. */
export interface PipelineState {
  readonly source: Buffer
  readonly recipe: EmitRecipe
  /** The spec, for messages. */
  readonly label: string
  readonly sourceWidth: number
  readonly hasAlpha: boolean
  /** What the emitted files are made from (the flatten step replaces it with the flattened image). */
  base: Sharp
  /** Set when the base is no longer the source's pixels as they are (flattened). */
  altered: boolean
  /**
   * The provider's provenance of a PNG emitted as PNG (the provenance step): `keepSource` when only its bytes as
   * they are keep it (a C2PA manifest, an XMP packet); `carried`, chunks a recompressed copy keeps (Exif).
   */
  provenance?: { keepSource: boolean; carried: Buffer[] }
  readonly result: Derivation
}

export interface EmitStep {
  readonly name: string
  /** Whether this step runs for the state's recipe (and source). */
  applies(state: PipelineState): boolean
  run(state: PipelineState): Promise<void>
}
