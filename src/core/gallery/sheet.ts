/**
 * The static contact sheet (`ai-image gallery --out <dir>`): `<dir>/index.html`, the gallery page in its
 * read-only mode, and `<dir>/images/`, the candidates it shows. Made from the cache alone: no key, no
 * request, nothing generated (it works with `CI` set, and on a pull request's checkout).
 *
 * Images are files beside the page, referenced relatively, rather than data URLs: a project's images weigh
 * hundreds of megabytes, which a page can load lazily as files (`loading="lazy"`), not inlined in its HTML.
 * They are the cached bytes exactly as verified (SHA-256 and header), named by their SHA-256 so a file shared
 * by several specs (or by both sides of `--since`) is written once and names never collide. No thumbnails:
 * what a reviewer judges is the image that ships, and lazy loading keeps a large sheet light.
 *
 * The folder opens from the file system or any static host; a CI job can upload it as an artifact.
 */
import { lstat, mkdir, readdir, realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import { atomicWrite } from '../atomic-write.js'
import { AiImageError } from '../errors.js'
import { renderGalleryPage } from './page/render.js'
import type { ProjectView, SidecarImage } from './project-view.js'
import { changedSince, type SinceContext } from './since.js'
import { buildGalleryState, summarize } from './state.js'
import type { GalleryState } from './types.js'

export const SHEET_IMAGES = 'images'
const SHEET_IMAGE_NAME = /^[0-9a-f]{64}\.(png|jpg|webp|avif)$/
const EXTENSION: Readonly<Record<string, string>> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/avif': 'avif' }

export interface SheetOptions {
  outDir: string
  projectName: string
  /** Only specs whose images changed since this git ref, old and new side by side. */
  since?: { ref: string } & SinceContext
  now?: Date
}

export interface SheetResult {
  /** The page written. */
  file: string
  state: GalleryState
  /** Image files in `<outDir>/images/`. */
  images: number
}

export async function writeSheet(view: ProjectView, options: SheetOptions): Promise<SheetResult> {
  const outDir = await prepareOutDir(view, options.outDir)
  const imagesDir = path.join(outDir, SHEET_IMAGES)
  await mkdir(imagesDir, { recursive: true })
  const written = new Set<string>()
  const write = async (record: SidecarImage, data: Buffer) => {
    const name = sheetImageName(record)
    if (!written.has(name)) {
      written.add(name)
      await atomicWrite(path.join(imagesDir, name), data)
    }
    return `${SHEET_IMAGES}/${name}`
  }

  let state: GalleryState
  if (options.since) {
    // Names first (content-addressed, so known before the bytes), files only for the specs shown.
    const names = ({ record }: { record: SidecarImage }) => `${SHEET_IMAGES}/${sheetImageName(record)}`
    const changed = await changedSince(view, { ...options.since, imageSource: names })
    try {
      for (const { view: side, key } of changed.entries) {
        const read = await side.readEntry(key)
        if (read.status !== 'read') continue
        for (const image of read.images) if ('data' in image) await write(image.record, image.data)
      }
    } finally {
      await changed.close()
    }
    state = {
      version: 1,
      mode: 'sheet',
      project: options.projectName,
      generatedAt: (options.now ?? new Date()).toISOString(),
      specs: changed.cards,
      summary: summarize(changed.cards),
      since: { ref: options.since.ref, commit: changed.commit },
    }
  } else {
    state = await buildGalleryState(view, {
      mode: 'sheet',
      history: false,
      projectName: options.projectName,
      imageSource: ({ record, data }) => write(record, data),
      ...(options.now ? { now: options.now } : {}),
    })
  }

  await removeStaleImages(imagesDir, written)
  const file = path.join(outDir, 'index.html')
  await atomicWrite(file, Buffer.from(renderGalleryPage(state), 'utf8'))
  return { file, state, images: written.size }
}

export function sheetImageName(record: Pick<SidecarImage, 'sha256' | 'mime'>): string {
  return `${record.sha256}.${EXTENSION[record.mime] ?? 'bin'}`
}

/** The output folder, made if needed; never the project root or a folder above it, never inside the cache. */
async function prepareOutDir(view: ProjectView, outDir: string): Promise<string> {
  const absolute = path.resolve(outDir)
  const fail = (problem: string) =>
    new AiImageError('SPEC_INVALID', `--out ${outDir} ${problem}. Choose a folder of its own, such as ai-image-gallery/`, { file: 'ai-image gallery' })
  const [root, cacheDir] = await Promise.all([realpath(view.root).catch(() => view.root), realpath(view.cacheDir).catch(() => view.cacheDir)])
  await mkdir(absolute, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
    throw fail(`cannot be made (${error.code ?? 'error'})`)
  })
  const real = await realpath(absolute)
  const fromOut = path.relative(real, root)
  if (fromOut === '' || (!fromOut.startsWith('..') && !path.isAbsolute(fromOut))) throw fail('is the project root or a folder above it (the sheet would overwrite its index.html)')
  const inCache = path.relative(cacheDir, real)
  if (inCache === '' || (!inCache.startsWith('..') && !path.isAbsolute(inCache))) throw fail('is inside the cache folder')
  return real
}

/** Images of an earlier sheet in this folder that this one does not show (only names the sheet makes). */
async function removeStaleImages(imagesDir: string, keep: ReadonlySet<string>): Promise<void> {
  for (const name of await readdir(imagesDir).catch(() => [] as string[])) {
    if (!SHEET_IMAGE_NAME.test(name) || keep.has(name)) continue
    const stats = await lstat(path.join(imagesDir, name)).catch(() => undefined)
    if (stats && (stats.isFile() || stats.isSymbolicLink())) await rm(path.join(imagesDir, name), { force: true })
  }
}

