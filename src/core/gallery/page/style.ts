/** The gallery's stylesheet, inlined in the page (no file, no font or anything else fetched). */
export const GALLERY_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5b6470; --bg: #f6f7f9; --card: #fff; --line: #d9dde3; --accent: #2563eb;
  --ok: #15803d; --warn: #b45309; --bad: #b91c1c; --info: #6d28d9; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #9aa3ad; --bg: #111418; --card: #1a1e24; --line: #2c323a; --accent: #60a5fa;
  --ok: #4ade80; --warn: #fbbf24; --bad: #f87171; --info: #c4b5fd; } }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--fg); }
body > header { padding: 16px 24px; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; }
body > header h1 { font-size: 18px; margin: 0; }
body > header .summary { color: var(--muted); margin: 0; }
body > header input[type=search] { margin-left: auto; min-width: 240px; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--card); color: var(--fg); }
main { padding: 16px 24px 48px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); align-items: start; }
.empty { color: var(--muted); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; display: grid; gap: 10px; min-width: 0; }
.card > header { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; }
.card h2 { font-size: 14px; margin: 0; overflow-wrap: anywhere; flex: 1 1 auto; }
.badge { font-size: 12px; padding: 1px 8px; border-radius: 999px; border: 1px solid currentColor; white-space: nowrap; }
.badge.cached { color: var(--ok); } .badge.missing, .badge.pending, .badge.sidecar-only { color: var(--warn); }
.badge.corrupt, .badge.invalid, .badge.failed, .badge.removed { color: var(--bad); } .badge.generating { color: var(--info); }
.badge.change { color: var(--accent); }
.kind { color: var(--muted); font-size: 12px; }
.error { color: var(--bad); margin: 0; overflow-wrap: anywhere; white-space: pre-wrap; }
.note { color: var(--muted); margin: 0; }
.candidates { display: grid; gap: 8px; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); }
.candidate { margin: 0; display: grid; gap: 4px; align-content: start; }
.candidate .thumb { display: block; border: 2px solid transparent; border-radius: 6px; overflow: hidden; background: repeating-conic-gradient(#8882 0 25%, #0000 0 50%) 50% / 16px 16px; }
.candidate.picked .thumb { border-color: var(--accent); }
.candidate img { display: block; width: 100%; height: auto; }
.candidate figcaption { font-size: 12px; color: var(--muted); }
.candidate .noimage { display: grid; place-items: center; aspect-ratio: 1; border: 1px dashed var(--line); border-radius: 6px; color: var(--muted); font-size: 12px; text-align: center; padding: 8px; }
.compare { display: grid; gap: 12px; grid-template-columns: 1fr 1fr; }
.side { display: grid; gap: 6px; align-content: start; min-width: 0; }
.side h3 { font-size: 12px; margin: 0; color: var(--muted); font-weight: 600; }
.side .prompt { font-size: 12px; margin: 0; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; font-size: 13px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; white-space: pre-wrap; }
dl.facts ul { margin: 0; padding: 0; list-style: none; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
button { font: inherit; padding: 4px 10px; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); cursor: pointer; }
button:hover { border-color: var(--accent); }
button[disabled] { opacity: .5; cursor: default; }
.estimate { color: var(--muted); font-size: 12px; }
.confirm { border: 1px solid var(--warn); border-radius: 6px; padding: 8px; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
details > summary { cursor: pointer; color: var(--muted); }
form.edit { display: grid; grid-template-columns: max-content 1fr; gap: 6px 10px; margin-top: 8px; }
form.edit label { color: var(--muted); align-self: center; }
form.edit textarea, form.edit input, form.edit select { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); width: 100%; }
form.edit textarea { min-height: 5em; resize: vertical; }
form.edit .row { grid-column: 1 / -1; display: flex; gap: 8px; align-items: center; }
.generation { display: grid; gap: 6px; border-top: 1px solid var(--line); padding-top: 8px; margin-top: 8px; }
dialog#viewer { padding: 0; border: 0; border-radius: 8px; max-width: 96vw; max-height: 96vh; background: var(--card); color: var(--fg); }
dialog#viewer::backdrop { background: #000c; }
dialog#viewer img { display: block; max-width: 96vw; max-height: calc(96vh - 48px); width: auto; height: auto; }
dialog#viewer .bar { display: flex; gap: 12px; align-items: center; padding: 8px 12px; }
dialog#viewer .bar p { margin: 0; flex: 1; overflow-wrap: anywhere; }
`
