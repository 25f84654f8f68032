/**
 * The `remote` option and its environment variables, resolved and checked in one place: which store, where
 * in it, with which credentials, in which mode. Nothing here loads a store client; `open.ts` does, and
 * only when a remote is configured.
 *
 * The option wins over the environment (`AI_IMAGE_REMOTE`, `AI_IMAGE_REMOTE_MODE`,
 * `AI_IMAGE_REMOTE_SIGNING_KEY`). Every secret met on the way (SAS token, account key, signing key, AWS
 * secret) is listed in `secrets`, so the logger can scrub it; `display` never holds one.
 */
import { AiImageError } from '../../errors.js'
import type { RemoteCacheOptions, TokenCredentialLike } from '../../../types.js'

type Env = Readonly<Record<string, string | undefined>>

export type RemoteMode = 'read' | 'read-write'

export type AzureAuth =
  /** `AZURE_STORAGE_CONNECTION_STRING` (account key or SAS inside; `BlobEndpoint` for Azurite). */
  | { kind: 'connection-string'; connectionString: string }
  /** A container URL carrying a SAS token in its query. */
  | { kind: 'sas'; containerUrl: string }
  /** Entra ID: the `credential` option, else DefaultAzureCredential (loaded only then). */
  | { kind: 'token'; containerUrl: string; credential?: TokenCredentialLike }

export interface AzureLocation {
  kind: 'azure'
  container: string
  /** Segments joined by `/`, no leading or trailing slash; '' for the container's root. */
  prefix: string
  auth: AzureAuth
}

export interface S3Location {
  kind: 's3'
  bucket: string
  prefix: string
  /** `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (an S3-compatible store); path-style addressing then. */
  endpoint?: string
  forcePathStyle: boolean
  /** `AWS_REGION` / `AWS_DEFAULT_REGION`; with neither, the SDK's own lookup (profile), or us-east-1 for an endpoint. */
  region?: string
  /** From `AWS_ACCESS_KEY_ID` and friends when set; otherwise the SDK's default chain (profile, SSO, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
}

export type RemoteLocation = AzureLocation | S3Location

export interface RemoteConfig {
  /** The remote's URL without secrets, as every message names it. */
  display: string
  location: RemoteLocation
  mode: RemoteMode
  commitImages: boolean
  signingKey?: string
  /** Values to scrub from every error and log line. */
  secrets: string[]
}

const LABEL = 'plugin options'
const MODES: readonly RemoteMode[] = ['read', 'read-write']
const KNOWN_FIELDS = ['url', 'mode', 'commitImages', 'signingKey', 'credential']
/** A signing key shorter than this is guessable; `openssl rand -hex 32` makes a good one. */
export const MIN_SIGNING_KEY_LENGTH = 32

const URL_FORMS =
  "Use azure://<container>[/<prefix>], https://<account>.blob.core.windows.net/<container>[/<prefix>][?<sas>] or s3://<bucket>[/<prefix>]"

/** The checked remote configuration, or undefined when no remote is configured. */
export function resolveRemote(user: RemoteCacheOptions | undefined, env: Env): RemoteConfig | undefined {
  if (user !== undefined && (user === null || typeof user !== 'object' || Array.isArray(user))) {
    throw remoteOptionError('remote', `must be an object { url, mode, commitImages, signingKey, credential }, got ${describeType(user)}`)
  }
  const options = user ?? {}
  for (const field of Object.keys(options)) {
    if (!KNOWN_FIELDS.includes(field)) throw remoteOptionError(`remote.${field}`, `is not a remote cache option; the options are ${KNOWN_FIELDS.join(', ')}`)
  }
  const url = stringOption(options.url, 'remote.url') ?? nonEmpty(env.AI_IMAGE_REMOTE)
  if (url === undefined) {
    // Settings for a remote without a URL are a mistake worth naming: they would silently do nothing.
    const stray = KNOWN_FIELDS.find((field) => field !== 'url' && (options as Record<string, unknown>)[field] !== undefined)
    if (stray) throw remoteOptionError('remote.url', `is missing, so "remote.${stray}" has no effect. Set remote.url or AI_IMAGE_REMOTE`)
    return undefined
  }

  const secrets: string[] = []
  const { location, display } = parseRemoteUrl(url, env, options.credential, secrets)

  const modeOption = options.mode ?? nonEmpty(env.AI_IMAGE_REMOTE_MODE)
  if (modeOption !== undefined && !MODES.includes(modeOption as RemoteMode)) {
    const field = options.mode !== undefined ? 'remote.mode' : 'remote.mode (AI_IMAGE_REMOTE_MODE)'
    throw remoteOptionError(field, `must be 'read' or 'read-write', got ${JSON.stringify(modeOption)}`)
  }
  const mode = (modeOption as RemoteMode | undefined) ?? (isCI(env) ? 'read' : 'read-write')

  if (options.commitImages !== undefined && typeof options.commitImages !== 'boolean') {
    throw remoteOptionError('remote.commitImages', `must be true or false, got ${describeType(options.commitImages)}`)
  }

  const signingKey = stringOption(options.signingKey, 'remote.signingKey') ?? nonEmpty(env.AI_IMAGE_REMOTE_SIGNING_KEY)
  if (signingKey !== undefined) {
    secrets.push(signingKey)
    if (signingKey.length < MIN_SIGNING_KEY_LENGTH) {
      const field = options.signingKey !== undefined ? 'remote.signingKey' : 'remote.signingKey (AI_IMAGE_REMOTE_SIGNING_KEY)'
      // The length only: the value itself is a secret.
      throw remoteOptionError(field, `is ${signingKey.length} characters; a signing key needs at least ${MIN_SIGNING_KEY_LENGTH}. Make one with \`openssl rand -hex 32\``)
    }
  }

  if (options.credential !== undefined && (options.credential === null || typeof (options.credential as { getToken?: unknown }).getToken !== 'function')) {
    throw remoteOptionError('remote.credential', 'must be an @azure/identity TokenCredential (an object with getToken())')
  }
  if (options.credential !== undefined && location.kind !== 'azure') {
    throw remoteOptionError('remote.credential', `is for Azure Blob Storage; ${display} is an S3 remote, which takes the standard AWS credentials`)
  }

  return {
    display,
    location,
    mode,
    commitImages: options.commitImages ?? true,
    ...(signingKey !== undefined ? { signingKey } : {}),
    secrets: [...new Set(secrets.filter((s) => s.length > 0))],
  }
}

function parseRemoteUrl(url: string, env: Env, credential: TokenCredentialLike | undefined, secrets: string[]): { location: RemoteLocation; display: string } {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()
  if (scheme === 'azure') return parseAzureScheme(url, env, credential, secrets)
  if (scheme === 's3') return parseS3(url, env, secrets)
  if (scheme === 'https' || scheme === 'http') return parseAzureHttps(url, credential, secrets)
  throw remoteOptionError('remote.url', `${JSON.stringify(redactUrl(url))} is not a remote cache URL. ${URL_FORMS}`)
}

/** `azure://<container>[/<prefix>]`: the account comes from the environment. */
function parseAzureScheme(url: string, env: Env, credential: TokenCredentialLike | undefined, secrets: string[]): { location: AzureLocation; display: string } {
  const rest = url.slice('azure://'.length)
  if (!url.toLowerCase().startsWith('azure://') || /[?#]/.test(rest)) {
    throw remoteOptionError('remote.url', `${JSON.stringify(redactUrl(url))} must be azure://<container>[/<prefix>] (no query: put a SAS in an https:// URL)`)
  }
  const [container = '', ...segments] = rest.split('/')
  checkContainer(container, url)
  const prefix = checkPrefix(segments, url)
  const display = `azure://${container}${prefix ? `/${prefix}` : ''}`
  const connectionString = nonEmpty(env.AZURE_STORAGE_CONNECTION_STRING)
  if (connectionString) {
    secrets.push(connectionString, ...connectionStringSecrets(connectionString))
    return { location: { kind: 'azure', container, prefix, auth: { kind: 'connection-string', connectionString } }, display }
  }
  const account = nonEmpty(env.AZURE_STORAGE_ACCOUNT)
  if (!account) {
    throw remoteOptionError(
      'remote.url',
      `${display} needs an Azure Storage account: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT (signed in with remote.credential or DefaultAzureCredential), or use a https://<account>.blob.core.windows.net/<container>?<sas> URL`,
    )
  }
  if (!/^[a-z0-9]{3,24}$/.test(account)) {
    throw remoteOptionError('remote.url (AZURE_STORAGE_ACCOUNT)', `${JSON.stringify(account)} is not a storage account name (3-24 lowercase letters and digits)`)
  }
  return {
    location: { kind: 'azure', container, prefix, auth: { kind: 'token', containerUrl: `https://${account}.blob.core.windows.net/${container}`, ...(credential ? { credential } : {}) } },
    display,
  }
}

/**
 * `https://<account>.blob.core.windows.net/<container>[/<prefix>][?<sas>]`. A host that is an IP address or
 * `localhost` uses the emulator's path style (`/<account>/<container>/…`), and only there is plain `http:`
 * accepted: a token or SAS must never cross a network unencrypted.
 */
function parseAzureHttps(url: string, credential: TokenCredentialLike | undefined, secrets: string[]): { location: AzureLocation; display: string } {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw remoteOptionError('remote.url', `${JSON.stringify(redactUrl(url))} is not a valid URL. ${URL_FORMS}`)
  }
  if (parsed.search) secrets.push(parsed.search.slice(1), ...[...parsed.searchParams.values()].filter((v) => v.length >= 8))
  const shown = `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`
  const local = isLoopbackHost(parsed.hostname)
  if (parsed.protocol === 'http:' && !local) {
    throw remoteOptionError('remote.url', `${shown} uses http:, which would send the credentials unencrypted; use https:`)
  }
  if (parsed.username || parsed.password || parsed.hash) {
    throw remoteOptionError('remote.url', `${shown} must not hold a user name, password or #fragment. ${URL_FORMS}`)
  }
  const segments = parsed.pathname.split('/').slice(1)
  if (segments.at(-1) === '') segments.pop()
  const accountSegment = local ? segments.shift() : undefined
  if (local && !accountSegment) throw remoteOptionError('remote.url', `${shown} must be http://<host>:<port>/<account>/<container>[/<prefix>] for an emulator`)
  const container = segments.shift() ?? ''
  checkContainer(container, shown)
  const prefix = checkPrefix(segments, shown)
  const containerUrl = `${parsed.protocol}//${parsed.host}${accountSegment ? `/${accountSegment}` : ''}/${container}`
  const display = `${containerUrl}${prefix ? `/${prefix}` : ''}`
  const sas = parsed.searchParams.has('sig')
  if (parsed.search && !sas) throw remoteOptionError('remote.url', `${display} has a query that is not a SAS token (no "sig"); remove it, or paste the whole SAS URL`)
  if (sas && credential) throw remoteOptionError('remote.credential', `is not used with a SAS URL (${display}); give one or the other`)
  const auth: AzureAuth = sas ? { kind: 'sas', containerUrl: `${containerUrl}${parsed.search}` } : { kind: 'token', containerUrl, ...(credential ? { credential } : {}) }
  return { location: { kind: 'azure', container, prefix, auth }, display }
}

function parseS3(url: string, env: Env, secrets: string[]): { location: S3Location; display: string } {
  const rest = url.slice('s3://'.length)
  if (!url.toLowerCase().startsWith('s3://') || /[?#]/.test(rest)) throw remoteOptionError('remote.url', `${JSON.stringify(redactUrl(url))} must be s3://<bucket>[/<prefix>]`)
  const [bucket = '', ...segments] = rest.split('/')
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw remoteOptionError('remote.url', `${JSON.stringify(bucket)} in ${url} is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)`)
  }
  const prefix = checkPrefix(segments, url)
  const display = `s3://${bucket}${prefix ? `/${prefix}` : ''}`

  const endpoint = nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL)
  if (endpoint !== undefined) {
    let parsed: URL | undefined
    try {
      parsed = new URL(endpoint)
    } catch {
      parsed = undefined
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.username || parsed.password) {
      throw remoteOptionError('remote.url (AWS_ENDPOINT_URL)', `${JSON.stringify(redactUrl(endpoint))} is not an http(s) endpoint URL such as https://s3.example.com`)
    }
    if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname)) {
      throw remoteOptionError('remote.url (AWS_ENDPOINT_URL)', `${parsed.origin} uses http:, which would expose the requests; use https:`)
    }
  }
  const region = nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? (endpoint ? 'us-east-1' : undefined)
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID)
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY)
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN)
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw remoteOptionError('remote.url', `${display}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together`)
  }
  if (secretAccessKey) secrets.push(secretAccessKey)
  if (sessionToken) secrets.push(sessionToken)
  return {
    location: {
      kind: 's3',
      bucket,
      prefix,
      forcePathStyle: endpoint !== undefined,
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(region !== undefined ? { region } : {}),
      ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
    },
    display: endpoint !== undefined ? `${display} at ${new URL(endpoint).origin}` : display,
  }
}

function checkContainer(container: string, url: string): void {
  // Azure's rule: 3-63 characters, lowercase letters, digits and single hyphens, starting with a letter or digit.
  if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(container)) {
    throw remoteOptionError('remote.url', `${JSON.stringify(container)} in ${redactUrl(url)} is not an Azure container name (3-63 lowercase letters, digits and single hyphens)`)
  }
}

/** Prefix segments: plain names only (no empty, `.` or `..` segment, no backslash or control character). */
function checkPrefix(segments: string[], url: string): string {
  const kept = segments.at(-1) === '' ? segments.slice(0, -1) : segments
  for (const segment of kept) {
    if (segment === '' || segment === '.' || segment === '..' || /[\\\u0000-\u001f\u007f]/.test(segment)) {
      throw remoteOptionError('remote.url', `the prefix of ${redactUrl(url)} has an empty, "." or ".." segment or a control character; use plain folder names such as team/site`)
    }
  }
  const prefix = kept.join('/')
  if (prefix.length > 512) throw remoteOptionError('remote.url', `the prefix of ${redactUrl(url)} is longer than 512 characters`)
  return prefix
}

function connectionStringSecrets(connectionString: string): string[] {
  return connectionString
    .split(';')
    .map((part) => /^\s*(AccountKey|SharedAccessSignature)\s*=\s*(.+)$/i.exec(part)?.[2]?.trim())
    .filter((value): value is string => value !== undefined && value.length > 0)
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127(?:\.\d{1,3}){3}$/.test(hostname)
}

/** A URL for a message: its query (a SAS) cut off. */
function redactUrl(url: string): string {
  const cut = url.search(/[?#]/)
  return cut === -1 ? url : `${url.slice(0, cut)}?…`
}

function stringOption(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw remoteOptionError(field, `must be a string, got ${describeType(value)}`)
  return nonEmpty(value)
}

function nonEmpty(value: string | undefined): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
}

function describeType(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
}

/** Same rule as `resolveOptions`: `CI=false` and `CI=0` mean "not CI". */
function isCI(env: Env): boolean {
  const value = env.CI
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false'
}

function remoteOptionError(field: string, problem: string): AiImageError {
  return new AiImageError('SPEC_INVALID', `option "${field}" ${problem}`, { file: LABEL, field: field.replace(/ \(.*\)$/, '') })
}
