/**
 * The remote cache for the `ai-image` command: push every committed entry the remote lacks, pull what the
 * project uses (or everything the remote has) into the committed folder. Builds need none of this: their
 * lookups go local → remote → generation through the cache's tiers. Imported on first use.
 */
import { AiImageError } from '../errors.js'
import type { CacheBackend } from '../cache/backend.js'
import type { RemoteConfig } from '../cache/remote/config.js'
import type { CacheTiers } from '../cache/tiers.js'
import { pullEntries, pushEntries, type PullReport, type PushReport, type TransferOptions } from '../cache/transfer.js'

export type { PullReport, PushReport, TransferOptions, TransferProgress } from '../cache/transfer.js'

/** The remote cache as the command shows it (no secret). */
export interface RemoteSummary {
  /** Its URL without credentials. */
  display: string
  mode: 'read' | 'read-write'
  commitImages: boolean
  /** Whether entries are signed, and unsigned ones refused (`remote.signingKey`). */
  signed: boolean
}

export async function pushToRemote(cache: CacheTiers, config: RemoteConfig | undefined, options: TransferOptions): Promise<PushReport> {
  const tier = await remoteTierOf(cache, config, 'push')
  if (config!.mode !== 'read-write') {
    throw new AiImageError(
      'SPEC_INVALID',
      `remote cache ${config!.display} is in mode 'read' here (the default where CI is set), so nothing is pushed. Set AI_IMAGE_REMOTE_MODE=read-write (or remote.mode) where pushing is wanted, with a credential that may write`,
      { file: 'plugin options', field: 'remote.mode', data: { remote: true } },
    )
  }
  return pushEntries(cache, tier, options)
}

export async function pullFromRemote(cache: CacheTiers, config: RemoteConfig | undefined, keys: readonly string[] | 'all', options: TransferOptions): Promise<PullReport> {
  return pullEntries(cache, await remoteTierOf(cache, config, 'pull'), keys, options)
}

async function remoteTierOf(cache: CacheTiers, config: RemoteConfig | undefined, command: string): Promise<CacheBackend> {
  const tier = config && (await cache.tiersAfterLocal()).find((t) => t.name === config.display)
  if (!tier) {
    throw new AiImageError(
      'SPEC_INVALID',
      `no remote cache is configured, so there is nothing to ${command}. Set remote.url in ai-image.config.* (or AI_IMAGE_REMOTE), e.g. azure://<container>/<prefix> or s3://<bucket>/<prefix>`,
      { file: 'plugin options', field: 'remote.url' },
    )
  }
  return tier
}
