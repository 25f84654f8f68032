/**
 * The warm path of an import: when the committed entry and every derived file are in place, the module
 * is made from the sidecar and the derived cache alone. The committed images are not read, hashed or
 * decoded: derived files are keyed by the SHA-256 the sidecar records and verified on their own, and
 * each committed file must still carry the stamp (size, mtime, ctime, inode; `cache/stamp.ts`) it had
 * when the full path last read and verified it, so an altered image is never trusted. Anything else (a
 * miss, a changed file, a chain, an image emitted as it is, a derived file to make, a sidecar that fails
 * its checks: `completeSidecar` checks it exactly as `inspect` does) answers undefined,
 * and the caller takes the full path (`service.resolve` → `imageModuleCode`), which gives the same module
 * and stamps the files it verified.
 */
import type { CacheStore } from '../cache/store.js'
import type { ImageEngine } from '../engine/generate.js'
import { isSpecPath } from '../spec-path.js'
import type { ValidatedSpec } from '../spec/validate.js'
import type { EmitOptions, ImageEmitter } from './emitter.js'
import { renderImageModule, type AssetSink } from './image-module.js'

export interface WarmDeps extends EmitOptions {
  engine: Pick<ImageEngine, 'prepare' | 'stats' | 'usedKeys'>
  store: Pick<CacheStore, 'completeSidecar'>
  emitter: ImageEmitter
}

export async function warmImageModule(deps: WarmDeps, spec: ValidatedSpec, sink: AssetSink): Promise<string | undefined> {
  // A chain's key needs the upstream image, which only the engine resolves.
  if (spec.inputs.some(isSpecPath)) return undefined
  const { key } = await deps.engine.prepare(spec, async () => {
    throw new Error('unreachable: specs with chained inputs take the full path')
  })
  const complete = await deps.store.completeSidecar(key)
  if (!complete) return undefined
  const sources = complete.sidecar.images.map((image, i) => ({ ...image, stamp: complete.stamps[i] }))
  const candidates = await deps.emitter.emit(spec, sources, deps)
  if (!candidates) return undefined
  deps.engine.stats.hits++
  const code = renderImageModule(spec, key, candidates, sink)
  deps.engine.usedKeys.add(key)
  return code
}
