import { defineConfig, type ImageSpec } from 'unplugin-ai-image'
import heroSpec from './src/hero.imgprompt.json'

const hero = heroSpec as ImageSpec

// Read by the Vite plugin (vite.config.ts) and by the `ai-image` command alike.
// Offline by default: the placeholder provider renders every spec that is not in the committed cache.
// Set PLAYGROUND_REAL_IMAGES=1 (with OPENAI_API_KEY or AZURE_OPENAI_ENDPOINT) to generate real images.
export default defineConfig({
  ...(process.env.PLAYGROUND_REAL_IMAGES ? {} : { provider: 'placeholder' }),
  defaults: { model: 'gpt-image-1.5', quality: 'medium' },
  images: {
    badge: { prompt: 'A round enamel pin of a paper airplane, flat colours', size: '1024x1024', background: 'transparent' },
    // The hero once more, emitted as WebP: `emit` is not part of the cache key, so this is the same
    // request (one generation, one cache entry) turned into other files for the <picture> source.
    'hero-webp': { ...hero, emit: { format: 'webp', widths: [640, 1024, 1536] } },
  },
})
