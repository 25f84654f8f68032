/**
 * The one place that turns a resolved remote into a store, and the list of store kinds: a new backend is
 * one file and one line here. Each backend's module (and with it its SDK) is imported only when a remote of
 * that kind is configured, so a build without `remote` never loads @azure/storage-blob or @aws-sdk/client-s3.
 */
import type { RemoteConfig } from './config.js'
import type { ObjectStore } from './object-store.js'
import { RemoteCache, type RemoteCacheSetup } from './remote-cache.js'
import type { StoreOptions } from './store-options.js'

export async function openObjectStore(config: Pick<RemoteConfig, 'location' | 'display'>, options: StoreOptions = {}): Promise<ObjectStore> {
  const { location, display } = config
  switch (location.kind) {
    case 'azure':
      return (await import('./azure-blob-store.js')).AzureBlobStore.open(location, display, options)
    case 's3':
      return (await import('./s3-store.js')).S3Store.open(location, display, options)
  }
}

/** The remote cache of a resolved configuration: its store opened, its mode and signing key applied. */
export async function openRemoteCache(
  config: RemoteConfig,
  setup: Omit<RemoteCacheSetup, 'store' | 'mode' | 'signingKey'> & { storeOptions?: StoreOptions },
): Promise<RemoteCache> {
  const { storeOptions, ...rest } = setup
  const store = await openObjectStore(config, storeOptions)
  return new RemoteCache({ ...rest, store, mode: config.mode, ...(config.signingKey !== undefined ? { signingKey: config.signingKey } : {}) })
}
