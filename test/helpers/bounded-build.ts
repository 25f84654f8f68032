/**
 * Runs `bounded-build-child.ts`: a real `vite build` that cannot hang the test (killed after `timeoutMs`)
 * nor eat the machine's memory (the child ends itself past a bound). The outcome says which happened.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const CHILD = fileURLToPath(new URL('./bounded-build-child.ts', import.meta.url))
const REPO = fileURLToPath(new URL('../..', import.meta.url))

export interface BoundedOutcome {
  outcome: 'built' | 'failed' | 'memory' | 'timeout' | 'crashed'
  message?: string
  name?: string
  stderr: string
}

export function boundedBuild(root: string, env: Record<string, string | undefined>, timeoutMs = 40_000): Promise<BoundedOutcome> {
  const childEnv: Record<string, string> = {}
  for (const [name, value] of Object.entries({ ...process.env, ...env })) if (value !== undefined) childEnv[name] = value
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root], { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, timeoutMs)
  return new Promise((resolve) => {
    child.on('close', () => {
      clearTimeout(timer)
      if (timedOut) return resolve({ outcome: 'timeout', stderr })
      const line = stdout.split('\n').find((l) => l.startsWith('{'))
      resolve(line ? { ...(JSON.parse(line) as Omit<BoundedOutcome, 'stderr'>), stderr } : { outcome: 'crashed', stderr })
    })
  })
}
