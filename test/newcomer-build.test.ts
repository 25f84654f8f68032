/**
 * What a newcomer's first builds tell them (issue #13), with real Vite builds and dev servers against the
 * emulator: a typo in any spec of the project fails the build before anything is paid for, listing every
 * invalid spec once; the dev server names invalid specs when it starts and goes on; a build without a key
 * says at its end which specs `dist/` holds placeholders for; user errors reach the build output and Vite's
 * overlay without the plugin's stack frames; a refused OpenAI key is named as such.
 */
import { describe, expect, it } from 'vitest'
import { answers } from './emulator/index.js'
import { startDevServer } from './helpers/dev-server.js'
import { withEnv } from './helpers/env.js'
import { spec } from './helpers/project.js'
import { emulatorSuite } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const suite = emulatorSuite()
/** No key, no CI: the placeholder provider renders what the cache lacks. */
const NO_KEY = { OPENAI_API_KEY: undefined, AZURE_OPENAI_ENDPOINT: undefined, AZURE_OPENAI_API_KEY: undefined, CI: undefined }
/** A stack frame line (`    at fn (file:line:col)`). */
const FRAME = /^\s+at /m
/** A stack frame of the plugin's own code (Rolldown adds frames of its own below an aggregated build error). */
const PLUGIN_FRAME = /^\s+at .*[\\/]src[\\/](core|plugin)[\\/]|^\s+at .*unplugin-ai-image[\\/]dist[\\/]/m

async function buildError(root: string): Promise<Error & { code?: string }> {
  const error = await viteBuild(root).then(
    () => undefined,
    (thrown: unknown) => thrown as Error,
  )
  expect(error, 'the build should fail').toBeDefined()
  return error!
}

describe('a build judges every spec of the project before its first paid request', () => {
  it('fails on invalid specs anywhere in the project (imported or not), listing each once, with zero requests', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nimport b from './b.imgprompt.json'\nconsole.log(a, b)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a red door' }),
      'src/b.imgprompt.json': spec({ prompt: 'a blue door', size: '1792x1024' }),
      // Not imported by anything: a spec of the project all the same (the next import of it would fail too).
      'src/drafts/deep/c.imgprompt.json': spec({ prompt: 'a green door', quality: 'hd' }),
    })
    const error = await withEnv(suite.openaiEnv(), () => buildError(project.root))
    expect(error.message).toContain('SPEC_INVALID')
    expect(error.message).toContain('2 specs are invalid; nothing was generated')
    const lines = error.message.split('\n').filter((line) => line.trimStart().startsWith('- '))
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^\s+- src\/b\.imgprompt\.json: .*size/)
    expect(lines[1]).toMatch(/^\s+- src\/drafts\/deep\/c\.imgprompt\.json: .*quality/)
    // Each line names its file once.
    for (const line of lines) expect(line.match(/imgprompt\.json/g)).toHaveLength(1)
    expect(suite.emulator.requests).toHaveLength(0)
    // A user error: the message is the whole story, no frames of the plugin's internals under it.
    expect(error.stack ?? '').not.toMatch(PLUGIN_FRAME)
  })

  it('fails on an invalid `virtual:ai-image?…` import in a source the build does not reach, before paying for a miss', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a red door' }),
      'src/unused.js': "import fox from 'virtual:ai-image?prompt=a%20fox&size=12x12'\nconsole.log(fox)\n",
    })
    const error = await withEnv(suite.openaiEnv(), () => buildError(project.root))
    expect(error.message).toContain('SPEC_INVALID')
    expect(error.message).toContain('size')
    expect(suite.emulator.requests).toHaveLength(0)
  })

  it('the dev server names invalid specs when it starts, and goes on serving the valid ones', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a red door' }),
      'src/drafts/typo.imgprompt.json': '{ "prompt": "a door", "sise": "1024x1024" }',
    })
    await withEnv(NO_KEY, async () => {
      const dev = await startDevServer(project.root)
      try {
        // buildStart runs when the server starts; the check is done once the first module is served.
        const page = await dev.get('/src/main.js')
        expect(page.status).toBe(200)
        await expect.poll(() => dev.logs.text()).toMatch(/src\/drafts\/typo\.imgprompt\.json is invalid: .*sise.*the dev server goes on/)
        const module = await dev.get('/src/a.imgprompt.json?import')
        expect(module.status).toBe(200)
      } finally {
        await dev.close()
      }
    })
  })
})

describe('a build without a key', () => {
  it('ends naming every spec rendered as a placeholder, and says that dist/ holds placeholders', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nimport b from './nested/b.imgprompt.json'\nconsole.log(a, b)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a red door' }),
      'src/nested/b.imgprompt.json': spec({ prompt: 'a blue door' }),
    })
    const { logs } = await withEnv(NO_KEY, () => viteBuild(project.root))
    const lines = logs.lines
    const notice = lines.findLast((line) => line.includes('placeholder'))!
    expect(notice).toContain('2 specs rendered as placeholders, not generated')
    expect(notice).toContain('dist/ holds placeholder images for')
    expect(notice).toContain('  - src/a.imgprompt.json')
    expect(notice).toContain('  - src/nested/b.imgprompt.json')
    expect(notice).toContain('OPENAI_API_KEY')
    // The closing lines: after the output was written.
    expect(lines.indexOf(notice)).toBeGreaterThan(lines.findIndex((line) => line.includes('dist/assets/')))
  })

  it('says nothing of placeholders when every image came from the cache', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a red door' }),
    })
    await withEnv(suite.openaiEnv(), () => viteBuild(project.root))
    const { logs } = await withEnv(NO_KEY, () => viteBuild(project.root))
    expect(logs.text()).not.toContain('placeholder')
  })
})

describe('user errors', () => {
  it('a refused OpenAI key names OPENAI_API_KEY, not Azure roles, with one period between clauses, and no frames', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a red door' }),
    })
    suite.emulator.enqueue(answers.unauthorized())
    const error = await withEnv(suite.openaiEnv(), () => buildError(project.root))
    expect(error.message).toContain('AUTH')
    expect(error.message).toContain('OPENAI_API_KEY')
    expect(error.message).not.toMatch(/azure|role/i)
    expect(error.message).not.toContain('..')
    expect(error.stack ?? '').not.toMatch(PLUGIN_FRAME)
  })

  it('a refused Azure key names AZURE_OPENAI_API_KEY and its resource', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a red door' }),
    })
    suite.emulator.enqueue({ status: 401, body: { error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint.' } } })
    const error = await withEnv(suite.azureEnv(), () => buildError(project.root))
    expect(error.message).toContain('AUTH')
    expect(error.message).toContain('AZURE_OPENAI_API_KEY')
    expect(error.message).toContain('AZURE_OPENAI_ENDPOINT')
    expect(error.message).not.toMatch(/(?<!AZURE_)OPENAI_API_KEY/)
    expect(error.message).not.toContain('..')
  })

  it("reach Vite's overlay without stack frames", async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a red door', size: '1792x1024' }),
    })
    await withEnv(NO_KEY, async () => {
      const dev = await startDevServer(project.root)
      try {
        const failed = await dev.get('/src/a.imgprompt.json?import')
        expect(failed.status).toBe(500)
        await expect.poll(() => dev.messages.find((m) => m.type === 'error')).toBeDefined()
        const payload = dev.messages.find((m) => m.type === 'error')!.err as { message: string; stack: string }
        expect(payload.message).toContain('SPEC_INVALID')
        expect(payload.message).toContain('src/a.imgprompt.json')
        expect(payload.stack).not.toMatch(FRAME)
      } finally {
        await dev.close()
      }
    })
  })
})
