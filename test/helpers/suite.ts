/**
 * One emulator per test file, reset after each test, and temp projects removed at the end.
 */
import { afterAll, afterEach, beforeAll } from 'vitest'
import { startEmulator, type Emulator, type EmulatorOptions } from '../emulator/index.js'
import type { TempProject } from './project.js'

export interface EmulatorSuite {
  readonly emulator: Emulator
  /** Remove this project when the file's tests are done. */
  keep<P extends TempProject>(project: P): P
}

export function useEmulator(options: EmulatorOptions = {}): EmulatorSuite {
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
    keep(project) {
      projects.push(project)
      return project
    },
  }
}
