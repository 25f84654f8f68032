/**
 * Streamed generations (`stream`, `partial_images`) against the emulator's SSE answers: partial frames
 * reach the engine's `partial` event and never the cache; a stream cut before `completed` is retried;
 * an `error` event of the moderation is CONTENT_FILTERED.
 */
import { createHash } from 'node:crypto'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ImageService } from '../src/core/service.js'
import type { PartialFrame } from '../src/core/providers/types.js'
import { answers } from './emulator/index.js'
import { withEnv } from './helpers/env.js'
import { spec } from './helpers/project.js'
import { emulatorSuite, failure, png } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const suite = emulatorSuite()
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** SHA-256 of every image file in the committed cache. */
async function cachedImages(project: { list(dir: string): Promise<string[]>; read(file: string): Promise<Buffer> }): Promise<string[]> {
  const files = (await project.list('.ai-image')).filter((f) => /\.(png|jpg|webp)$/.test(f))
  return Promise.all(files.map(async (f) => sha256(await project.read(path.join('.ai-image', f)))))
}

describe('streaming', () => {
  it('hands two partial frames to the engine and caches only the completed image', async () => {
    const project = await suite.project({
      'src/a.imgprompt.json': spec({ prompt: 'a slow sunrise', model: 'gpt-image-2', size: '1024x1024', stream: true, partial_images: 2 }),
    })
    const service = new ImageService(undefined, { root: project.root, env: suite.openaiEnv() })
    const frames: Array<{ key: string; frame: PartialFrame }> = []
    service.events.on('partial', (key, frame) => frames.push({ key, frame }))
    const image = await service.resolve(await service.loadSpec({ kind: 'file', file: path.join(project.root, 'src/a.imgprompt.json') }))
    await service.close()

    const [request] = suite.emulator.requests
    expect(suite.emulator.requests).toHaveLength(1)
    expect(request!.body).toMatchObject({ stream: true, partial_images: 2 })
    expect(request!.headers.accept).toBe('text/event-stream')
    expect(request!.partials).toHaveLength(2)
    // The engine saw both previews, in order, for this key.
    expect(frames.map(({ key, frame }) => [key, frame.index, frame.partialIndex, sha256(frame.data)])).toEqual([
      [image.key, 0, 0, request!.partials![0]],
      [image.key, 0, 1, request!.partials![1]],
    ])
    // Only the completed image is the result and the cache entry.
    expect(image.images.map((i) => i.sha256)).toEqual(request!.returned)
    expect(await cachedImages(project)).toEqual(request!.returned)
    expect(request!.partials).not.toContain(request!.returned![0])
  })

  it('retries a stream cut before `completed` and caches the image of the retry', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a cut stream', model: 'gpt-image-2', size: '1024x1024', stream: true, partial_images: 1 }),
    })
    suite.emulator.enqueue(answers.cutStream())
    const { logs } = await withEnv(suite.openaiEnv(), () => viteBuild(project.root))

    const [cut, retry] = suite.emulator.requests
    expect(suite.emulator.requests).toHaveLength(2)
    expect(cut!.partials).toHaveLength(1)
    expect(cut!.returned).toEqual([])
    expect(retry!.returned).toHaveLength(1)
    expect(await cachedImages(project)).toEqual(retry!.returned)
    expect(logs.text()).toMatch(/src\/a\.imgprompt\.json: NETWORK \(the stream ended after 0 of 1 completed image\(s\)/)
  })

  it('streams an edit: multipart `stream` as a string, image_edit events', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'paint it', model: 'gpt-image-2', size: '1024x1024', image: './in.png', stream: true, partial_images: 2 }),
      'src/in.png': await png(32, 32, [5, 5, 5]),
    })
    await withEnv(suite.openaiEnv(), () => viteBuild(project.root))
    const [request] = suite.emulator.requests
    expect(request!.operation).toBe('edits')
    expect(request!.body).toMatchObject({ stream: 'true', partial_images: '2' })
    expect(await cachedImages(project)).toEqual(request!.returned)
  })

  it('fails with CONTENT_FILTERED on a moderation `error` event, after one request, caching nothing', async () => {
    const project = await suite.project({
      'src/main.js': "import a from './a.imgprompt.json'\nconsole.log(a)\n",
      'src/a.imgprompt.json': spec({ prompt: 'a brawl', model: 'gpt-image-2', size: '1024x1024', stream: true, partial_images: 1 }),
    })
    suite.emulator.enqueue(answers.filteredStream(['violence']))
    const error = await failure(withEnv(suite.openaiEnv(), () => viteBuild(project.root)))
    expect(error.message).toContain('CONTENT_FILTERED')
    expect(error.message).toContain('src/a.imgprompt.json')
    expect(error.message).toContain('the output was rejected by the content filter; categories: violence')
    expect(suite.emulator.requests).toHaveLength(1)
    expect(await project.list('.ai-image')).toEqual([])
  })
})
