/**
 * The frame of an integration test file: one emulator for the file (reset after each test), temp
 * projects removed at the end, input images made with sharp, and the error of a build that must fail.
 */
import sharp from 'sharp'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { startEmulator, TEST_AZURE_KEY, type Emulator, type EmulatorOptions } from '../emulator/index.js'
import { makeProject, type TempProject } from './project.js'

export const HTML = '<!doctype html><html><body><div id="app"></div><script type="module" src="/src/main.js"></script></body></html>\n'

export interface Suite {
  readonly emulator: Emulator
  /** A temp project with `index.html` and the given files. */
  project(files: Record<string, string | Uint8Array>): Promise<TempProject>
  /** Env for the OpenAI provider against the emulator, outside CI. */
  openaiEnv(): Record<string, string | undefined>
  /** Env for the Azure provider against the emulator with its key, outside CI. */
  azureEnv(): Record<string, string | undefined>
  /** Remove this project (made elsewhere) when the file's tests are done. */
  keep<P extends TempProject>(project: P): P
}

export function emulatorSuite(options: EmulatorOptions = {}): Suite {
  let emulator: Emulator | undefined
  const projects: TempProject[] = []
  beforeAll(async () => {
    emulator = await startEmulator(options)
  })
  afterAll(async () => {
    await emulator?.close()
    await Promise.all(projects.map((p) => p.remove()))
  })
  afterEach(() => emulator?.reset())
  return {
    get emulator() {
      return emulator!
    },
    async project(files) {
      const project = await makeProject({ 'index.html': HTML, ...files })
      projects.push(project)
      return project
    },
    keep(project) {
      projects.push(project)
      return project
    },
    openaiEnv: () => ({ ...emulator!.openaiEnv(), CI: undefined, AZURE_OPENAI_ENDPOINT: undefined }),
    azureEnv: () => ({ AZURE_OPENAI_ENDPOINT: emulator!.url, AZURE_OPENAI_API_KEY: TEST_AZURE_KEY, OPENAI_API_KEY: undefined, CI: undefined }),
  }
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function failure(promise: Promise<unknown>): Promise<Error & { pluginCode?: string }> {
  return promise.then(
    () => {
      throw new Error('expected a failure, but it succeeded')
    },
    (error: unknown) => error as Error & { pluginCode?: string },
  )
}

/** A PNG of one colour; `alpha` < 1 gives it an alpha channel (as a mask needs). */
export function png(width: number, height: number, rgb: [number, number, number], alpha?: number): Promise<Buffer> {
  const channels = alpha === undefined ? 3 : 4
  return sharp({ create: { width, height, channels, background: { r: rgb[0], g: rgb[1], b: rgb[2], alpha: alpha ?? 1 } } })
    .png()
    .toBuffer()
}
