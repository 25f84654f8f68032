/**
 * The API server is untrusted (DESIGN.md "Trust boundaries"): any OpenAI-compatible `baseURL` may be hostile
 * or broken. Against the emulator's hostile answers (test/emulator/hostile.ts):
 * - every body and stream event is bounded by the largest legitimate answer, and the socket is closed as soon
 *   as a bound is passed (the server sees the client hang up long before it has sent everything);
 * - redirects are not followed, and an image `url` must be plain http(s), is bounded too, and gets no credentials;
 * - an image larger than the size asked (the model's maximum for `auto`) is refused before any decoder sees it,
 *   and such partial previews are dropped;
 * - the key (or Azure bearer token) a server echoes never reaches an error, a log line, the cache or `dist/`;
 * - and a build against a server sending 500 MB stays under 300 MB of peak RSS (a real child process).
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { isAiImageError } from '../../src/core/errors.js'
import { ImageService } from '../../src/core/service.js'
import type { PartialFrame } from '../../src/core/providers/types.js'
import type { AiImageOptions } from '../../src/types.js'
import { answers, type EchoPlace } from '../emulator/index.js'
import { startGenerateChild } from '../helpers/child.js'
import { makeService } from '../helpers/engine.js'
import { withEnv } from '../helpers/env.js'
import { spec, type TempProject } from '../helpers/project.js'
import { emulatorSuite } from '../helpers/suite.js'
import { viteBuild } from '../helpers/vite.js'

/** Obviously fake, and shaped like no known key, so only a scrub by value can catch it. */
const KEY = 'emulator-hostile-key-0123456789-QWERTY'
const TOKEN = 'entra-token-for-tests-9876543210-ZXCV'
const MiB = 1024 * 1024

const suite = emulatorSuite({ apiKey: KEY, azureTokens: [TOKEN] })
const FILE = 'src/a.imgprompt.json'

interface Outcome {
  error?: unknown
  logs: string[]
  frames: PartialFrame[]
  project: TempProject
}

/** Generate one spec through the service (the path the plugins and the CLI share); never throws. */
async function generate(fields: Record<string, unknown>, options: AiImageOptions = {}, service?: (project: TempProject, logs: string[]) => ImageService): Promise<Outcome> {
  const project = await suite.project({ [FILE]: spec(fields) })
  const logs: string[] = []
  const made = service ? { service: service(project, logs), logs } : makeService(suite.emulator, project, { retries: 0, ...options })
  const frames: PartialFrame[] = []
  made.service.events.on('partial', (_key, frame) => void frames.push(frame))
  let error: unknown
  try {
    await made.service.resolve(await made.service.loadSpec({ kind: 'file', file: path.join(project.root, FILE) }))
  } catch (caught) {
    error = caught
  } finally {
    await made.service.close()
  }
  await suite.emulator.idle()
  return { error, logs: made.logs, frames, project }
}

function expectCode(outcome: Outcome, code: string): Error {
  expect(outcome.error, 'the build should have failed').toBeDefined()
  expect(isAiImageError(outcome.error), `not an AiImageError: ${String(outcome.error)}`).toBe(true)
  const error = outcome.error as Error & { code: string; file?: string }
  expect(error.code, error.message).toBe(code)
  expect(error.file).toBe(FILE)
  expect(error.message).toContain(FILE)
  return error
}

/** Files of the committed cache folder (not its machine-local `.work/`). */
async function committedFiles(project: TempProject): Promise<string[]> {
  return (await project.list('.ai-image')).filter((f) => !f.startsWith('.work/'))
}

/** Files of the cache folder (journal and temp files included) whose bytes contain `text`. */
async function cacheFilesWith(project: TempProject, text: string): Promise<string[]> {
  const files = await project.list('.ai-image')
  const hits = await Promise.all(files.map(async (f) => ((await project.read(path.join('.ai-image', f))).includes(text) ? [f] : [])))
  return hits.flat()
}

const gpt15 = (fields: Record<string, unknown> = {}) => ({ prompt: 'a quiet lake', model: 'gpt-image-1.5', size: '1024x1024', ...fields })
const streamed = { prompt: 'a slow sunrise', model: 'gpt-image-2', size: '1024x1024', stream: true, partial_images: 1 }

describe('bodies are bounded by the largest legitimate answer', () => {
  it('a 500 MB JSON body is cut at the answer limit: BAD_RESPONSE naming the spec, the limit and the request id', async () => {
    suite.emulator.enqueue(answers.hugeBody(500 * MiB))
    const outcome = await generate(gpt15())
    const error = expectCode(outcome, 'BAD_RESPONSE')
    expect(error.message).toMatch(/larger than .*\d+(\.\d+)? MiB/)
    expect(error.message).toMatch(/\(request id req_hostile_\d+\)/)
    // The client hung up: the server could push only what the socket buffers held past the limit.
    expect(suite.emulator.requests[0]!.sentBytes).toBeLessThan(40 * MiB)
    expect(await committedFiles(outcome.project)).toEqual([])
  })

  it('a Content-Length over the limit fails before the body is read', async () => {
    suite.emulator.enqueue(answers.hugeBody(500 * MiB, { contentLength: true }))
    const error = expectCode(await generate(gpt15()), 'BAD_RESPONSE')
    expect(error.message).toMatch(/announces 524288000 bytes/)
    expect(suite.emulator.requests[0]!.sentBytes).toBeLessThan(40 * MiB)
  })

  it('an error body is read only up to 64 KiB, and the status still decides the error', async () => {
    suite.emulator.enqueue(answers.hugeBody(500 * MiB, { status: 503 }))
    const error = expectCode(await generate(gpt15()), 'NETWORK')
    expect(error.message).toContain('HTTP 503')
    expect(suite.emulator.requests[0]!.sentBytes).toBeLessThan(40 * MiB)
  })

  it('an SSE line that never ends fails at the bound of one event', async () => {
    suite.emulator.enqueue(answers.endlessSseLine(800 * MiB))
    const error = expectCode(await generate(streamed), 'BAD_RESPONSE')
    expect(error.message).toMatch(/a stream event .*larger than/)
    expect(suite.emulator.requests[0]!.sentBytes).toBeLessThan(40 * MiB)
  })

  it('previews that never stop fail at the bound of the whole stream', async () => {
    suite.emulator.enqueue(answers.endlessPartials(800 * MiB))
    const outcome = await generate(streamed)
    const error = expectCode(outcome, 'BAD_RESPONSE')
    expect(error.message).toMatch(/the stream is larger than/)
    expect(outcome.frames.length).toBeGreaterThan(0)
    expect(suite.emulator.requests[0]!.sentBytes).toBeLessThan(40 * MiB)
  })

  it('a redirect is not followed: BAD_RESPONSE saying so, and nothing is sent to the new address', async () => {
    suite.emulator.enqueue(answers.redirect(`${suite.emulator.openaiBaseURL}/images/generations`))
    const error = expectCode(await generate(gpt15()), 'BAD_RESPONSE')
    expect(error.message).toMatch(/redirect \(HTTP 307\).*not followed/)
    expect(suite.emulator.requests).toHaveLength(1)
  })
})

describe('an image `url` (DALL-E answers that ignore b64_json)', () => {
  const dalle = { prompt: 'an old map', model: 'dall-e-2', size: '1024x1024' }

  it('is downloaded without the key when it is a plain http(s) URL', async () => {
    suite.emulator.enqueue(answers.urlImage('image'))
    const outcome = await generate(dalle)
    expect(outcome.error).toBeUndefined()
    expect(suite.emulator.downloads).toHaveLength(1)
    expect(suite.emulator.downloads[0]!.headers.authorization).toBeUndefined()
    expect(JSON.stringify(suite.emulator.downloads[0]!.headers)).not.toContain(KEY)
  })

  it('of 500 MB is cut at one image’s limit', async () => {
    suite.emulator.enqueue(answers.urlImage('huge'))
    const error = expectCode(await generate(dalle), 'BAD_RESPONSE')
    expect(error.message).toMatch(/the image download is larger than/)
    expect(suite.emulator.downloads[0]!.sentBytes).toBeLessThan(40 * MiB)
  })

  it('more than `n` of them is refused before any is fetched', async () => {
    const url = `${suite.emulator.url}/download/never-fetched`
    suite.emulator.enqueue({ status: 200, body: { created: 1, data: Array.from({ length: 50 }, () => ({ url })) } })
    const error = expectCode(await generate(dalle), 'BAD_RESPONSE')
    expect(error.message).toContain('the answer has 50 images, but 1 were asked for')
  })

  it('that redirects is not followed', async () => {
    suite.emulator.enqueue(answers.urlImage('redirect'))
    const error = expectCode(await generate(dalle), 'BAD_RESPONSE')
    expect(error.message).toMatch(/redirect \(HTTP 302\).*not followed/)
    expect(suite.emulator.downloads).toHaveLength(1)
  })

  it('that is not http(s), or carries credentials, is refused without a request', async () => {
    suite.emulator.enqueue(answers.urlImage('not-http'))
    expect(expectCode(await generate(dalle), 'BAD_RESPONSE').message).toMatch(/not an http\(s\) URL/)
    suite.emulator.enqueue(answers.urlImage('credentials'))
    expect(expectCode(await generate({ ...dalle, prompt: 'another map' }), 'BAD_RESPONSE').message).toMatch(/carries credentials/)
    expect(suite.emulator.downloads).toHaveLength(0)
  })
})

describe('decoded images are bounded by the size asked', () => {
  it('a 16000x16000 PNG for size auto is refused before decoding (the model’s maximum is 1536x1024)', async () => {
    suite.emulator.enqueue(answers.hugeImage(16000, 16000))
    const outcome = await generate(gpt15({ size: 'auto' }))
    const error = expectCode(outcome, 'BAD_RESPONSE')
    expect(error.message).toMatch(/16000x16000.*1536x1024/)
    expect((error as Error & { retryable: boolean }).retryable).toBe(true)
    expect(await committedFiles(outcome.project)).toEqual([])
  })

  it('is retried like any broken answer, and the retry’s image is kept', async () => {
    suite.emulator.enqueue(answers.hugeImage(16000, 16000))
    const outcome = await generate(gpt15({ size: 'auto' }), { retries: 1 })
    expect(outcome.error).toBeUndefined()
    expect(suite.emulator.requests).toHaveLength(2)
    expect(outcome.logs.join('\n')).toMatch(/BAD_RESPONSE .*16000x16000/)
  })

  it('a model the table does not know is bounded by IMAGE_LIMITS', async () => {
    suite.emulator.enqueue(answers.hugeImage(16000, 16000))
    const error = expectCode(await generate({ prompt: 'a quiet lake', model: 'acme-image-1' }), 'BAD_RESPONSE')
    expect(error.message).toMatch(/16000x16000/)
  })

  it('partial previews over the bound are dropped; the completed image is kept', async () => {
    suite.emulator.enqueue(answers.hugeImage(16000, 16000, 'partial'))
    const outcome = await generate({ ...streamed, partial_images: 2 })
    expect(outcome.error).toBeUndefined()
    expect(outcome.frames).toEqual([])
    expect((await outcome.project.list('.ai-image')).filter((f) => f.endsWith('.png'))).toHaveLength(1)
  })
})

describe('secrets echoed by the server are scrubbed by value', () => {
  /** The key must not be in the error (message, fields, causes), the log lines or any file of the cache. */
  async function expectNoSecret(outcome: Outcome, secret = KEY): Promise<void> {
    if (outcome.error !== undefined) {
      expect(inspect(outcome.error, { depth: 20 })).not.toContain(secret)
      expect(JSON.stringify(outcome.error)).not.toContain(secret)
    }
    expect(outcome.logs.join('\n')).not.toContain(secret)
    expect(await cacheFilesWith(outcome.project, secret)).toEqual([])
  }

  it.each<[EchoPlace, string]>([
    ['error-message', 'SPEC_INVALID'],
    ['error-header', 'NETWORK'],
    ['content-filter', 'CONTENT_FILTERED'],
    ['stream-error', 'NETWORK'],
  ])('echoed in a failure (%s): %s without the key, in the error or the retry log lines', async (where, code) => {
    suite.emulator.enqueue(answers.echoSecret(where), answers.echoSecret(where))
    const outcome = await generate(where.startsWith('stream') ? streamed : gpt15(), { retries: 1 })
    const error = expectCode(outcome, code)
    expect(error.message).toContain('[redacted]')
    await expectNoSecret(outcome)
  })

  it.each<EchoPlace>(['request-id', 'revised_prompt', 'usage', 'created', 'stream-fields'])(
    'echoed in a good answer (%s): the image is kept, the key is not',
    async (where) => {
      suite.emulator.enqueue(answers.echoSecret(where))
      const outcome = await generate(where.startsWith('stream') ? streamed : gpt15())
      expect(outcome.error).toBeUndefined()
      const sidecars = (await outcome.project.list('.ai-image')).filter((f) => f.endsWith('.json'))
      expect(sidecars).toHaveLength(1)
      await expectNoSecret(outcome)
    },
  )

  it('the journal of an interrupted generation keeps no echoed key', async () => {
    // dall-e-3 makes one image per call: the first call lands (and is journaled), the second fails.
    suite.emulator.enqueue(answers.echoSecret('request-id'), answers.echoSecret('error-header'))
    const outcome = await generate({ prompt: 'two maps', model: 'dall-e-3', n: 2 }, { concurrency: 1 })
    expectCode(outcome, 'NETWORK')
    const files = await outcome.project.list('.ai-image')
    const journals = files.filter((f) => f.startsWith('.work/journal/'))
    expect(journals).toHaveLength(1)
    expect(await cacheFilesWith(outcome.project, '[redacted]')).toEqual(journals)
    await expectNoSecret(outcome)
  })

  it('an Azure Entra ID bearer token, obtained at run time, is scrubbed like a key', async () => {
    const credential = { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) }
    const azure = (project: TempProject, logs: string[]) =>
      new ImageService(
        { provider: 'azure', retries: 1, azure: { endpoint: suite.emulator.url, credential } },
        { root: project.root, env: {}, sink: { info: (m) => void logs.push(m), warn: (m) => void logs.push(m), error: (m) => void logs.push(m) } },
      )
    suite.emulator.enqueue(answers.echoSecret('revised_prompt'))
    const good = await generate(gpt15(), {}, azure)
    expect(good.error).toBeUndefined()
    expect(suite.emulator.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`)
    await expectNoSecret(good, TOKEN)

    suite.emulator.enqueue(answers.echoSecret('error-header'), answers.echoSecret('error-message'))
    const bad = await generate(gpt15({ prompt: 'another lake' }), {}, azure)
    expect((bad.error as { code?: string }).code).toBe('SPEC_INVALID')
    await expectNoSecret(bad, TOKEN)
  })

  it('a real vite build keeps the echoed key out of its log, the committed cache and dist/', async () => {
    const project = await suite.project({
      'src/main.js': ["import a from './a.imgprompt.json'", "import b from './b.imgprompt.json'", "import c from './c.imgprompt.json'", 'console.log(a, b, c)', ''].join('\n'),
      'src/a.imgprompt.json': spec(gpt15({ prompt: 'lake a' })),
      'src/b.imgprompt.json': spec(gpt15({ prompt: 'lake b' })),
      'src/c.imgprompt.json': spec(gpt15({ prompt: 'lake c' })),
    })
    suite.emulator.enqueue(answers.echoSecret('revised_prompt'), answers.echoSecret('usage'), answers.echoSecret('request-id'))
    const { logs } = await withEnv(suite.openaiEnv(), () => viteBuild(project.root))
    expect(suite.emulator.requests).toHaveLength(3)
    expect(logs.text()).not.toContain(KEY)
    expect(await cacheFilesWith(project, KEY)).toEqual([])
    const dist = await project.list('dist')
    expect(dist.length).toBeGreaterThan(0)
    for (const file of dist) expect((await readFile(path.join(project.root, 'dist', file))).toString('latin1')).not.toContain(KEY)
  })
})

describe('memory stays bounded', () => {
  it('a build (its own process) against a server sending a 500 MB body peaks under 300 MB RSS', async () => {
    const project = await suite.project({ [FILE]: spec(gpt15()) })
    suite.emulator.enqueue(answers.hugeBody(500 * MiB))
    const run = startGenerateChild(project.root, [FILE], { provider: 'openai', retries: 0 }, suite.emulator.openaiEnv())
    const { report, stderr } = await run.done
    await suite.emulator.idle()
    expect(report, stderr).toBeDefined()
    expect(report!.statuses).toEqual(['failed'])
    expect(report!.errors[0]).toMatch(/BAD_RESPONSE .*larger than/)
    console.log(`peak RSS of the build: ${(report!.peakRssBytes / MiB).toFixed(0)} MB; the server sent ${(suite.emulator.requests[0]!.sentBytes! / MiB).toFixed(1)} MB`)
    expect(report!.peakRssBytes).toBeLessThan(300 * MiB)
    expect(suite.emulator.requests[0]!.sentBytes).toBeLessThan(40 * MiB)
  })
})
