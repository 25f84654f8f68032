/**
 * How hard a store tries before it gives up, shared by every backend. The defaults bound one operation to a
 * couple of minutes at worst (a stalled connection), and a throttled or refused one to seconds of backoff.
 */
export interface StoreOptions {
  /** Tries per request, the first included (the SDK's retry policy makes them). @default 4 */
  maxTries?: number
  /** Azure: first backoff step; the SDK waits 0, 1, 3, 7… times it. S3 uses the SDK's standard backoff. @default 1000 */
  retryDelayMs?: number
  /** Azure: longest single backoff. @default 8000 */
  maxRetryDelayMs?: number
  /** Longest one operation may take, retries included, before it counts as unreachable. @default 120000 */
  operationTimeoutMs?: number
  /** S3: milliseconds to wait for a connection. @default 10000 */
  connectTimeoutMs?: number
  /** Names per page when listing (tests make it small to see paging). @default 1000 */
  listPageSize?: number
  /** The time leases are judged by (tests move it); epoch ms. @default Date.now */
  now?: () => number
}

export const STORE_DEFAULTS = {
  maxTries: 4,
  retryDelayMs: 1_000,
  maxRetryDelayMs: 8_000,
  operationTimeoutMs: 120_000,
  connectTimeoutMs: 10_000,
  listPageSize: 1_000,
} as const
