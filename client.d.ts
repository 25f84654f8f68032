/**
 * Types of image imports. Add to tsconfig: `"types": ["unplugin-ai-image/client"]`,
 * or `/// <reference types="unplugin-ai-image/client" />`.
 *
 * An import of a spec file (`./hero.imgprompt.json`) is typed by the declaration file the plugin writes beside
 * it (`hero.imgprompt.d.json.ts`, read with `"allowArbitraryExtensions": true`), `resolveJsonModule` left on;
 * the `*.imgprompt.json` module below types it in projects whose `resolveJsonModule` is off (see the README).
 */
declare module '*.imgprompt.json' {
  /** URL of the emitted (picked) image. */
  const src: string
  export default src
  /** Pixel width of the picked image. */
  export const width: number
  /** Pixel height of the picked image. */
  export const height: number
  /** Alt text (the spec's `alt`, else its prompt). */
  export const alt: string
  /** `"url 640w, url 1280w"` when `emit.widths` is set, else `""`. */
  export const srcset: string
  /** Data URL of a tiny preview when `emit.placeholder` is set, else `undefined`. */
  export const placeholder: string | undefined
  /** Every candidate (n > 1). */
  export const images: ReadonlyArray<{ src: string; width: number; height: number }>
  /** The cache key of the request. */
  export const key: string
}

/** `virtual:ai-image?prompt=…` and `virtual:ai-image/<name>`: the same exports as a spec file. */
declare module 'virtual:ai-image*' {
  // '*.imgprompt.json' is matched by the pattern above, so both kinds of import share one declaration.
  export { default } from '*.imgprompt.json'
  export * from '*.imgprompt.json'
}
