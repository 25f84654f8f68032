import { defineConfig } from 'vite'
import aiImage from 'unplugin-ai-image/vite'

// The plugin's options live in ai-image.config.ts, which the `ai-image` command reads too.
export default defineConfig({
  plugins: [aiImage()],
})
