/**
 * Types of image imports. Add to tsconfig: `"types": ["unplugin-ai-image/client"]`,
 * or `/// <reference types="unplugin-ai-image/client" />`.
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

declare module 'virtual:ai-image*' {
  const src: string
  export default src
  export const width: number
  export const height: number
  export const alt: string
  export const srcset: string
  export const placeholder: string | undefined
  export const images: ReadonlyArray<{ src: string; width: number; height: number }>
  export const key: string
}
