/**
 * Fixtures of the warm-build benchmark: photo-like PNGs the size of a `1536x1024` generation, small
 * 1024x1024 PNGs of flat colours and shapes (about 30 KB, so that copying assets does not hide the plugin's
 * own cost), an OpenAI-compatible endpoint on 127.0.0.1 that answers each prompt with its PNG (so the plugin
 * itself fills the committed cache, as in real life), and the Vite projects that are compared.
 */
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import sharp from 'sharp'

export const WIDTH = 1536
export const HEIGHT = 1024

export const SMALL_SIZE = 1024

export const imageName = (i: number) => `img-${String(i).padStart(3, '0')}`
export const promptOf = (i: number) => `bench image ${String(i).padStart(3, '0')}`

/**
 * `count` distinct PNGs in `dir` (kept between runs). Smooth colour fields, mid-frequency detail and
 * grain, written with zlib level 6 and adaptive filtering like common encoders: a few MB each, as a
 * generated photo is.
 */
export async function ensureImages(dir: string, count: number): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const files = Array.from({ length: count }, (_, i) => path.join(dir, `${imageName(i)}.png`))
  const missing = files.map((file, i) => [file, i] as const).filter(([file]) => !existsSync(file))
  if (missing.length === 0) return files
  console.log(`generating ${missing.length} source images in ${dir} …`)
  const textures = await Promise.all([0, 1, 2, 3].map(() => texture()))
  for (let at = 0; at < missing.length; at += 2) {
    await Promise.all(
      missing.slice(at, at + 2).map(async ([file, i]) => {
        let image = sharp(textures[i % textures.length]!).modulate({ hue: (i * 37) % 360, saturation: 0.7 + (i % 5) * 0.1 })
        if (i & 4) image = image.flip()
        if (i & 8) image = image.flop()
        await writeFile(file, await image.png({ compressionLevel: 6, adaptiveFiltering: true }).toBuffer())
      }),
    )
  }
  return files
}

/**
 * `count` distinct 1024x1024 PNGs in `dir` (kept between runs): a flat colour with three shapes, written with
 * zlib level 6 as common encoders do (about 30 KB; the plugin's lossless optimizer makes them smaller).
 */
export async function ensureSmallImages(dir: string, count: number): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const files = Array.from({ length: count }, (_, i) => path.join(dir, `${imageName(i)}.png`))
  const missing = files.map((file, i) => [file, i] as const).filter(([file]) => !existsSync(file))
  if (missing.length > 0) console.log(`generating ${missing.length} small images in ${dir} …`)
  for (const [file, i] of missing) {
    const hue = (i * 37) % 360
    const shapes = [0, 1, 2].map((k) => {
      const x = ((i * 97 + k * 173) % 800) + 40
      const y = ((i * 53 + k * 211) % 800) + 40
      const r = 45 + ((i + k * 29) % 60)
      const circle = `<circle cx="${x}" cy="${y}" r="${r}" fill="hsl(${(hue + k * 50) % 360},70%,55%)"/>`
      const rect = `<rect x="${(x * 7) % 900}" y="${(y * 3) % 900}" width="${r * 1.5}" height="${r}" rx="12" fill="hsl(${(hue + k * 90) % 360},60%,40%)"/>`
      return k < 2 ? circle + rect : circle
    })
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SMALL_SIZE}" height="${SMALL_SIZE}"><rect width="100%" height="100%" fill="hsl(${hue},50%,75%)"/>${shapes.join('')}</svg>`
    await writeFile(file, await sharp(Buffer.from(svg)).png({ compressionLevel: 6 }).toBuffer())
  }
  return files
}

async function texture(): Promise<Buffer> {
  const noise = (width: number, height: number, sigma: number) =>
    sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma } } }).png().toBuffer()
  const detail = await sharp(await noise(WIDTH / 4, HEIGHT / 4, 30)).resize(WIDTH, HEIGHT, { kernel: 'cubic' }).blur(1.2).png().toBuffer()
  return sharp(await noise(24, 16, 70))
    .resize(WIDTH, HEIGHT, { kernel: 'cubic' })
    .composite([
      { input: detail, blend: 'soft-light' },
      { input: await noise(WIDTH, HEIGHT, 1.5), blend: 'soft-light' },
    ])
    .removeAlpha()
    .png()
    .toBuffer()
}

/** `POST /v1/images/generations` → the PNG of the prompt's number, as `b64_json`. */
export async function startImageApi(files: readonly string[]): Promise<{ baseURL: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', async () => {
      requests++
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { prompt?: string }
      const index = Number(/(\d+)$/.exec(body.prompt ?? '')?.[1] ?? -1)
      const file = files[index]
      if (req.url !== '/v1/images/generations' || !file) {
        res.writeHead(400, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { message: `unknown request ${req.url} ${body.prompt}`, type: 'invalid_request_error' } }))
        return
      }
      const b64_json = (await readFile(file)).toString('base64')
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ created: Math.floor(Date.now() / 1000), data: [{ b64_json }], size: `${WIDTH}x${HEIGHT}`, output_format: 'png' }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests: () => requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

export interface ProjectFiles {
  /** `vite.config.mjs`. */
  config: string
  /** `src/main.js`: imports the images and puts them on the page. */
  main: string
  /** Other source files (`src/…`) and their contents. */
  files: Record<string, string | Buffer>
}

/** Writes a Vite app (its sources are rewritten on every run, so the benchmark and the files cannot drift). */
export async function writeProject(dir: string, project: ProjectFiles): Promise<void> {
  await rm(path.join(dir, 'src'), { recursive: true, force: true })
  await mkdir(path.join(dir, 'src'), { recursive: true })
  await writeFile(path.join(dir, 'vite.config.mjs'), `${project.config}\n`)
  await writeFile(
    path.join(dir, 'index.html'),
    '<!doctype html><html><body><div id="app"></div><script type="module" src="/src/main.js"></script></body></html>\n',
  )
  await writeFile(path.join(dir, 'src/main.js'), `${project.main}\n`)
  await Promise.all(Object.entries(project.files).map(([file, data]) => writeFile(path.join(dir, file), data)))
}

/** `node_modules/<name>` → folder, for each package, so generated apps import them by name. */
export async function linkPackages(nodeModules: string, packages: Record<string, string>): Promise<void> {
  await mkdir(nodeModules, { recursive: true })
  for (const [name, target] of Object.entries(packages)) {
    const link = path.join(nodeModules, name)
    await rm(link, { recursive: true, force: true })
    await symlink(target, link, 'dir')
  }
}
