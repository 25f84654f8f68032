/**
 * The `usage` the emulator bills (API-FACTS.md: GPT image models only; DALL-E answers carry none): a fixed
 * 50 text tokens for the prompt (no tokenizer), 194 image tokens for each input image of an edit (one 512 px
 * tile, as OpenAI bills a square input), and for each image the output tokens of its quality and size (the
 * published table for gpt-image-1.x, the image guide's calculator for gpt-image-2) plus 100 for each streamed
 * preview. `auto` quality is answered as `low` and `auto` size as 1024x1024 (what the emulator renders).
 */
const OUTPUT_TOKENS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  low: { '1024x1024': 272, '1024x1536': 408, '1536x1024': 400 },
  medium: { '1024x1024': 1056, '1024x1536': 1584, '1536x1024': 1568 },
  high: { '1024x1024': 4160, '1024x1536': 6240, '1536x1024': 6208 },
}

export const PROMPT_TOKENS = 50
export const INPUT_IMAGE_TOKENS = 194
export const PREVIEW_TOKENS = 100

/** The quality the emulator answers with (and echoes) for what was asked. */
export function answeredQuality(asked: unknown): 'low' | 'medium' | 'high' {
  return asked === 'medium' || asked === 'high' ? asked : 'low'
}

/** Output tokens of one image (gpt-image-2: the calculator of OpenAI's image generation guide). */
export function outputTokens(model: string, quality: 'low' | 'medium' | 'high', width: number, height: number): number {
  if (model.startsWith('gpt-image-2')) {
    const factor = { low: 16, medium: 48, high: 96 }[quality]
    const long = Math.max(width, height)
    const short = Math.min(width, height)
    const shortAxis = Math.floor((2 * factor * short + long) / (2 * long))
    return Math.ceil((factor * shortAxis * (2_000_000 + width * height)) / 4_000_000)
  }
  return OUTPUT_TOKENS[quality]![`${width}x${height}`] ?? Math.round((OUTPUT_TOKENS[quality]!['1024x1024']! * width * height) / (1024 * 1024))
}

export interface Usage {
  input_tokens: number
  output_tokens: number
  total_tokens: number
  input_tokens_details: { text_tokens: number; image_tokens: number }
}

/** The usage of one answer of `images` images (or of one streamed `completed` image: `images` 1). */
export function usageOf(facts: { model: string; quality: unknown; width: number; height: number; images: number; inputImages: number; previews: number }): Usage {
  const text = PROMPT_TOKENS
  const image = INPUT_IMAGE_TOKENS * facts.inputImages
  const output = facts.images * (outputTokens(facts.model, answeredQuality(facts.quality), facts.width, facts.height) + PREVIEW_TOKENS * facts.previews)
  return { input_tokens: text + image, output_tokens: output, total_tokens: text + image + output, input_tokens_details: { text_tokens: text, image_tokens: image } }
}
