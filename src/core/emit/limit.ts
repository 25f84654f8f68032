/**
 * Bounded parallelism for image work. Every sharp job already runs on `sharp.concurrency()` libvips
 * threads, so running one job per core would oversubscribe the machine (and multiply peak memory): the
 * process runs `cores / threads-per-job` jobs at once, at least one. Shared by every plugin instance of
 * the process, since sharp's threads are too.
 */
import os from 'node:os'
import type { LimitFunction } from 'p-limit'

export function sharpJobSlots(cores: number, threadsPerJob: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, threadsPerJob)))
}

let shared: Promise<LimitFunction> | undefined

/** Created on first use: a warm build never asks, and so never even loads sharp (or p-limit). */
export function sharpLimit(): Promise<LimitFunction> {
  return (shared ??= Promise.all([import('sharp'), import('p-limit')]).then(([{ default: sharp }, { default: pLimit }]) =>
    pLimit(sharpJobSlots(os.availableParallelism(), sharp.concurrency())),
  ))
}
