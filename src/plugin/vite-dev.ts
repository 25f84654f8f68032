/**
 * Vite dev server: image modules export `<base>@ai-image/<key>-<i>.<ext>` URLs, and this middleware
 * serves them from memory (placeholders, fresh generations) or the cache.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { CacheStore } from '../core/cache/store.js'
import { extensionOf } from '../core/cache/store.js'

export const DEV_URL_SEGMENT = '@ai-image/'

export interface DevAsset {
  data: Buffer
  mime: string
}

export class DevAssets {
  private readonly files = new Map<string, DevAsset>()

  constructor(private readonly store: () => CacheStore) {}

  /** Register an image and return its dev URL (as a JS string literal). */
  add(base: string, key: string, index: number, asset: DevAsset): string {
    const name = `${key}-${index}.${extensionOf(asset.mime)}`
    this.files.set(name, asset)
    return JSON.stringify(`${base}${DEV_URL_SEGMENT}${name}`)
  }

  async get(name: string): Promise<DevAsset | undefined> {
    const known = this.files.get(name)
    if (known) return known
    // After a server restart the browser may ask before the module is loaded again: read the cache.
    const match = /^([0-9a-f]{64})-(\d+)\.[a-z]+$/.exec(name)
    if (!match) return undefined
    const entry = await this.store().read(match[1]!)
    const image = entry?.images[Number(match[2])]
    return image ? { data: image.data, mime: image.mime } : undefined
  }

  middleware() {
    return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
      const url = req.url ?? ''
      const at = url.indexOf(`/${DEV_URL_SEGMENT}`)
      if (at === -1 || (req.method !== 'GET' && req.method !== 'HEAD')) return next()
      const name = decodeURIComponent(url.slice(at + DEV_URL_SEGMENT.length + 1).split('?')[0]!)
      this.get(name).then(
        (asset) => {
          if (!asset) return next()
          res.statusCode = 200
          res.setHeader('content-type', asset.mime)
          res.setHeader('content-length', asset.data.length)
          // Names are content-addressed by key: a changed spec gets a new URL.
          res.setHeader('cache-control', 'no-cache')
          res.end(req.method === 'HEAD' ? undefined : asset.data)
        },
        (error) => next(error),
      )
    }
  }
}
