/**
 * resolveRemote: the `remote` option and its environment variables, with DESIGN.md's names; every bad value
 * is a SPEC_INVALID naming the field and the fix, and no secret appears in a display or an error.
 */
import { describe, expect, it } from 'vitest'
import { AiImageError } from '../src/core/errors.js'
import { resolveRemote } from '../src/core/cache/remote/config.js'

const ACCOUNT_KEY = 'c2VjcmV0LWFjY291bnQta2V5LWZvci10ZXN0cy1vbmx5'
const CONNECTION = `DefaultEndpointsProtocol=https;AccountName=teamstore;AccountKey=${ACCOUNT_KEY};EndpointSuffix=core.windows.net`
const SIG = 'c2lnbmF0dXJlLWZvci10ZXN0cw%3D%3D'
const SAS_QUERY = `sv=2024-05-04&sr=c&sp=rcwl&se=2030-01-01T00%3A00%3A00Z&sig=${SIG}`
const SIGNING_KEY = 'k'.repeat(40)
const fakeCredential = { getToken: async () => ({ token: 'fake', expiresOnTimestamp: Date.now() + 60_000 }) }

function failure(run: () => unknown): AiImageError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(AiImageError)
    return error as AiImageError
  }
  throw new Error('expected resolveRemote to fail')
}

describe('resolveRemote', () => {
  it('no url and no AI_IMAGE_REMOTE: no remote', () => {
    expect(resolveRemote(undefined, {})).toBeUndefined()
    expect(resolveRemote({}, { CI: 'true' })).toBeUndefined()
  })

  it('azure:// with AZURE_STORAGE_CONNECTION_STRING; the option wins over AI_IMAGE_REMOTE; defaults', () => {
    const config = resolveRemote({ url: 'azure://images/team/site/' }, { AI_IMAGE_REMOTE: 's3://other', AZURE_STORAGE_CONNECTION_STRING: CONNECTION })!
    expect(config).toMatchObject({
      display: 'azure://images/team/site',
      location: { kind: 'azure', container: 'images', prefix: 'team/site', auth: { kind: 'connection-string', connectionString: CONNECTION } },
      mode: 'read-write',
      commitImages: true,
    })
    expect(config.signingKey).toBeUndefined()
    expect(config.secrets).toEqual(expect.arrayContaining([CONNECTION, ACCOUNT_KEY]))
  })

  it('AI_IMAGE_REMOTE, AI_IMAGE_REMOTE_MODE and AI_IMAGE_REMOTE_SIGNING_KEY from the environment', () => {
    const config = resolveRemote(undefined, {
      AI_IMAGE_REMOTE: 'azure://images',
      AI_IMAGE_REMOTE_MODE: 'read',
      AI_IMAGE_REMOTE_SIGNING_KEY: SIGNING_KEY,
      AZURE_STORAGE_CONNECTION_STRING: CONNECTION,
    })!
    expect(config).toMatchObject({ display: 'azure://images', mode: 'read', signingKey: SIGNING_KEY, location: { prefix: '' } })
    expect(config.secrets).toContain(SIGNING_KEY)
  })

  it("mode: 'read' by default when CI is set, 'read-write' otherwise (CI=false is not CI); the option wins", () => {
    const env = { AZURE_STORAGE_CONNECTION_STRING: CONNECTION }
    expect(resolveRemote({ url: 'azure://images' }, { ...env, CI: 'true' })!.mode).toBe('read')
    expect(resolveRemote({ url: 'azure://images' }, { ...env, CI: 'false' })!.mode).toBe('read-write')
    expect(resolveRemote({ url: 'azure://images', mode: 'read-write' }, { ...env, CI: '1', AI_IMAGE_REMOTE_MODE: 'read' })!.mode).toBe('read-write')
    expect(resolveRemote({ url: 'azure://images', commitImages: false }, env)!.commitImages).toBe(false)
  })

  it('azure:// with AZURE_STORAGE_ACCOUNT: Entra ID, the credential option or DefaultAzureCredential', () => {
    expect(resolveRemote({ url: 'azure://images/site', credential: fakeCredential }, { AZURE_STORAGE_ACCOUNT: 'teamstore' })!.location).toEqual({
      kind: 'azure',
      container: 'images',
      prefix: 'site',
      auth: { kind: 'token', containerUrl: 'https://teamstore.blob.core.windows.net/images', credential: fakeCredential },
    })
    expect(resolveRemote({ url: 'azure://images' }, { AZURE_STORAGE_ACCOUNT: 'teamstore' })!.location).toMatchObject({ auth: { kind: 'token' } })
    expect(resolveRemote({ url: 'azure://images' }, { AZURE_STORAGE_ACCOUNT: 'teamstore' })!.location).not.toHaveProperty('auth.credential')
  })

  it('a SAS URL: the container URL with its token; the display and secrets keep the token out of sight', () => {
    const config = resolveRemote({ url: `https://teamstore.blob.core.windows.net/images/site?${SAS_QUERY}` }, {})!
    expect(config.location).toEqual({ kind: 'azure', container: 'images', prefix: 'site', auth: { kind: 'sas', containerUrl: `https://teamstore.blob.core.windows.net/images?${SAS_QUERY}` } })
    expect(config.display).toBe('https://teamstore.blob.core.windows.net/images/site')
    expect(config.secrets).toEqual(expect.arrayContaining([SAS_QUERY, decodeURIComponent(SIG)]))
    // Without a SAS: the same account by Entra ID.
    expect(resolveRemote({ url: 'https://teamstore.blob.core.windows.net/images' }, {})!.location).toMatchObject({ auth: { kind: 'token', containerUrl: 'https://teamstore.blob.core.windows.net/images' } })
  })

  it('an emulator URL (loopback, path-style account) may be http:; any other http: URL is refused', () => {
    expect(resolveRemote({ url: `http://127.0.0.1:10000/devstoreaccount1/images/site?${SAS_QUERY}` }, {})!.location).toMatchObject({
      container: 'images',
      prefix: 'site',
      auth: { kind: 'sas', containerUrl: `http://127.0.0.1:10000/devstoreaccount1/images?${SAS_QUERY}` },
    })
    const error = failure(() => resolveRemote({ url: `http://teamstore.blob.core.windows.net/images?${SAS_QUERY}` }, {}))
    expect(error).toMatchObject({ code: 'SPEC_INVALID', file: 'plugin options', field: 'remote.url' })
    expect(error.message).toContain('unencrypted')
    expect(error.message).not.toContain(SIG)
  })

  it('s3:// with AWS_ENDPOINT_URL: path-style, us-east-1 unless AWS_REGION, credentials from the environment', () => {
    const config = resolveRemote({ url: 's3://team-cache/site' }, { AWS_ENDPOINT_URL: 'http://127.0.0.1:9000', AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'secret-access-value', AWS_SESSION_TOKEN: 'session-token-value' })!
    expect(config.location).toEqual({
      kind: 's3',
      bucket: 'team-cache',
      prefix: 'site',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret-access-value', sessionToken: 'session-token-value' },
    })
    expect(config.display).toBe('s3://team-cache/site at http://127.0.0.1:9000')
    expect(config.secrets).toEqual(expect.arrayContaining(['secret-access-value', 'session-token-value']))
    // AWS S3 itself: virtual-hosted style, the SDK's own credential chain when no key is in the environment.
    expect(resolveRemote({ url: 's3://team-cache' }, { AWS_REGION: 'eu-west-1' })!.location).toEqual({ kind: 's3', bucket: 'team-cache', prefix: '', forcePathStyle: false, region: 'eu-west-1' })
    expect(resolveRemote({ url: 's3://team-cache' }, { AWS_ENDPOINT_URL_S3: 'https://s3.example.com', AWS_ENDPOINT_URL: 'https://other.example.com' })!.location).toMatchObject({ endpoint: 'https://s3.example.com' })
  })

  it.each<[string, Record<string, unknown>, Record<string, string>, string, RegExp]>([
    ['an unknown scheme', { url: 'gs://bucket' }, {}, 'remote.url', /is not a remote cache URL\. Use azure:\/\//],
    ['an azure:// URL without an account', { url: 'azure://images' }, {}, 'remote.url', /AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT/],
    ['a bad container name', { url: 'azure://Images_1' }, { AZURE_STORAGE_CONNECTION_STRING: CONNECTION }, 'remote.url', /not an Azure container name/],
    ['a bad account name', { url: 'azure://images' }, { AZURE_STORAGE_ACCOUNT: 'Team_Store' }, 'remote.url', /not a storage account name/],
    ['a bad bucket name', { url: 's3://x' }, {}, 'remote.url', /not an S3 bucket name/],
    ['a ".." prefix segment', { url: 's3://team-cache/a/../b' }, {}, 'remote.url', /"\." or "\.\." segment/],
    ['an empty prefix segment', { url: 'azure://images/a//b' }, { AZURE_STORAGE_CONNECTION_STRING: CONNECTION }, 'remote.url', /empty/],
    ['a query on azure://', { url: `azure://images?${SAS_QUERY}` }, {}, 'remote.url', /no query/],
    ['a query that is not a SAS', { url: 'https://teamstore.blob.core.windows.net/images?x=1' }, {}, 'remote.url', /not a SAS token/],
    ['an unknown field', { url: 'azure://images', mdoe: 'read' }, {}, 'remote.mdoe', /is not a remote cache option; the options are url, mode/],
    ['a bad mode', { url: 'azure://images', mode: 'write' }, { AZURE_STORAGE_CONNECTION_STRING: CONNECTION }, 'remote.mode', /must be 'read' or 'read-write', got "write"/],
    ['a bad AI_IMAGE_REMOTE_MODE', { url: 'azure://images' }, { AZURE_STORAGE_CONNECTION_STRING: CONNECTION, AI_IMAGE_REMOTE_MODE: 'rw' }, 'remote.mode', /AI_IMAGE_REMOTE_MODE/],
    ['a non-boolean commitImages', { url: 'azure://images', commitImages: 'no' }, { AZURE_STORAGE_CONNECTION_STRING: CONNECTION }, 'remote.commitImages', /true or false/],
    ['a short signing key', { url: 'azure://images', signingKey: 'hunter2hunter2' }, { AZURE_STORAGE_CONNECTION_STRING: CONNECTION }, 'remote.signingKey', /is 14 characters; a signing key needs at least 32\. Make one with `openssl rand -hex 32`/],
    ['a credential that is not one', { url: 'azure://images', credential: {} }, { AZURE_STORAGE_ACCOUNT: 'teamstore' }, 'remote.credential', /TokenCredential/],
    ['a credential for S3', { url: 's3://team-cache', credential: fakeCredential }, {}, 'remote.credential', /is for Azure Blob Storage/],
    ['a credential with a SAS URL', { url: `https://teamstore.blob.core.windows.net/images?${SAS_QUERY}`, credential: fakeCredential }, {}, 'remote.credential', /not used with a SAS URL/],
    ['settings without a URL', { mode: 'read' }, {}, 'remote.url', /is missing, so "remote.mode" has no effect/],
    ['half of an AWS key pair', { url: 's3://team-cache' }, { AWS_ACCESS_KEY_ID: 'AKIDTEST' }, 'remote.url', /must be set together/],
    ['a bad AWS_ENDPOINT_URL', { url: 's3://team-cache' }, { AWS_ENDPOINT_URL: 'ftp://x' }, 'remote.url', /not an http\(s\) endpoint URL/],
    ['an http: endpoint off this machine', { url: 's3://team-cache' }, { AWS_ENDPOINT_URL: 'http://s3.example.com' }, 'remote.url', /uses http:/],
  ])('%s is SPEC_INVALID naming the field and the fix', (_, remote, env, field, message) => {
    const error = failure(() => resolveRemote(remote as never, env))
    expect(error).toMatchObject({ code: 'SPEC_INVALID', file: 'plugin options', field })
    expect(error.message).toMatch(message)
    for (const secret of [SIG, decodeURIComponent(SIG), ACCOUNT_KEY, 'hunter2hunter2']) expect(error.message).not.toContain(secret)
  })

  it('remote must be an object', () => {
    expect(failure(() => resolveRemote('azure://images' as never, {}))).toMatchObject({ field: 'remote' })
  })
})
