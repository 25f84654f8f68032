/**
 * The engine through `ImageService` (the path the plugins and the CLI share), against the emulator:
 * a temp project with spec files, a service with virtual time (`clock.sleeps` records every wait), and
 * every log line captured.
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { virtualClock, type VirtualClock } from '../../src/core/clock.js'
import { ImageService, type ServiceContext, type SpecRef } from '../../src/core/service.js'
import type { AiImageOptions } from '../../src/types.js'
import type { Emulator } from '../emulator/index.js'
import { makeProject, spec, type TempProject } from './project.js'

export interface Harness {
  service: ImageService
  clock: VirtualClock
  logs: string[]
}

export function makeService(emulator: Emulator, project: TempProject, options: AiImageOptions = {}, context: ServiceContext = {}): Harness {
  const logs: string[] = []
  const clock = virtualClock()
  const service = new ImageService(
    { provider: 'openai', ...options },
    {
      root: project.root,
      env: emulator.openaiEnv(),
      clock,
      sink: { info: (m) => void logs.push(`info ${m}`), warn: (m) => void logs.push(`warn ${m}`), error: (m) => void logs.push(`error ${m}`) },
      ...context,
    },
  )
  return { service, clock, logs }
}

/** `count` small gpt-image-2 specs (`s0.imgprompt.json` …), each with its own prompt. */
export async function specProject(count: number, fields: Record<string, unknown> = {}, prefix = 's'): Promise<{ project: TempProject; refs: SpecRef[] }> {
  const files: Record<string, string> = {}
  for (let i = 0; i < count; i++) {
    files[`src/${prefix}${i}.imgprompt.json`] = spec({ prompt: `picture number ${i}`, model: 'gpt-image-2', size: '1024x1024', ...fields })
  }
  const project = await makeProject(files)
  return { project, refs: refsOf(project, Object.keys(files)) }
}

export function refsOf(project: TempProject, files: string[]): SpecRef[] {
  return files.map((file) => ({ kind: 'file', file: path.join(project.root, file) }))
}

/** Every file under the cache folder (relative, sorted), `.work/` included. */
export async function cacheFiles(project: TempProject): Promise<string[]> {
  const base = path.join(project.root, '.ai-image')
  const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(base, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort()
}
