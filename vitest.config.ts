import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds and servers run in-process; each file gets its own temp folder and emulator port.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The machine has 2 cores; bundler builds are CPU-heavy.
    maxWorkers: 2,
    // Tests decide `CI`/`frozen` explicitly; nothing leaks in from the caller's shell.
    env: { CI: '', OPENAI_API_KEY: '', AZURE_OPENAI_ENDPOINT: '', AZURE_OPENAI_API_KEY: '', OPENAI_BASE_URL: '' },
  },
})
