/**
 * The OpenAI Batch API for images (half price, results within 24 hours): submit requests as batches
 * (`submit.ts`), record them in the cache folder so no build pays again for a pending key (`record.ts`),
 * and collect what they made (`collect.ts`) through a bounded client of the Files and Batches API
 * (`client.ts`).
 */
export { createBatchClient, type BatchClient, type BatchClientOptions } from './client.js'
export { collectBatch, waitForBatch, type CollectedImage, type CollectedLine, type CollectOptions, type CollectSummary, type WaitOptions } from './collect.js'
export { BATCH_LIMITS, buildLine, customIdOf, type BatchLimits, type BuiltLine } from './lines.js'
export { BATCH_ENDPOINTS, BATCH_IMAGE_MODELS, checkBatchable, type BatchEndpoint } from './models.js'
export { FINAL_STATUSES, type BatchInfo, type BatchStatus, type FileInfo } from './objects.js'
export {
  BATCH_RECORD_VERSION,
  batchesDir,
  checkRecord,
  listPending,
  prepareBatchesDir,
  readRecord,
  readRecords,
  recordPath,
  removeRecord,
  writeRecord,
  type BatchRecord,
  type PendingKey,
  type RecordLine,
} from './record.js'
export { maxResultLineBytes, ResultReader, type LineResult, type ParsedLine } from './results.js'
export { submitBatches, type BatchItem, type SubmitOptions, type SubmittedBatch } from './submit.js'
