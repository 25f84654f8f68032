/**
 * Temp projects for integration tests: a folder under the OS temp dir with the given files, removed
 * after the test file.
 */
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface TempProject {
  root: string
  write(file: string, content: string | Uint8Array): Promise<void>
  read(file: string): Promise<Buffer>
  /** Every file below `dir` (relative paths, sorted). */
  list(dir?: string): Promise<string[]>
  remove(): Promise<void>
}

export async function makeProject(files: Record<string, string | Uint8Array> = {}): Promise<TempProject> {
  const root = await mkdtemp(path.join(tmpdir(), 'ai-image-test-'))
  const project: TempProject = {
    root,
    async write(file, content) {
      const target = path.join(root, file)
      await mkdir(path.dirname(target), { recursive: true })
      await writeFile(target, content)
    },
    read: (file) => readFile(path.join(root, file)),
    async list(dir = '.') {
      const base = path.join(root, dir)
      const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch(() => [])
      return entries
        .filter((e) => e.isFile())
        .map((e) => path.relative(base, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
        .sort()
    },
    remove: () => rm(root, { recursive: true, force: true }),
  }
  for (const [file, content] of Object.entries(files)) await project.write(file, content)
  return project
}

/** Spec file text; `raw` lets a test control key order and line endings byte for byte. */
export function spec(fields: Record<string, unknown>): string {
  return `${JSON.stringify(fields, null, 2)}\n`
}
