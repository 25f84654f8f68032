/**
 * The cache's tiers, listed once: the committed folder, always first, then every tier after it, in lookup
 * order. A tier is one line in `TIERS_AFTER_LOCAL`: its name and how it opens from the options (undefined
 * when the options do not configure it, so its modules load only for projects that use it).
 */
import type { Clock } from '../clock.js'
import type { CacheBackend } from './backend.js'
import { LocalCache } from './local.js'
import type { RemoteConfig } from './remote/config.js'
import { CacheTiers } from './tiers.js'

/** The options a tier opens from (the resolved plugin options carry them). */
export interface TierOptions {
  cacheDir: string
  /** The `remote` option, resolved (`remote/config.ts`); undefined when no remote is configured. */
  remote?: RemoteConfig | undefined
}

export interface TierDefinition {
  name: string
  open(options: TierOptions, context: { warn(message: string): void; clock?: Clock }): Promise<CacheBackend | undefined>
}

/** The tiers after the committed folder, in lookup order. */
export const TIERS_AFTER_LOCAL: readonly TierDefinition[] = [
  // Azure Blob Storage or S3 (`remote/`): its module and the store's SDK are imported on the first local miss.
  { name: 'remote', open: async ({ remote }, context) => (remote ? (await import('./remote/tier.js')).openRemoteTier(remote, context) : undefined) },
]

/** The cache of a project: the committed folder, then the configured tiers (opened on the first local miss). */
export function openCache(options: TierOptions, context: { warn(message: string): void; clock?: Clock }, tiers: readonly TierDefinition[] = TIERS_AFTER_LOCAL): CacheTiers {
  const local = new LocalCache(options.cacheDir, {
    ...(context.clock ? { clock: context.clock } : {}),
    commitImages: options.remote?.commitImages ?? true,
    warn: context.warn,
  })
  let opened: Promise<CacheBackend[]> | undefined
  const others = () =>
    (opened ??= Promise.all(tiers.map((tier) => tier.open(options, context))).then((list) => list.filter((tier): tier is CacheBackend => tier !== undefined)))
  return new CacheTiers(local, others, context.warn)
}
