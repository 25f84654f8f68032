/**
 * The gallery page, rendered on the server from a `GalleryState`: one HTML document with its stylesheet and
 * its one script inline, so it works from the dev server and opened from the file system, with nothing
 * fetched from the network. Every string of the state goes through `escapeHtml` (prompts, revised prompts
 * and file names come from users and pull requests); the state itself is embedded as JSON with `<` escaped.
 * A Content-Security-Policy admits only this page's own script and stylesheet (by hash): an injected
 * `<script>` or `onerror=` would not run even if an escape were missed.
 *
 * Stable attributes (public API, DESIGN.md "The gallery"): `data-spec` on each card (the spec's label),
 * `data-candidate` on each candidate, `data-action` on each action button.
 */
import { createHash } from 'node:crypto'
import type { Candidate, EarlierGeneration, Estimate, GalleryState, SpecCard, SpecSnapshot } from '../types.js'
import { GALLERY_CLIENT } from './client.js'
import { escapeHtml as h, jsonForScript, safeUrl } from './escape.js'
import { GALLERY_CSS } from './style.js'

export interface DevPageOptions {
  /** Where the gallery's API lives, e.g. `/__ai-image/` (with Vite's base). */
  apiBase: string
  /** The per-server token the API requires in `x-ai-image-token`. */
  token: string
}

const STATUS_TEXT: Readonly<Record<SpecSnapshot['status'], string>> = {
  cached: 'cached',
  'sidecar-only': 'images not committed',
  corrupt: 'corrupt',
  missing: 'missing',
  invalid: 'invalid',
  pending: 'waits for an upstream spec',
  generating: 'generating',
  failed: 'failed',
  removed: 'removed',
}

const KIND_TEXT: Readonly<Record<SpecCard['kind'], string>> = {
  file: 'spec file',
  named: 'named spec · read-only',
  query: 'virtual import · read-only',
}

/** The whole page. `dev` is required for the dev server's page (mode `dev`) and ignored for a sheet. */
export function renderGalleryPage(state: GalleryState, dev?: DevPageOptions): string {
  if (state.mode === 'dev' && !dev) throw new Error('the dev gallery page needs its API base and token')
  const script = GALLERY_CLIENT
  if (/<\/script|<!--/i.test(script)) throw new Error('the gallery script must not hold </script or <!--')
  const csp = [
    "default-src 'none'",
    state.mode === 'dev' ? "img-src 'self' data: blob:" : "img-src 'self' file: data:",
    state.mode === 'dev' ? "connect-src 'self'" : "connect-src 'none'",
    `style-src '${hash(GALLERY_CSS)}'`,
    `script-src '${hash(script)}'`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ')
  const title = `${state.since ? 'Changed images' : 'Images'} of ${state.project}`
  const cards = state.specs.map((card) => renderCard(card, state.mode)).join('\n')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${h(csp)}">
<meta name="referrer" content="no-referrer">
${state.mode === 'dev' ? `<meta name="ai-image-api" content="${h(dev!.apiBase)}">\n<meta name="ai-image-token" content="${h(dev!.token)}">\n` : ''}<title>${h(title)} · ai-image</title>
<style>${GALLERY_CSS}</style>
</head>
<body data-mode="${state.mode}">
<header>
<h1>${h(title)}</h1>
<p class="summary">${h(summaryLine(state))}</p>
<input id="search" type="search" placeholder="Filter by file, prompt, model…" aria-label="Filter the specs">
</header>
<main>
${cards || `<p class="empty">${state.since ? `No image changed since ${h(state.since.ref)}.` : 'This project has no spec yet.'}</p>`}
</main>
<dialog id="viewer" aria-label="Full-size image">
<div class="bar"><p data-caption></p><a data-original href="#" target="_blank" rel="noopener">Open the file</a><button type="button" data-close>Close</button></div>
<img alt="">
</dialog>
<script type="application/json" id="ai-image-state">${jsonForScript(state)}</script>
<script>${script}</script>
</body>
</html>
`
}

/** One spec's card (the dev server sends single cards when they change). */
export function renderCard(card: SpecCard, mode: GalleryState['mode']): string {
  const dev = mode === 'dev'
  const actions = dev && card.editable && card.status !== 'removed'
  const change = card.since?.change
  const attributes = [
    `class="card"`,
    `data-spec="${h(card.label)}"`,
    `data-kind="${card.kind}"`,
    `data-status="${card.status}"`,
    ...(change ? [`data-change="${change}"`] : []),
  ].join(' ')
  const body = card.since
    ? `<div class="compare">
${renderSide('old', `Before (${h(change === 'added' ? 'absent' : 'at the ref')})`, card.since.before, card)}
${renderSide('new', change === 'removed' ? 'Now (removed)' : 'Now', change === 'removed' ? undefined : card, card)}
</div>`
    : renderCandidates(card, card, actions)
  return `<article ${attributes}>
<header><h2><code>${h(card.label)}</code></h2>${change ? `<span class="badge change">${h(change)}</span>` : ''}<span class="badge ${card.status}">${h(STATUS_TEXT[card.status])}</span><span class="kind">${h(KIND_TEXT[card.kind])}</span></header>
${card.error ? `<p class="error" role="alert">${h(card.error)}</p>` : ''}
${card.status === 'generating' ? renderProgress(card) : ''}
${body}
${renderFacts(card)}
${actions ? renderActions(card) : ''}
${dev && card.history.length > 0 ? renderHistory(card, actions) : ''}
${dev ? '<p data-message class="note" role="status"></p>' : ''}
</article>`
}

function renderSide(side: 'old' | 'new', heading: string, snapshot: SpecSnapshot | undefined, card: SpecCard): string {
  if (!snapshot) return `<section class="side" data-side="${side}"><h3>${heading}</h3><p class="note">no image</p></section>`
  const prompt = snapshot.spec?.prompt
  return `<section class="side" data-side="${side}" data-status="${snapshot.status}"${snapshot.key ? ` data-key="${h(snapshot.key)}"` : ''}>
<h3>${heading} · <span class="badge ${snapshot.status}">${h(STATUS_TEXT[snapshot.status])}</span></h3>
${snapshot !== card && snapshot.error ? `<p class="error">${h(snapshot.error)}</p>` : ''}
${renderCandidates(snapshot, card, false)}
${prompt !== undefined && prompt !== null ? `<p class="prompt">${h(prompt)}</p>` : ''}
${snapshot.key ? `<p class="note"><code>${h(snapshot.key.slice(0, 12))}</code>${snapshot.spec ? ` · ${h(snapshot.spec.model)} · ${h(snapshot.spec.size ?? 'auto')}${snapshot.spec.seed === null ? '' : ` · seed ${h(snapshot.spec.seed)}`}` : ''}</p>` : ''}
</section>`
}

function renderCandidates(snapshot: SpecSnapshot, card: SpecCard, actions: boolean): string {
  if (snapshot.candidates.length === 0) {
    if (snapshot.status === 'generating' && snapshot.spec) return renderPartials(snapshot.spec.n, card.progress?.partials ?? [])
    return ''
  }
  const figures = snapshot.candidates.map((candidate) => renderCandidate(candidate, card.label, snapshot.pick === candidate.index, actions)).join('\n')
  return `<div class="candidates">\n${figures}\n</div>`
}

function renderCandidate(candidate: Candidate, label: string, picked: boolean, actions: boolean): string {
  const src = safeUrl(candidate.src)
  const caption = `${label} #${candidate.index} · ${candidate.width}×${candidate.height}`
  const image = src
    ? `<a class="thumb" href="${h(src)}" data-open data-caption="${h(caption)}"><img src="${h(src)}" width="${candidate.width}" height="${candidate.height}" alt="${h(`Candidate ${candidate.index} of ${label}`)}" loading="lazy" decoding="async"></a>`
    : `<div class="noimage">image not in the cache</div>`
  const facts = [`#${candidate.index}`, `${candidate.width}×${candidate.height}`, candidate.mime.replace('image/', '').toUpperCase(), formatBytes(candidate.bytes), ...(picked ? ['picked'] : [])]
  return `<figure class="candidate${picked ? ' picked' : ''}" data-candidate="${candidate.index}"${picked ? ' aria-current="true"' : ''}>
${image}
<figcaption>${h(facts.join(' · '))}${candidate.revisedPrompt ? `<br><span title="${h(candidate.revisedPrompt)}">revised prompt</span>` : ''}</figcaption>
${actions && !picked && src ? `<button type="button" data-action="pick" data-index="${candidate.index}">Pick</button>` : ''}
</figure>`
}

/** One slot per candidate being generated, showing its latest partial frame (the live feed brings the next). */
function renderPartials(n: number, partials: ReadonlyArray<{ index: number; src: string }>): string {
  const slots = Array.from({ length: n }, (_, i) => {
    const src = safeUrl(partials.find((partial) => partial.index === i)?.src)
    const image = src ? `<img data-partial="${i}" src="${h(src)}" alt="">` : `<img data-partial="${i}" alt="" hidden>`
    return `<figure class="candidate" data-candidate="${i}"><div class="noimage">${image}waiting for the image</div></figure>`
  })
  return `<div class="candidates">\n${slots.join('\n')}\n</div>`
}

function renderProgress(card: SpecCard): string {
  const progress = card.progress
  const text = progress ? `generating: ${progress.done} of ${progress.total} images` : 'generating…'
  return `<p class="note" data-progress role="status">${h(text)}</p>`
}

function renderFacts(card: SpecCard): string {
  const rows: Array<[string, string]> = []
  const spec = card.spec
  const entry = card.entry
  if (spec) {
    if (spec.prompt !== null) rows.push(['Prompt', h(spec.prompt)])
    const revised = entry?.revisedPrompt
    if (revised && revised !== spec.prompt) rows.push(['Revised prompt', h(revised)])
    rows.push(['Model', `${h(spec.model)}${spec.knownModel ? '' : ' <span class="note">(not in the capability table)</span>'}`])
    rows.push(['Size', h(spec.size ?? 'auto')])
    if (spec.quality) rows.push(['Quality', h(spec.quality)])
    rows.push(['Candidates', `n = ${spec.n}, pick = ${card.pick}`])
    if (spec.seed !== null) rows.push(['Seed', h(spec.seed)])
    if (spec.background && spec.background !== 'auto') rows.push(['Background', h(spec.background)])
    if (spec.outputFormat && spec.outputFormat !== 'png') rows.push(['Output format', h(spec.outputFormat)])
    if (spec.inputs.length > 0) rows.push([spec.endpoint === 'variations' ? 'Varies' : 'Edits', list(spec.inputs)])
    if (spec.mask) rows.push(['Mask', `<code>${h(spec.mask)}</code>`])
  }
  if (entry) {
    const cost = entry.cost ? `${formatUSD(entry.cost.usd)}${entry.cost.basis === 'estimate' ? ' est.' : ''}` : 'no price known'
    const tokens = entry.usage ? Object.entries(entry.usage).map(([name, value]) => `${name.replace(/_/g, ' ')} ${value}`).join(', ') : ''
    rows.push(['Cost', h(tokens ? `${cost} (${tokens})` : cost)])
    rows.push(['Generated', h(`${formatDate(entry.created)} by ${entry.provider}${entry.deployment ? ` (${entry.deployment})` : ''}`)])
  }
  if (card.key) rows.push(['Key', `<code title="${h(card.key)}">${h(card.key.slice(0, 16))}</code>`])
  rows.push(['Defined in', renderOrigin(card)])
  if (card.kind !== 'query') rows.push(['Imported by', card.importers.length > 0 ? list(card.importers) : '<span class="note">no source file imports it</span>'])
  return `<dl class="facts">\n${rows.map(([name, value]) => `<dt>${h(name)}</dt><dd>${value}</dd>`).join('\n')}\n</dl>`
}

function renderOrigin(card: SpecCard): string {
  const origin = card.origin
  switch (origin.kind) {
    case 'file':
      return `<code>${h(origin.file)}</code>`
    case 'option':
      return origin.file
        ? `the option <code>images.${h(origin.name)}</code> in <code>${h(origin.file)}</code>`
        : `the option <code>images.${h(origin.name)}</code> given to the bundler plugin (its config file)`
    case 'import':
      return origin.files.length > 0 ? `an import in ${list(origin.files)}` : '<span class="note">an import</span>'
  }
}

function renderActions(card: SpecCard): string {
  const spec = card.spec
  const estimates = card.estimates ?? {}
  const button = (action: string, text: string, estimate: Estimate | undefined, enabled = true) =>
    `<button type="button" data-action="${action}"${enabled ? '' : ' disabled'}>${h(text)}</button>${estimate ? `<span class="estimate">${h(formatEstimate(estimate))}</span>` : ''}`
  const buttons: string[] = []
  if (spec && card.status !== 'invalid') {
    buttons.push(button('another', 'Another one', estimates.another))
    buttons.push(button('more', `More candidates (n = ${Math.min(spec.n + 1, spec.maxN)})`, estimates.more, spec.n < spec.maxN))
  }
  if (estimates.generate) buttons.push(button('generate', 'Generate', estimates.generate))
  return `<div class="actions">${buttons.join('\n')}</div>
<div class="confirm" data-confirm-box role="alertdialog" hidden><span data-confirm-text></span><button type="button" data-confirm="yes">Generate</button><button type="button" data-confirm="no">Cancel</button></div>
${renderForm(card)}`
}

/** The edit form: the fields people change most; any other field stays as written. */
function renderForm(card: SpecCard): string {
  const fields = card.fields ?? {}
  const value = (name: string) => {
    const v = fields[name]
    return typeof v === 'string' || typeof v === 'number' ? String(v) : ''
  }
  const input = (name: string, label: string, type: 'text' | 'integer' | 'seed' = 'text') =>
    `<label for="${h(`${card.label}:${name}`)}">${h(label)}</label><input id="${h(`${card.label}:${name}`)}" data-field="${name}" data-type="${type}" value="${h(value(name))}"${type === 'integer' ? ' inputmode="numeric"' : ''}>`
  return `<details class="edit"><summary>Edit the spec</summary>
<form class="edit" data-form="edit" novalidate>
<label for="${h(`${card.label}:prompt`)}">prompt</label><textarea id="${h(`${card.label}:prompt`)}" data-field="prompt">${h(value('prompt'))}</textarea>
${input('model', 'model')}
${input('size', 'size')}
${input('quality', 'quality')}
${input('n', 'n', 'integer')}
${input('seed', 'seed', 'seed')}
${input('alt', 'alt')}
<div class="row"><button type="button" data-action="save">Save</button><span class="note">Checked with the build's rules; an empty field is removed.</span></div>
</form>
</details>`
}

function renderHistory(card: SpecCard, actions: boolean): string {
  const generations = card.history.map((generation) => renderGeneration(generation, card.label, actions)).join('\n')
  return `<details class="history"><summary>Earlier generations in the cache (${card.history.length})</summary>\n${generations}\n</details>`
}

function renderGeneration(generation: EarlierGeneration, label: string, actions: boolean): string {
  const figures = generation.candidates.map((candidate) => renderCandidate(candidate, label, false, false)).join('\n')
  const facts = `${generation.seed === null ? 'no seed' : `seed ${generation.seed}`} · n = ${generation.n} · ${formatDate(generation.created)}`
  return `<div class="generation" data-generation="${h(generation.key)}">
<p class="note">${h(facts)} · <code>${h(generation.key.slice(0, 12))}</code></p>
<div class="candidates">${figures}</div>
${actions && generation.complete ? `<div class="actions"><button type="button" data-action="restore" data-key="${h(generation.key)}">Restore</button><span class="estimate">cached: free</span></div>` : ''}
</div>`
}

function summaryLine(state: GalleryState): string {
  const parts = Object.entries(state.summary.byStatus).map(([status, count]) => `${count} ${STATUS_TEXT[status as SpecSnapshot['status']]}`)
  const specs = `${state.summary.specs} spec${state.summary.specs === 1 ? '' : 's'}`
  const since = state.since ? ` changed since ${state.since.ref} (${state.since.commit.slice(0, 12)})` : ''
  return `${specs}${since}${parts.length > 0 ? `: ${parts.join(', ')}` : ''} · ${state.summary.images} images · made ${state.generatedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`
}

function list(items: readonly string[]): string {
  return `<ul>${items.map((item) => `<li><code>${h(item)}</code></li>`).join('')}</ul>`
}

export function formatEstimate(estimate: Estimate): string {
  const images = `${estimate.images} image${estimate.images === 1 ? '' : 's'}`
  return estimate.usd === null ? `${images}, no price known` : `${images}, ${formatUSD(estimate.usd)} est.`
}

function formatUSD(usd: number): string {
  return `$${usd.toFixed(3)}`
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

function formatDate(seconds: number): string {
  const date = new Date(seconds * 1000)
  return Number.isNaN(date.getTime()) ? 'unknown date' : date.toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
}

function hash(text: string): string {
  return `sha256-${createHash('sha256').update(text).digest('base64')}`
}
