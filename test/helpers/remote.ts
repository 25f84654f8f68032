/**
 * The real stores for a remote-cache test file: Azurite, s3rver and the conditional-write proxy in front of
 * s3rver, started once for the file and stopped after it. Each test opens stores under its own prefix, so
 * tests never see each other's objects.
 */
import { randomBytes } from 'node:crypto'
import { ContainerSASPermissions, generateBlobSASQueryParameters } from '@azure/storage-blob'
import { afterAll, beforeAll } from 'vitest'
import { resolveRemote } from '../../src/core/cache/remote/config.js'
import type { ObjectStore } from '../../src/core/cache/remote/object-store.js'
import { openObjectStore } from '../../src/core/cache/remote/open.js'
import type { StoreOptions } from '../../src/core/cache/remote/store-options.js'
import { startAzurite, type Azurite } from './azurite.js'
import { startConditionalProxy, startS3Server, type ConditionalProxy, type S3Server } from './s3-server.js'

export const CONTAINER = 'ai-image-cache'
export const BUCKET = 'ai-image-cache'

/** Fast retries: tests of faults must not wait out production backoff. */
export const FAST_RETRIES: StoreOptions = { maxTries: 3, retryDelayMs: 20, maxRetryDelayMs: 100, operationTimeoutMs: 20_000, connectTimeoutMs: 2_000 }

export interface RemoteServers {
  readonly azurite: Azurite
  readonly s3: S3Server
  readonly conditional: ConditionalProxy
}

/**
 * Start the servers before the file's tests and stop them after. A server that cannot start fails every test
 * that uses it, with the reason (a failing hook would only mark the tests skipped): there is no fallback,
 * with or without CI.
 */
export function remoteServers(which: { azure?: boolean; s3?: boolean } = { azure: true, s3: true }): RemoteServers {
  let azurite: Azurite | undefined
  let s3: S3Server | undefined
  let conditional: ConditionalProxy | undefined
  const failures: Partial<Record<'azure' | 's3', unknown>> = {}
  beforeAll(async () => {
    const starting: Array<Promise<unknown>> = []
    if (which.azure) {
      starting.push(
        startAzurite()
          .then(async (started) => {
            azurite = started
            await started.container(CONTAINER)
          })
          .catch((error: unknown) => (failures.azure = error)),
      )
    }
    if (which.s3) {
      starting.push(
        startS3Server([BUCKET])
          .then(async (started) => {
            s3 = started
            conditional = await startConditionalProxy(started.endpoint)
          })
          .catch((error: unknown) => (failures.s3 = error)),
      )
    }
    await Promise.all(starting)
  })
  afterAll(async () => {
    await conditional?.close()
    await Promise.all([azurite?.stop(), s3?.stop()])
  })
  const started = <T>(server: T | undefined, kind: 'azure' | 's3', name: string): T => {
    if (failures[kind] !== undefined) throw new Error(`${name} could not be started for this test file`, { cause: failures[kind] })
    if (server === undefined) throw new Error(`${name} was not started for this test file`)
    return server
  }
  return {
    get azurite() {
      return started(azurite, 'azure', 'Azurite')
    },
    get s3() {
      return started(s3, 's3', 'the S3 server (s3rver)')
    },
    get conditional() {
      return started(conditional, 's3', 'the S3 server (s3rver)')
    },
  }
}

/** A prefix no other test uses. */
export function uniquePrefix(label = 't'): string {
  return `${label}-${randomBytes(6).toString('hex')}`
}

export type Backend = 'azure' | 'azure-sas' | 's3' | 's3rver'

/** Env and URL of a remote on `backend` under `prefix`, optionally through another origin (a fault proxy). */
export function remoteFor(servers: RemoteServers, backend: Backend, prefix: string, through?: string): { url: string; env: Record<string, string> } {
  switch (backend) {
    case 'azure':
      return { url: `azure://${CONTAINER}/${prefix}`, env: { AZURE_STORAGE_CONNECTION_STRING: servers.azurite.connectionString(through) } }
    case 'azure-sas':
      return { url: sasUrl(servers.azurite, prefix, through), env: {} }
    case 's3':
      return { url: `s3://${BUCKET}/${prefix}`, env: servers.s3.env(through ?? servers.conditional.endpoint) }
    case 's3rver':
      return { url: `s3://${BUCKET}/${prefix}`, env: servers.s3.env(through) }
  }
}

export async function openStore(servers: RemoteServers, backend: Backend, prefix: string, options: StoreOptions = FAST_RETRIES, through?: string): Promise<ObjectStore> {
  const { url, env } = remoteFor(servers, backend, prefix, through)
  return openObjectStore(resolveRemote({ url }, env)!, options)
}

/** A container SAS URL for Azurite, valid for an hour unless `expiresOn` says otherwise. */
export function sasUrl(azurite: Azurite, prefix: string, through?: string, options: { permissions?: string; expiresOn?: Date } = {}): string {
  const sas = generateBlobSASQueryParameters(
    {
      containerName: CONTAINER,
      permissions: ContainerSASPermissions.parse(options.permissions ?? 'rcwl'),
      startsOn: new Date(Date.now() - 60 * 60_000),
      expiresOn: options.expiresOn ?? new Date(Date.now() + 60 * 60_000),
    },
    azurite.credential,
  ).toString()
  return `${through ?? azurite.origin}/devstoreaccount1/${CONTAINER}/${prefix}?${sas}`
}

/**
 * Write or delete an object directly, bypassing the plugin's stores and their conditions: what someone with
 * write access to the bucket can do (tamper with an image, leave half an upload).
 */
export async function rawObjects(servers: RemoteServers, backend: Backend): Promise<{ put(name: string, data: Uint8Array): Promise<void>; remove(name: string): Promise<void> }> {
  if (backend === 'azure' || backend === 'azure-sas') {
    const container = await servers.azurite.container(CONTAINER)
    return {
      put: async (name, data) => void (await container.getBlockBlobClient(name).upload(data, data.length)),
      remove: async (name) => void (await container.getBlobClient(name).deleteIfExists()),
    }
  }
  const { S3Client, PutObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3')
  const client = new S3Client({
    endpoint: servers.s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  })
  return {
    put: async (name, data) => void (await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: name, Body: data }))),
    remove: async (name) => void (await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: name }))),
  }
}
