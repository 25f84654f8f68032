/**
 * The warm path of a load: when the committed entry and every derived file are in place, the module is
 * made from the sidecar and the derived cache alone. The committed images are not read, hashed or
 * decoded: derived files are keyed by the SHA-256 the sidecar records and verified on their own, and each
 * committed image must still give the freshness token (`cache/backend.ts`) it gave when the full path last
 * read and verified it, so an altered image is never trusted. Anything else (a miss, a changed file, a
 * chain, an image emitted as it is, a derived file to make, a sidecar that fails its checks:
 * `completeSidecar` checks it exactly as `inspect` does) answers undefined, and the caller takes the full
 * path, which gives the same module and records the tokens of the images it verified.
 */
import type { CacheTiers } from '../cache/tiers.js'
import type { EmitOptions, ImageEmitter } from '../emit/emitter.js'
import { renderImageModule, type AssetSink } from '../emit/image-module.js'
import type { PreparedSpec } from '../engine/prepare.js'
import { isSpecPath } from '../spec-path.js'
import type { ValidatedSpec } from '../spec/validate.js'

export interface WarmDeps extends EmitOptions {
  /** Inputs and key of a spec without chained inputs. */
  prepare(spec: ValidatedSpec): Promise<PreparedSpec>
  cache: Pick<CacheTiers, 'completeSidecar'>
  emitter: ImageEmitter
}

/** The module code and key of `spec` from the sidecar and the derived cache, or undefined. */
export async function warmImageModule(deps: WarmDeps, spec: ValidatedSpec, sink: AssetSink): Promise<{ code: string; key: string } | undefined> {
  // A chain's key needs the upstream image, which only the full path resolves.
  if (spec.inputs.some(isSpecPath)) return undefined
  const { key } = await deps.prepare(spec)
  const complete = await deps.cache.completeSidecar(key)
  if (!complete) return undefined
  const sources = complete.sidecar.images.map((image, i) => ({ ...image, token: complete.tokens[i] }))
  const candidates = await deps.emitter.emit(spec, sources, deps)
  if (!candidates) return undefined
  return { code: renderImageModule(spec, key, candidates, sink), key }
}
