/**
 * A project as the CLI sees it: its root, the options of `ai-image.config.*`, the image service (the one
 * generation path shared with the plugins) and every spec in it.
 */
import path from 'node:path'
import { loadConfigFile } from '../core/config-file.js'
import { discoverSpecs, type DiscoveredSpec } from '../core/discover.js'
import type { Env } from '../core/options.js'
import { ImageService } from '../core/service.js'
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
  const config = loadConfigFile(absolute)
  const service = new ImageService({ ...config.options, ...overrides }, { root: absolute, env, sink: output.sink })
  const specs = await discoverSpecs(service.options, filter)
  return { root: absolute, ...(config.file ? { configFile: config.file } : {}), service, specs }
}
