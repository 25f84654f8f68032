/**
 * For the gallery's tests: the built `ai-image` command in a child process, a committed cache made through
 * the emulator, and readers of the sheet's HTML (its embedded state and its cards).
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { GalleryState } from '../../src/core/gallery/types.js'

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Run the built command in `cwd` (NO_COLOR, `CI` unset unless `env` sets it). */
export function runCli(args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const merged: Record<string, string | undefined> = { ...process.env, CI: '', NO_COLOR: '1', ...env }
    for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name]
    execFile(process.execPath, [CLI, ...args], { cwd, env: merged as NodeJS.ProcessEnv }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

/** The state a gallery page embeds (the `application/json` block). */
export function embeddedState(html: string): GalleryState {
  const match = /<script type="application\/json" id="ai-image-state">([^<]*)<\/script>/.exec(html)
  if (!match) throw new Error('the page embeds no state')
  return JSON.parse(match[1]!) as GalleryState
}

/** The `<article …>` of the card whose `data-spec` is `label` (escaped as the page escapes it). */
export function cardHtml(html: string, label: string): string | undefined {
  const attribute = `data-spec="${label.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;')}"`
  const start = html.indexOf(attribute)
  if (start === -1) return undefined
  const open = html.lastIndexOf('<article', start)
  return html.slice(open, html.indexOf('</article>', start) + '</article>'.length)
}

/** Environment with no key at all (and CI set): the sheet must need neither. */
export const NO_KEY_CI = { CI: '1', OPENAI_API_KEY: '', AZURE_OPENAI_ENDPOINT: '', AZURE_OPENAI_API_KEY: '', OPENAI_BASE_URL: '' }

/** git with a fixed identity, in `cwd`. */
export function gitIn(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      ['-c', 'user.name=Gallery Test', '-c', 'user.email=gallery@example.invalid', '-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main', ...args],
      { cwd, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: cwd } },
      (error, stdout, stderr) => (error ? reject(new Error(`git ${args.join(' ')}: ${stderr}`)) : resolve(stdout)),
    )
  })
}
