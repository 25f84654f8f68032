/**
 * The closing lines of a build that rendered placeholders: which specs, and that the output holds them. A
 * build without a key succeeds (the project builds anywhere), so without this nobody would notice that the
 * output ships placeholder images instead of generated ones.
 */
import { relativeLabel } from '../spec/source.js'

export function placeholderNotice(labels: readonly string[], context: { root: string; dir?: string | undefined; explicit: boolean }): string {
  const folder = context.dir === undefined ? undefined : relativeLabel(context.root, context.dir)
  const output = folder === undefined ? 'the build output' : folder === '' ? './' : `${folder.replace(/\/$/, '')}/`
  const count = `${labels.length} spec${labels.length === 1 ? '' : 's'}`
  const list = labels.map((label) => `  - ${label}`).join('\n')
  if (context.explicit) {
    return `${count} rendered by the placeholder provider (provider: 'placeholder'): ${output} holds placeholder images for\n${list}`
  }
  return (
    `${count} rendered as ${labels.length === 1 ? 'a placeholder' : 'placeholders'}, not generated (no OPENAI_API_KEY or AZURE_OPENAI_ENDPOINT): ${output} holds placeholder images for\n${list}\n` +
    'Set OPENAI_API_KEY (or AZURE_OPENAI_ENDPOINT and a key) and build again, or run `npx ai-image generate`, to generate them'
  )
}
