/// <reference types="unplugin-ai-image/client" />
import hero, { width, height, alt, srcset, placeholder } from './hero.imgprompt.json'
import { srcset as heroWebpSrcset } from 'virtual:ai-image/hero-webp'
import { images as candidates, alt as galleryAlt } from './gallery.imgprompt.json'
import gallery from './gallery.imgprompt.json'
import fox, { width as foxWidth, height as foxHeight } from 'virtual:ai-image?prompt=A%20red%20fox%20in%20fresh%20snow%2C%20watercolour&size=1024x1536'
import badge, { width as badgeWidth, height as badgeHeight } from 'virtual:ai-image/badge'

function figure(src: string, w: number, h: number, caption: string, extra = ''): string {
  return `<figure><img src="${src}" width="${w}" height="${h}" alt="${caption}" loading="lazy" ${extra}/><figcaption>${caption}</figcaption></figure>`
}

// Responsive hero: WebP variants for browsers that take them, optimized PNG variants otherwise, exact
// width/height against layout shift, and the blurred placeholder painted behind the image until it loads.
const sizes = '(max-width: 66rem) calc(100vw - 2rem), 64rem'
const picture = `
  <figure>
    <picture>
      <source type="image/webp" srcset="${heroWebpSrcset}" sizes="${sizes}">
      <img src="${hero}" srcset="${srcset}" sizes="${sizes}" width="${width}" height="${height}" alt="${alt}"
        style="background: url('${placeholder}') center / cover no-repeat"
        onload="this.style.background = 'none'">
    </picture>
    <figcaption>&lt;picture&gt; with a WebP and a PNG srcset (640w, 1024w, 1536w) and a blur placeholder</figcaption>
  </figure>`

document.querySelector<HTMLDivElement>('#app')!.innerHTML = `
  <section>${picture}</section>
  <h2>Candidates (n: 2, pick: 1)</h2>
  <div class="row">${candidates
    .map((c, i) => figure(c.src, c.width, c.height, `${galleryAlt} — #${i}`, c.src === gallery ? 'class="picked"' : ''))
    .join('')}</div>
  <h2>Virtual imports</h2>
  <div class="row">
    ${figure(fox, foxWidth, foxHeight, 'virtual:ai-image?prompt=…')}
    ${figure(badge, badgeWidth, badgeHeight, 'virtual:ai-image/badge (from the images option)')}
  </div>
`
