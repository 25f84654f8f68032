/**
 * Public option and spec types of unplugin-ai-image. Field names of a spec keep the Images API names,
 * so examples can be copied from the API reference. The spec fields and their defaults are defined once, in
 * `core/spec/fields.ts` (per-model defaults in `core/spec/models.ts`, option defaults in `core/options.ts`);
 * the `@default` tags here document them, and tests check these types and tags against that table.
 */

/** The models the capability table knows. Any other string is passed through with a warning. */
export type KnownImageModel = 'gpt-image-2' | 'gpt-image-1.5' | 'gpt-image-1' | 'gpt-image-1-mini' | 'dall-e-3' | 'dall-e-2'
export type ImageModel = KnownImageModel | (string & {})

export type EmitFormat = 'png' | 'jpeg' | 'webp' | 'avif'
export type PlaceholderKind = 'none' | 'blur' | 'thumbhash'

/** How the picked image is emitted into the bundle. Not part of the cache key. */
export interface EmitOptions {
  /** Output format. @default the format the API returned */
  format?: EmitFormat
  /** Encoder quality 1-100 (jpeg, webp, avif; for png it limits the palette when quantizing). */
  quality?: number
  /** Resized variants (never upscaled) exported as `srcset`. @default [] */
  widths?: number[]
  /** A tiny inline preview for lazy loading, exported as `placeholder`. @default 'none' */
  placeholder?: PlaceholderKind
  /** Colour a transparent image is flattened onto when emitted as JPEG. @default '#ffffff' */
  background?: string
  /**
   * `'keep'`: every re-encoded or resized file carries XMP marking it AI-generated (IPTC digital source type
   * `trainedAlgorithmicMedia`), and a PNG carrying the provider's C2PA content credentials is emitted byte for
   * byte; `'strip'` opts out. Bytes emitted as generated keep the provider's metadata either way.
   * @default 'keep'
   */
  metadata?: 'keep' | 'strip'
}

/**
 * A spec: the content of a `*.imgprompt.json` file, the query of a `virtual:ai-image?…` import, or an
 * entry of the `images` option.
 */
export interface ImageSpec {
  /** JSON Schema reference for editors; ignored. */
  $schema?: string
  /** What to draw. Required unless `image` is given for a dall-e-2 variation. */
  prompt?: string
  /** @default 'gpt-image-1.5' (part of the semver contract: changing it changes cache keys) */
  model?: ImageModel
  /** `WIDTHxHEIGHT` or `auto`; allowed values depend on the model. @default 'auto' (GPT image), '1024x1024' (DALL-E) */
  size?: string
  /** @default 'auto' (GPT image), 'standard' (DALL-E) */
  quality?: 'low' | 'medium' | 'high' | 'auto' | 'standard' | 'hd'
  /** Number of candidates; `pick` chooses the one the default export uses. @default 1 */
  n?: number
  /** GPT image models only. `transparent` needs png or webp. @default 'auto' */
  background?: 'transparent' | 'opaque' | 'auto'
  /** GPT image models only. @default 'png' */
  output_format?: 'png' | 'jpeg' | 'webp'
  /** 0-100, jpeg and webp only. @default 100 */
  output_compression?: number
  /** GPT image models on OpenAI only. @default 'auto' */
  moderation?: 'auto' | 'low'
  /** dall-e-3 only. @default 'vivid' */
  style?: 'vivid' | 'natural'
  /** Edits with gpt-image-1 / gpt-image-1.5 only. @default 'low' */
  input_fidelity?: 'low' | 'high'
  /** End-user id passed to the API for abuse monitoring; not part of the cache key. */
  user?: string
  /** Stream partial previews while generating (GPT image models); not part of the cache key. @default false */
  stream?: boolean
  /** Number of partial previews 0-3 when streaming; each costs 100 output tokens. @default 0 */
  partial_images?: number
  /** Input image(s) relative to the spec file; a `*.imgprompt.json` path uses that spec's picked output. */
  image?: string | string[]
  /** PNG with alpha (alpha 0 = area to edit), same size as the first image; edits only. */
  mask?: string
  /** Not sent; changes the cache key ("give me another one"). */
  seed?: string | number
  /** Index of the candidate the default export uses. Not part of the key. @default 0 */
  pick?: number
  /** Alt text. @default the prompt */
  alt?: string
  /** How the asset is emitted. Not part of the key. */
  emit?: EmitOptions
}

/** Spec fields a project can pin for every spec with the `defaults` option. */
export type SpecDefaults = Omit<ImageSpec, '$schema' | 'prompt' | 'image' | 'mask' | 'pick' | 'alt'>

export type ProviderKind = 'openai' | 'azure' | 'placeholder'

export interface OpenAIOptions {
  /** @default env OPENAI_API_KEY */
  apiKey?: string
  /** Includes `/v1`, as in the official SDK. @default env OPENAI_BASE_URL, else 'https://api.openai.com/v1' */
  baseURL?: string
  /** @default env OPENAI_ORG_ID */
  organization?: string
  /** @default env OPENAI_PROJECT_ID */
  project?: string
}

/** Structural copy of @azure/identity's TokenCredential, so the types need no import of it. */
export interface TokenCredentialLike {
  getToken(
    scopes: string | string[],
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ token: string; expiresOnTimestamp: number } | null>
}

export interface AzureOptions {
  /** `https://<resource>.openai.azure.com`. @default env AZURE_OPENAI_ENDPOINT */
  endpoint?: string
  /** Deployment used for every model not in `deployments`. @default env AZURE_OPENAI_DEPLOYMENT, else the model name */
  deployment?: string
  /** Deployment name per model, e.g. `{ 'gpt-image-1': 'img-prod' }`. */
  deployments?: Record<string, string>
  /** `api-version` query; `v1` or `preview` selects the v1 URL. @default env OPENAI_API_VERSION, else per model */
  apiVersion?: string
  /** @default env AZURE_OPENAI_API_KEY */
  apiKey?: string
  /** Any @azure/identity TokenCredential; used when there is no key. @default DefaultAzureCredential */
  credential?: TokenCredentialLike
}

export interface RateLimitOptions {
  /** Pace generation to this many images per minute. */
  imagesPerMinute?: number
  /** Pace generation to this many requests per minute. */
  requestsPerMinute?: number
  /**
   * Longest a request keeps waiting out 429s, counted from its first 429 (ms). Hints over 60 s are honoured
   * up to this; a hint that would pass it fails the spec at once with RATE_LIMITED naming the wait.
   * @default 600000
   */
  maxWait?: number
}

/**
 * Estimated US dollars per image of a model: one figure, or per `quality`, or per `quality` then `size`
 * (`WIDTHxHEIGHT`; other sizes are scaled by pixel area). E.g. `{ high: { '1024x1024': 0.2 }, low: 0.01 }`.
 * The key `tokens` (`{ textInput, imageInput, imageOutput }`, US dollars per 1M tokens) sets the prices the
 * answers' token `usage` is charged at (the actual cost): e.g. `{ tokens: { textInput: 5, imageInput: 8, imageOutput: 30 } }`.
 */
export type ModelPrice = number | Record<string, number | Record<string, number>>

export interface BudgetOptions {
  /** Stop before the call that would generate more than this many images in one build. */
  maxImages?: number
  /** Stop before the call whose estimated cost would pass this many US dollars in one build. */
  maxUSD?: number
}

/**
 * A remote cache tier in object storage the team already runs (Azure Blob Storage, S3 or an S3-compatible
 * store): lookup goes local cache → remote → generation.
 */
export interface RemoteCacheOptions {
  /**
   * `azure://<container>[/<prefix>]` (account from AZURE_STORAGE_CONNECTION_STRING, else AZURE_STORAGE_ACCOUNT
   * with `credential` or DefaultAzureCredential), `https://<account>.blob.core.windows.net/<container>[/<prefix>][?<sas>]`,
   * or `s3://<bucket>[/<prefix>]` (the standard AWS environment variables, including AWS_ENDPOINT_URL).
   * @default env AI_IMAGE_REMOTE
   */
  url?: string
  /** `'read'` only pulls entries; `'read-write'` also pushes new ones. @default env AI_IMAGE_REMOTE_MODE, else 'read' when CI is set, else 'read-write' */
  mode?: 'read' | 'read-write'
  /** `false` keeps only sidecars in the committed cache; image files come from the remote. @default true */
  commitImages?: boolean
  /** HMAC-SHA256 key (at least 32 characters): entries are signed, and unsigned or mis-signed ones refused. @default env AI_IMAGE_REMOTE_SIGNING_KEY */
  signingKey?: string
  /** Azure Blob Storage without a connection string or SAS: any @azure/identity TokenCredential. @default DefaultAzureCredential */
  credential?: TokenCredentialLike
}

export interface AiImageOptions {
  /**
   * Who renders a cache miss.
   * @default 'azure' when AZURE_OPENAI_ENDPOINT is set, else 'openai' when OPENAI_API_KEY is set, else 'placeholder'
   */
  provider?: ProviderKind
  openai?: OpenAIOptions
  azure?: AzureOptions
  /** Project root that spec paths are checked against. @default the bundler's root, else process.cwd() */
  root?: string
  /** The committed cache. @default '<root>/.ai-image' */
  cacheDir?: string
  /** Globs (relative to the root) of spec files the plugin handles. @default '**\/*.imgprompt.json' */
  include?: string | string[]
  /** Globs of spec files to leave alone. @default '**\/node_modules/**' */
  exclude?: string | string[]
  /** Named specs, imported as `virtual:ai-image/<name>`. Relative paths are relative to the root. */
  images?: Record<string, ImageSpec>
  /** Spec fields applied to every spec (a spec's own fields win). */
  defaults?: SpecDefaults
  /** Requests in flight at once, shared by every import of a build. @default 4 */
  concurrency?: number
  rateLimit?: RateLimitOptions
  /**
   * Retries of a failed request (5xx, dropped connections, timeouts, broken answers), with exponential backoff
   * and full jitter. 429s are waited out instead, up to `rateLimit.maxWait`. @default 4
   */
  retries?: number
  /** Milliseconds per request before it is aborted (counted as possibly billed, and retried). @default 300000 */
  timeout?: number
  /** A cache miss is an error listing every missing spec. @default true when env CI is set */
  frozen?: boolean
  budget?: BudgetOptions
  /**
   * esbuild only: URL prefix of emitted images (`<publicPath>assets/hero-1a2b3c4d.png`), where the outdir is
   * served. Other bundlers use their own setting (Vite `base`, webpack/Rspack `output.publicPath`, Rollup
   * URLs relative to the chunk).
   * @default esbuild's `publicPath` build option, else '/'
   */
  publicPath?: string
  /**
   * Prices per model for cost estimates, over the built-in table (`src/core/engine/cost.ts`); needed for
   * models without a published price (gpt-image-2, custom deployments) when `budget.maxUSD` is set.
   */
  prices?: Record<string, ModelPrice>
  /** A remote cache tier shared by a team or a CI fleet. @default none (env AI_IMAGE_REMOTE) */
  remote?: RemoteCacheOptions
}
