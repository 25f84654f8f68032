/**
 * Types of image imports. Add to tsconfig: `"types": ["unplugin-ai-image/client"]`,
 * or `/// <reference types="unplugin-ai-image/client" />`.
 *
 * TypeScript types an import of a real `.json` file as its content when `resolveJsonModule` is on (the
 * default with `"moduleResolution": "bundler"`), before it looks at these declarations: set
 * `"resolveJsonModule": false` for `*.imgprompt.json` imports to get these types (see the README).
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
