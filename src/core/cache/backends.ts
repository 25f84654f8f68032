/**
 * The cache's tiers, listed once: the committed folder, always first, then every tier after it, in lookup
 * order. A tier is one line in `TIERS_AFTER_LOCAL`: its name and how it opens from the options (undefined
 * when the options do not configure it, so its modules load only for projects that use it). The remote
 * cache (`remote/`) plugs in there.
 */
import type { Clock } from '../clock.js'
import type { CacheBackend } from './backend.js'
import { LocalCache } from './local.js'
import { CacheTiers } from './tiers.js'

/** The options a tier opens from (the resolved plugin options carry them). */
export interface TierOptions {
  cacheDir: string
}

export interface TierDefinition {
  name: string
  open(options: TierOptions, context: { warn(message: string): void; clock?: Clock }): Promise<CacheBackend | undefined>
}

/** The tiers after the committed folder, in lookup order. */
export const TIERS_AFTER_LOCAL: readonly TierDefinition[] = []

/** The cache of a project: the committed folder, then the configured tiers (opened on the first local miss). */
export function openCache(options: TierOptions, context: { warn(message: string): void; clock?: Clock }, tiers: readonly TierDefinition[] = TIERS_AFTER_LOCAL): CacheTiers {
  const local = new LocalCache(options.cacheDir, context.clock ? { clock: context.clock } : {})
  let opened: Promise<CacheBackend[]> | undefined
  const others = () =>
    (opened ??= Promise.all(tiers.map((tier) => tier.open(options, context))).then((list) => list.filter((tier): tier is CacheBackend => tier !== undefined)))
  return new CacheTiers(local, others, context.warn)
}
