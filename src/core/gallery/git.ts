/**
 * `git`, run as a program with an argument list (never through a shell), its output bounded, prompts and
 * optional locks off. The gallery reads a project as it was at a commit with it (`since.ts`).
 */
import { spawn } from 'node:child_process'
import { AiImageError } from '../errors.js'

export interface GitOptions {
  cwd: string
  /** Extra environment (e.g. `GIT_INDEX_FILE`). */
  env?: Readonly<Record<string, string>>
  /** Written to git's stdin. */
  input?: string | Buffer
  /** Most bytes of stdout kept; past it git is stopped and the call fails. @default 64 MiB */
  maxBytes?: number
}

export class GitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message)
  }
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024
const STDERR_MAX_BYTES = 64 * 1024

export function git(args: readonly string[], options: GitOptions): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...args], {
      cwd: options.cwd,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
    })
    const chunks: Buffer[] = []
    let size = 0
    let stderr = ''
    let overflow = false
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        overflow = true
        child.kill()
        return
      }
      chunks.push(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < STDERR_MAX_BYTES) stderr += chunk.toString('utf8')
    })
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new AiImageError('SPEC_INVALID', '`git` is not installed (or not on PATH); --since needs it', { file: 'ai-image gallery' })
          : error,
      )
    })
    child.on('close', (code) => {
      if (overflow) return reject(new GitError(`git ${args[0]} wrote more than ${maxBytes} bytes`, code, stderr))
      if (code !== 0) return reject(new GitError(`git ${args[0]} failed: ${stderr.trim().split('\n')[0] ?? ''}`, code, stderr))
      resolve(Buffer.concat(chunks))
    })
    child.stdin.on('error', () => {})
    child.stdin.end(options.input ?? '')
  })
}
