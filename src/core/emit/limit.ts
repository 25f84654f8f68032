/**
 * Bounded parallelism for image work. Every sharp job already runs on `sharp.concurrency()` libvips
 * threads, so running one job per core would oversubscribe the machine (and multiply peak memory): the
 * process runs `cores / threads-per-job` jobs at once, at least one. Shared by every plugin instance of
 * the process, since sharp's threads are too.
 */
import os from 'node:os'
import pLimit, { type LimitFunction } from 'p-limit'
import sharp from 'sharp'

export function sharpJobSlots(cores = os.availableParallelism(), threadsPerJob = sharp.concurrency()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, threadsPerJob)))
}

let shared: LimitFunction | undefined

/** Created on first use: a warm build never asks, and so never touches sharp. */
export function sharpLimit(): LimitFunction {
  return (shared ??= pLimit(sharpJobSlots()))
}
