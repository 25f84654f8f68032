/**
 * Starting `generate-child.ts` as a separate build process (tests across processes, the benchmark): it
 * runs with the emulator's endpoint in its environment, and reports its outcome as one JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { RunSummary } from '../../src/core/engine/report.js'

const CHILD = fileURLToPath(new URL('./generate-child.ts', import.meta.url))
const REPO = fileURLToPath(new URL('../..', import.meta.url))

export interface ChildReport {
  wallMs: number
  peakRssBytes: number
  statuses: string[]
  summary: RunSummary
  errors: string[]
}

export interface ChildRun {
  child: ChildProcess
  /** Resolves once the child has loaded and waits for `go()` (with `startOnGo`). */
  ready: Promise<void>
  go(): void
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; report?: ChildReport; stderr: string }>
}

export function startGenerateChild(
  root: string,
  files: string[],
  options: Record<string, unknown>,
  env: Record<string, string>,
  startOnGo = false,
): ChildRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root, JSON.stringify(options), ...files], {
    cwd: REPO,
    env: { ...process.env, ...env, CI: '', ...(startOnGo ? { AI_IMAGE_TEST_START_ON_GO: '1' } : {}) },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    if (stdout.startsWith('ready\n')) markReady()
  })
  child.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
  const done = new Promise<Awaited<ChildRun['done']>>((resolve) => {
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'))
      resolve({ code, signal, stderr, ...(line ? { report: JSON.parse(line) as ChildReport } : {}) })
    })
  })
  return { child, ready, go: () => void child.stdin!.write('go\n'), done }
}
