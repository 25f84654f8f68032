import { unplugin } from './index.js'

/** vite plugin of unplugin-ai-image: `vitePlugin(options)`. */
export default unplugin.vite
