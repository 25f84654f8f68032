import { unplugin } from './index.js'

/** esbuild plugin of unplugin-ai-image: `esbuildPlugin(options)`. */
export default unplugin.esbuild
