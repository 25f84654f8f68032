/** Placeholders are inlined into module code as data URLs. */
export function dataUrl(mime: string, data: Buffer): string {
  return `data:${mime};base64,${data.toString('base64')}`
}
