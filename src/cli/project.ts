/**
 * A project as the CLI sees it: its root, the options of `ai-image.config.*`, the image service (the one
 * generation path shared with the plugins) and every spec in it.
 */
import path from 'node:path'
import { ImageService, type DiscoveredSpec, type Env } from '../core/service.js'
import type { AiImageOptions } from '../types.js'
import type { Output } from './output.js'

export interface Project {
  root: string
  configFile?: string
  service: ImageService
  specs: DiscoveredSpec[]
}

export async function openProject(
  root: string,
  output: Output,
  env: Env,
  overrides: AiImageOptions = {},
  filter: readonly string[] = [],
): Promise<Project> {
  const absolute = path.resolve(root)
  const service = ImageService.forProject(overrides, { root: absolute, env, sink: output.sink })
  const specs = await service.discover(filter)
  return { root: absolute, ...(service.configFile ? { configFile: service.configFile } : {}), service, specs }
}
