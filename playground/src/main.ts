/// <reference types="unplugin-ai-image/client" />
import hero, { width, height, alt } from './hero.imgprompt.json'
import { images as candidates, alt as galleryAlt } from './gallery.imgprompt.json'
import gallery from './gallery.imgprompt.json'
import fox, { width as foxWidth, height as foxHeight } from 'virtual:ai-image?prompt=A%20red%20fox%20in%20fresh%20snow%2C%20watercolour&size=1024x1536'
import badge, { width as badgeWidth, height as badgeHeight } from 'virtual:ai-image/badge'

function figure(src: string, w: number, h: number, caption: string, extra = ''): string {
  return `<figure><img src="${src}" width="${w}" height="${h}" alt="${caption}" loading="lazy" ${extra}/><figcaption>${caption}</figcaption></figure>`
}

document.querySelector<HTMLDivElement>('#app')!.innerHTML = `
  <section>${figure(hero, width, height, alt)}</section>
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
