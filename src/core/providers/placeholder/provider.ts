/**
 * The offline provider: a deterministic image (the prompt's words, the size, a colour from the cache key)
 * rendered with sharp. It lets a project build anywhere without a key; the engine never writes its
 * images to the committed cache.
 */
import { parseSize } from '../../spec/models.js'
import type { ImageProvider, ProviderRequest, ProviderResult } from '../types.js'

const AUTO_SIZE = { width: 1024, height: 1024 }

export function createPlaceholderProvider(): ImageProvider {
  return {
    kind: 'placeholder',
    describe: () => ({ kind: 'placeholder' }),
    checkSpec: () => {},
    async generate(request) {
      return renderPlaceholders(request)
    },
    close: async () => {},
  }
}

/** `note` replaces the word "placeholder" of the caption (the dev server's "pending in a batch"). */
export async function renderPlaceholders(request: ProviderRequest, note = 'placeholder'): Promise<ProviderResult> {
  const n = Number(request.params.n ?? 1)
  const images = []
  for (let index = 0; index < n; index++) images.push({ data: await renderOne(request, index, note) })
  return { created: 0, images }
}

async function renderOne(request: ProviderRequest, index: number, note: string): Promise<Buffer> {
  const { width, height } = parseSize(String(request.params.size ?? 'auto')) ?? AUTO_SIZE
  const hue = (parseInt(request.key.slice(0, 4), 16) + index * 47) % 360
  const transparent = request.params.background === 'transparent'
  const prompt = typeof request.params.prompt === 'string' ? request.params.prompt : `variation of ${request.inputs[0]?.name ?? 'an image'}`
  const fontSize = Math.max(10, Math.round(Math.min(width, height) / 18))
  const lines = wrap(prompt, Math.max(8, Math.floor((width * 0.8) / (fontSize * 0.56))), 6)
  const caption = `${width}×${height} · ${String(request.params.model)}${Number(request.params.n) > 1 ? ` · #${index}` : ''} · ${note}`
  const lineHeight = fontSize * 1.3
  const top = height / 2 - ((lines.length - 1) * lineHeight) / 2
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
    <stop offset="0" stop-color="hsl(${hue},55%,42%)"/><stop offset="1" stop-color="hsl(${(hue + 40) % 360},60%,28%)"/>
  </linearGradient></defs>
  <rect x="${transparent ? width * 0.05 : 0}" y="${transparent ? height * 0.05 : 0}" width="${transparent ? width * 0.9 : width}" height="${transparent ? height * 0.9 : height}" rx="${transparent ? fontSize : 0}" fill="url(#g)"/>
  <g font-family="DejaVu Sans, Helvetica, Arial, sans-serif" fill="#fff" text-anchor="middle">
    ${lines.map((line, i) => `<text x="${width / 2}" y="${top + i * lineHeight}" font-size="${fontSize}">${escapeXml(line)}</text>`).join('\n    ')}
    <text x="${width / 2}" y="${height - fontSize}" font-size="${Math.round(fontSize * 0.55)}" fill-opacity="0.8">${escapeXml(caption)}</text>
  </g>
</svg>`
  // Loaded here, not at start-up: a build that renders no placeholder never loads sharp.
  const { default: sharp } = await import('sharp')
  const image = sharp(Buffer.from(svg))
  const format = String(request.params.output_format ?? 'png')
  if (format === 'jpeg') return image.flatten({ background: '#ffffff' }).jpeg({ quality: 85 }).toBuffer()
  if (format === 'webp') return image.webp({ quality: 85 }).toBuffer()
  return image.png({ compressionLevel: 6 }).toBuffer()
}

function wrap(text: string, width: number, maxLines: number): string[] {
  const lines: string[] = []
  let current = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (current && (current + ' ' + word).length > width) {
      lines.push(current)
      current = word
    } else current = current ? `${current} ${word}` : word
    if (lines.length === maxLines) break
  }
  if (current && lines.length < maxLines) lines.push(current)
  if (lines.length === maxLines && text.length > lines.join(' ').length) lines[maxLines - 1] += ' …'
  return lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l))
}

/**
 * Text for an SVG (XML 1.0) text node or attribute, whatever the prompt holds: characters XML 1.0 cannot carry
 * (C0 controls other than tab and newlines, lone surrogates, U+FFFE and U+FFFF) become U+FFFD, so librsvg
 * always gets a well-formed document; markup characters are escaped.
 */
function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
}
