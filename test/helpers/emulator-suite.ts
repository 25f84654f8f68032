/**
 * The usual set-up of an integration test file: one emulator for the file (reset after each test) and
 * temp projects removed at the end. Call at the top level of the file.
 */
import { afterAll, afterEach, beforeAll } from 'vitest'
import { startEmulator, type Emulator } from '../emulator/index.js'
import { makeProject, type TempProject } from './project.js'

export interface EmulatorSuite {
  /** The running emulator (available inside tests and hooks). */
  readonly emulator: Emulator
  /** A temp project with these files, removed after the file's tests. */
  project(files: Record<string, string>): Promise<TempProject>
}

export function emulatorSuite(): EmulatorSuite {
  let emulator: Emulator | undefined
  const projects: TempProject[] = []
  beforeAll(async () => {
    emulator = await startEmulator()
  })
  afterAll(async () => {
    await emulator?.close()
    await Promise.all(projects.map((p) => p.remove()))
  })
  afterEach(() => emulator?.reset())
  return {
    get emulator() {
      if (!emulator) throw new Error('the emulator starts in beforeAll: use it inside tests')
      return emulator
    },
    async project(files) {
      const p = await makeProject(files)
      projects.push(p)
      return p
    },
  }
}
