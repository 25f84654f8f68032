/**
 * Text into HTML. Every string of the gallery's state may come from a user or a pull request (a prompt, a
 * revised prompt the API sent, a file name, an error): it reaches the page only through these functions.
 */

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)
}

/**
 * JSON for a `<script type="application/json">` block: `<`, `>` and `&` as `\u003c`-style escapes, so no
 * string in it can close the element (`</script>`) or open a comment (`<!--`); U+2028 and U+2029 too.
 * `JSON.parse` of the element's text gives the value back unchanged.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * A URL the gallery made itself (an image file beside the sheet, a dev server path): no scheme, so never
 * `javascript:` or a site elsewhere. Anything else is dropped (undefined).
 */
export function safeUrl(url: string | null | undefined): string | undefined {
  if (typeof url !== 'string' || url === '' || url.startsWith('//')) return undefined
  return /^[A-Za-z0-9._~/@%+-]+$/.test(url) ? url : undefined
}
