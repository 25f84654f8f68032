/**
 * The JavaScript of an image module. Its exports are the contract of DESIGN.md ("Importing an image"):
 * default (URL of the picked image), width, height, alt, key, srcset, placeholder, images.
 * URLs arrive as JS expressions, because each bundler spells an asset URL differently.
 *
 * Every other value is written by `JSON.stringify` only. Widths and heights come from checked cache
 * entries (`cache/entry.ts`); they are asserted again here, so a value that is not a positive integer
 * can never become code, whatever path it took.
 */

export interface ModuleImage {
  /** JS expression that evaluates to the URL. */
  url: string
  width: number
  height: number
}

export interface ModuleFacts {
  images: readonly ModuleImage[]
  pick: number
  alt: string
  key: string
  /** `[JS URL expression, width]` pairs of resized variants, smallest first. */
  srcset: ReadonlyArray<readonly [string, number]>
  /** Data URL, or undefined when no placeholder was asked for. */
  placeholder: string | undefined
}

export function renderModule(facts: ModuleFacts): string {
  if (!Number.isSafeInteger(facts.pick) || facts.pick < 0 || facts.pick >= facts.images.length) {
    throw new TypeError(`renderModule: pick ${JSON.stringify(facts.pick)} is not the index of an image`)
  }
  const picked = facts.images[facts.pick]!
  const size = (value: number, what: string) => {
    if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`renderModule: ${what} ${JSON.stringify(value)} is not a positive integer`)
    return JSON.stringify(value)
  }
  const lines = facts.images.map((image, i) => `const src${i} = ${image.url};`)
  facts.srcset.forEach(([url], i) => lines.push(`const w${i} = ${url};`))
  const srcset = facts.srcset.length
    ? facts.srcset.map(([, width], i) => `w${i} + ${JSON.stringify(` ${size(width, 'srcset width')}w`)}`).join(' + ", " + ')
    : '""'
  const images = facts.images.map((image, i) => `{ src: src${i}, width: ${size(image.width, `width of image ${i}`)}, height: ${size(image.height, `height of image ${i}`)} }`)
  lines.push(
    `export const images = [${images.join(', ')}];`,
    `export const width = ${size(picked.width, 'width')};`,
    `export const height = ${size(picked.height, 'height')};`,
    `export const alt = ${JSON.stringify(facts.alt)};`,
    `export const key = ${JSON.stringify(facts.key)};`,
    `export const srcset = ${srcset};`,
    `export const placeholder = ${facts.placeholder === undefined ? 'undefined' : JSON.stringify(facts.placeholder)};`,
    `export default src${facts.pick};`,
  )
  return `${lines.join('\n')}\n`
}

/** Module for a frozen miss during a build: lets the build go on collecting every missing spec. */
export function renderMissingModule(): string {
  return 'export const images = []; export const width = 0; export const height = 0; export const alt = ""; export const key = ""; export const srcset = ""; export const placeholder = undefined; export default "";\n'
}
