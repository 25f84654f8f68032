import { unplugin } from './index.js'

/** rolldown plugin of unplugin-ai-image: `rolldownPlugin(options)`. */
export default unplugin.rolldown
