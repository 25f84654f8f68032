/**
 * The one fixture app every bundler builds: a spec file (with `$schema`, which the plugin ignores), an
 * edit of an input image, a `virtual:ai-image?…` import and a named image. `src/main.js` exports what it
 * imported as `result`, so a test can import the built entry and follow each URL to its file. Small
 * gpt-image-2 sizes keep the emulator fast.
 */
import sharp from 'sharp'
import type { AiImageOptions } from '../../src/types.js'
import { makeProject, spec, type TempProject } from '../helpers/project.js'

export const HERO = { prompt: 'a lighthouse at dusk', model: 'gpt-image-2', size: '1536x1024' } as const

const MAIN = `import hero, { width, height, alt, srcset, placeholder, images, key } from './hero.imgprompt.json'
import edited, { width as editedWidth, height as editedHeight } from './edited.imgprompt.json'
import fox, { width as foxWidth, height as foxHeight } from 'virtual:ai-image?prompt=a%20red%20fox&model=gpt-image-2&size=1024x1024'
import logo, { alt as logoAlt } from 'virtual:ai-image/logo'

export const result = {
  hero: { src: hero, width, height, alt, srcset, placeholder, images, key },
  edited: { src: edited, width: editedWidth, height: editedHeight },
  fox: { src: fox, width: foxWidth, height: foxHeight },
  logo: { src: logo, alt: logoAlt },
}
`

/** What the built `src/main.js` exports. */
export interface FixtureResult {
  hero: { src: string; width: number; height: number; alt: string; srcset: string; placeholder: string | undefined; images: Array<{ src: string; width: number; height: number }>; key: string }
  edited: { src: string; width: number; height: number }
  fox: { src: string; width: number; height: number }
  logo: { src: string; alt: string }
}

/** Plugin options of the fixture (the named image). */
export const FIXTURE_OPTIONS: AiImageOptions = {
  images: { logo: { prompt: 'a round logo', model: 'gpt-image-2', size: '1024x1024', alt: 'Logo' } },
}

/** The invalid spec of the SPEC_INVALID test: 100 is no multiple of 16. */
export const BAD_SPEC = spec({ prompt: 'a bad size', model: 'gpt-image-2', size: '100x100' })

export function solidPng(background: string): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 64, channels: 4, background } }).png().toBuffer()
}

export async function fixtureProject(): Promise<TempProject> {
  return makeProject({
    'src/main.js': MAIN,
    'src/hero.imgprompt.json': spec({ $schema: '../node_modules/unplugin-ai-image/dist/schema.json', ...HERO }),
    'src/edited.imgprompt.json': spec({ prompt: 'paint it blue', model: 'gpt-image-2', size: '1024x1024', image: './input.png' }),
    'src/input.png': await solidPng('#cc3333'),
    // Built only as the entry `src/broken.js`. Valid until the SPEC_INVALID test writes `BAD_SPEC` into it: a
    // build judges every spec of the project at its start (#13), so an invalid one would fail every build.
    'src/broken.js': "import bad from './bad.imgprompt.json'\nexport const result = { bad }\n",
    'src/bad.imgprompt.json': spec({ prompt: 'a spare spec', model: 'gpt-image-2', size: '1024x1024' }),
  })
}
