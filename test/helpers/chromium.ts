/**
 * Chromium for browser tests: Debian's `chromium` (or the executable in CHROMIUM_PATH), driven by
 * playwright-core, in a fresh profile with its background traffic off (no QUIC, no component or sync
 * updates, no first-run pages). One browser per test file, started on first use and closed after the file.
 * A missing Chromium fails the test and says what to install: browser tests never skip.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll } from 'vitest'

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

const INSTALLED = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
/** Starting Chromium on a loaded 2-core machine can take a while. */
const LAUNCH_TIMEOUT_MS = 45_000

/** The Chromium executable: CHROMIUM_PATH, else a system install; throws saying how to get one. */
export function chromiumPath(): string {
  const configured = process.env.CHROMIUM_PATH
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH is ${configured}, which does not exist. Point it at a Chromium executable.`)
    return configured
  }
  const installed = INSTALLED.find((candidate) => existsSync(candidate))
  if (!installed) {
    throw new Error(
      `The browser tests need Chromium and found none (looked for ${INSTALLED.join(', ')}). ` +
        'Install it (`apt-get install chromium`) or set CHROMIUM_PATH to its executable.',
    )
  }
  return installed
}

export interface ChromiumHandle {
  context: BrowserContext
  close(): Promise<void>
}

/** A headless Chromium in a fresh `--user-data-dir`, removed when it closes. */
export async function launchChromium(): Promise<ChromiumHandle> {
  const executablePath = chromiumPath()
  const profile = await mkdtemp(path.join(tmpdir(), 'ai-image-chromium-'))
  try {
    // A persistent context is how playwright takes a `--user-data-dir` of ours.
    const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_FLAGS, timeout: LAUNCH_TIMEOUT_MS })
    return {
      context,
      async close() {
        await context.close()
        await rm(profile, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await rm(profile, { recursive: true, force: true })
    throw error
  }
}

export interface ChromiumSuite {
  /** A new page of the file's browser (started on first use). */
  newPage(): Promise<Page>
}

/** One browser for the tests of a file, closed after them. */
export function chromiumSuite(): ChromiumSuite {
  let launched: Promise<ChromiumHandle> | undefined
  afterAll(async () => {
    const handle = await launched?.catch(() => undefined)
    await handle?.close()
  })
  return {
    async newPage() {
      launched ??= launchChromium()
      return (await launched).context.newPage()
    },
  }
}
