/**
 * The store SDKs are loaded only when a remote of their kind is opened: a build without `remote` never loads
 * @azure/storage-blob or @aws-sdk/client-s3 (they are large, and most projects commit their cache).
 */
import { describe, expect, it, vi } from 'vitest'

const loaded: string[] = []

vi.mock('@azure/storage-blob', async (importOriginal) => {
  loaded.push('@azure/storage-blob')
  return importOriginal()
})
vi.mock('@aws-sdk/client-s3', async (importOriginal) => {
  loaded.push('@aws-sdk/client-s3')
  return importOriginal()
})

describe('lazy store clients', () => {
  it('importing the package, resolving no remote and building a remote cache module graph loads no SDK', async () => {
    await import('../src/index.js')
    const { resolveRemote } = await import('../src/core/cache/remote/config.js')
    await import('../src/core/cache/remote/open.js')
    await import('../src/core/cache/remote/remote-cache.js')
    expect(resolveRemote(undefined, {})).toBeUndefined()
    expect(loaded).toEqual([])
  })

  it('opening an azure remote loads the Azure SDK only; an s3 remote then loads the S3 SDK', async () => {
    const { resolveRemote } = await import('../src/core/cache/remote/config.js')
    const { openObjectStore } = await import('../src/core/cache/remote/open.js')
    // Opening makes no request: these endpoints are never contacted.
    await openObjectStore(resolveRemote({ url: 'azure://images/site' }, { AZURE_STORAGE_CONNECTION_STRING: 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;' })!)
    expect(loaded).toEqual(['@azure/storage-blob'])
    await openObjectStore(resolveRemote({ url: 's3://images/site' }, { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret-value' })!)
    expect(loaded).toEqual(['@azure/storage-blob', '@aws-sdk/client-s3'])
  })
})
