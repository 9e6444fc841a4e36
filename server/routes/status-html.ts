// The status page (/_/) as HTML, from a StatusSnapshot (status-page.ts). Server-rendered so it
// works without JavaScript; a few lines of inline script fetch the live part (/_/?part=live)
// every second and swap it in (DOMParser, no scripts run), so nothing is rendered twice in two
// languages and nothing needs a build step. The part carries no <style>: a parsed copy of the
// whole page would bring a style with another response's nonce, which the CSP reports. Every interpolated string goes through esc(): entry URLs, request
// targets and error messages come from clients.
import { formatBytes } from '../format-bytes.js'
import type { StatusSnapshot } from './status-page.js'

export const REFRESH_MS = 1_000

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f23;--muted:#6a737d;--bg:#fff;--card:#f6f8fa;--line:#d0d7de;--accent:#0969da;--bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#8b949e;--bg:#0d1117;--card:#161b22;--line:#30363d;--accent:#4493f8;--bad:#f85149}}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:12px}h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.05em;margin:1.2em 0 .4em}
.muted{color:var(--muted)}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}.big{font-size:1.6em;font-weight:600}
meter,progress{width:100%;height:14px}.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid var(--line);vertical-align:top}td.num,th.num{text-align:right;white-space:nowrap}
.url{word-break:break-all;font-family:ui-monospace,monospace;font-size:.9em}.code{font-family:ui-monospace,monospace;color:var(--bad);white-space:nowrap}
pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px;overflow-x:auto;font-size:.85em}a{color:var(--accent)}
.grid{margin-bottom:10px}
@media (max-width:640px){thead{display:none}table,tbody,tr,td{display:block;width:100%}tr{border-bottom:1px solid var(--line);padding:4px 0}
td{border:0;padding:1px 0}td.num{text-align:left}td[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}}
`

// Replaces #live with a fresh copy; on failure it says so and tries again.
const SCRIPT = `
const refresh = async () => {
  const note = document.getElementById('updated')
  try {
    const res = await fetch(location.pathname + '?part=live', { cache: 'no-store' })
    if (!res.ok) throw new Error('HTTP ' + res.status)
    const next = new DOMParser().parseFromString(await res.text(), 'text/html').getElementById('live')
    const current = document.getElementById('live')
    if (next !== null && current !== null) current.replaceWith(document.importNode(next, true))
    note.textContent = 'live, updated ' + new Date().toLocaleTimeString()
  } catch (err) {
    note.textContent = 'not updating (' + err.message + '); retrying'
  }
  setTimeout(refresh, ${REFRESH_MS})
}
setTimeout(refresh, ${REFRESH_MS})
`

export function esc (value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function formatAge (ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86_400)} d ago`
}

function percent (fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`
}

export function renderStatusPage (s: StatusSnapshot, nonce: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>dsmirror status</title><link rel="icon" href="data:,">
<noscript><meta http-equiv="refresh" content="5"></noscript>
<style nonce="${esc(nonce)}">${CSS}</style></head>
<body><main>
<h1>dsmirror</h1>
<p class="muted">Up since ${esc(new Date(s.startedAt).toISOString())} · <span id="updated">live</span></p>
${renderListeners(s)}
${renderLive(s)}
${renderSnippets(s)}
<p class="muted">Prometheus metrics: <a href="/_/metrics">/_/metrics</a> · JSON: <a href="/_/api/status">/_/api/status</a> · health: <a href="/_/healthz">/_/healthz</a></p>
</main><script nonce="${esc(nonce)}">${SCRIPT}</script></body></html>
`
}

// What each setup exposes (issue 17; docs/config.md "Opening a listener").
const EXPOSURE_TEXT: Record<StatusSnapshot['exposure'], string> = {
  loopback: 'Loopback only: this machine (or its network namespace, for a sidecar) can reach it. To serve a team, open a listener and set admin.token.',
  'network-with-token': 'Open to the network: anyone who can route here can download through it and read this page; changes need admin.token.',
  'network-open': 'Open to the network without admin.token (admin.openOnNetwork: true): anyone who can route here can download through it and read this page; changes are refused to them.'
}

function renderListeners (s: StatusSnapshot): string {
  const urls = s.listeners.length === 0 ? '<li class="muted">not listening yet</li>' : s.listeners.map((u) => `<li class="url">${esc(u)}</li>`).join('')
  const ca = s.ca.fingerprint256 !== null
    ? `<p>CA certificate: <a href="/_/ca.pem" id="ca-link">/_/ca.pem</a> · ${esc(s.ca.subject ?? '')}, valid to ${esc(s.ca.validTo ?? '')}</p>
<p>SHA-256 fingerprint: <span class="url" id="ca-fingerprint">${esc(s.ca.fingerprint256)}</span></p>`
    : `<p>CA certificate: none (${esc(s.ca.problem ?? '')})</p>`
  return `<div class="grid"><div class="card"><h2>Listening on</h2><ul>${urls}</ul><p id="exposure">${esc(EXPOSURE_TEXT[s.exposure])}</p></div><div class="card"><h2>HTTPS trust</h2>${ca}</div></div>`
}

export function renderLive (s: StatusSnapshot): string {
  const { cache, served } = s
  const used = cache.maxSize > 0 ? Math.min(1, cache.bytes / cache.maxSize) : 0
  const ratio = served.hitRatio === null ? '–' : percent(served.hitRatio)
  return `<div id="live">
<div class="grid">
<div class="card"><div class="muted">Cache use</div><div class="big" id="cache-use">${esc(formatBytes(cache.bytes))} of ${esc(formatBytes(cache.maxSize))}</div>
<meter id="cache-meter" min="0" max="1" value="${esc(used.toFixed(4))}" aria-label="cache use"></meter>
<div class="muted">${esc(cache.entries)} ${cache.entries === 1 ? 'entry' : 'entries'} · ${esc(percent(used))} · ${esc(cache.evictions)} evicted</div></div>
<div class="card"><div class="muted">Hit ratio</div><div class="big" id="hit-ratio">${esc(ratio)}</div>
<div class="muted">${esc(served.fromCache)} from cache · ${esc(served.fromUpstream)} from upstream</div></div>
<div class="card"><div class="muted">Saved upstream</div><div class="big" id="bytes-saved">${esc(formatBytes(served.bytesSaved))}</div>
<div class="muted">${esc(formatBytes(served.bytesFromUpstream))} downloaded</div></div>
</div>
${renderStoreTier(s)}${renderDownloads(s)}
${renderHub(s)}
${renderCluster(s)}
${renderEntries('Largest entries', 'largest', s.largest, s.now)}
${renderEntries('Most recent entries', 'recent', s.recent, s.now)}
${renderErrors(s)}
</div>`
}

/** store.kind s3 (issue 19 item 7): where hits came from, and the shared bucket. */
function renderStoreTier (s: StatusSnapshot): string {
  const t = s.store
  if (t === null) return ''
  return `<div class="grid" id="store-tier">
<div class="card"><div class="muted">Shared S3 store</div><div class="big" id="bucket-use">${esc(formatBytes(t.bucketBytes))} of ${esc(formatBytes(t.bucketMaxSize))}</div>
<div class="muted">${esc(t.bucketEntries)} ${t.bucketEntries === 1 ? 'entry' : 'entries'} · ${esc(t.bucketEvictions)} evicted by this replica</div></div>
<div class="card"><div class="muted">Hits by tier</div><div class="big" id="tier-hits">${esc(t.l1Hits)} disk · ${esc(t.s3Hits)} S3</div>
<div class="muted">${esc(formatBytes(t.bytesUploaded))} uploaded · ${esc(t.uploadsAborted)} uploads aborted · ${esc(t.orphansSwept)} orphans swept</div></div>
</div>
`
}

function renderDownloads (s: StatusSnapshot): string {
  if (s.downloads.length === 0) return '<h2>Downloads in flight</h2><p class="muted" id="downloads">none</p>'
  const rows = s.downloads.map((d) => {
    const total = d.size === null ? 'unknown size' : formatBytes(d.size)
    const bar = d.size === null ? '<progress></progress>' : `<progress value="${esc(d.written)}" max="${esc(d.size)}"></progress>`
    return `<tr class="download" data-key="${esc(d.key)}"><td><div class="url">${esc(d.url)}</div>${bar}</td>
<td class="num" data-label="progress"><span class="progress-text">${esc(formatBytes(d.written))} / ${esc(total)}</span></td>
<td class="num rate" data-label="rate">${esc(formatBytes(Math.round(d.bytesPerSec)))}/s</td><td class="num clients" data-label="clients">${esc(d.clients)}</td></tr>`
  }).join('')
  return `<h2>Downloads in flight</h2><div class="scroll"><table id="downloads"><thead><tr><th>URL</th><th class="num">progress</th><th class="num">rate</th><th class="num">clients</th></tr></thead><tbody>${rows}</tbody></table></div>`
}

function renderCluster (s: StatusSnapshot): string {
  const c = s.cluster
  if (c === null) return ''
  return `<h2>Cluster (shared store)</h2><table id="cluster"><tbody>
<tr><td>peers reach this replica at</td><td id="cluster-advertised">${esc(c.advertised)}</td></tr>
<tr><td>leases held now</td><td class="num" id="cluster-held">${esc(c.leasesHeld)}</td></tr>
<tr><td>leases acquired / taken over / lost</td><td class="num" id="cluster-leases">${esc(c.acquired)} / ${esc(c.takenOver)} / ${esc(c.lost)}</td></tr>
<tr><td>downloads streaming from a leader / waiting for one</td><td class="num" id="cluster-followers">${esc(c.followersStreaming)} / ${esc(c.followersWaiting)}</td></tr>
<tr><td>bytes streamed from leaders</td><td class="num" id="cluster-peer-bytes">${esc(formatBytes(c.peerBytes))}</td></tr></tbody></table>`
}

function renderHub (s: StatusSnapshot): string {
  const hub = s.huggingface
  if (hub === null) return ''
  return `<h2>Hugging Face Hub (/${esc(hub.mount)})</h2><table id="hf"><tbody>
<tr><td>repositories seen</td><td class="num" id="hf-repos">${esc(hub.repos)}</td></tr>
<tr><td>resolves answered here</td><td class="num" id="hf-local">${esc(hub.resolvesLocal)}</td></tr>
<tr><td>resolves asked of the Hub</td><td class="num" id="hf-upstream">${esc(hub.resolvesUpstream)}</td></tr>
<tr><td>served while the Hub failed</td><td class="num" id="hf-stale">${esc(hub.staleServed)}</td></tr>
<tr><td>Hub 429s avoided</td><td class="num" id="hf-429">${esc(hub.rateLimitsAvoided)}</td></tr></tbody></table>`
}

function renderEntries (title: string, id: string, entries: StatusSnapshot['largest'], now: number): string {
  if (entries.length === 0) return `<h2>${esc(title)}</h2><p class="muted" id="${esc(id)}">the cache is empty</p>`
  const rows = entries.map((e) => `<tr><td class="url">${esc(e.url)}</td><td class="num" data-label="size">${esc(formatBytes(e.size))}</td><td class="num" data-label="fetched">${esc(formatAge(now - e.fetchedAt))}</td></tr>`).join('')
  return `<h2>${esc(title)}</h2><div class="scroll"><table id="${esc(id)}"><thead><tr><th>URL</th><th class="num">size</th><th class="num">fetched</th></tr></thead><tbody>${rows}</tbody></table></div>`
}

function renderErrors (s: StatusSnapshot): string {
  if (s.errors.length === 0) return '<h2>Recent errors</h2><p class="muted" id="errors">none</p>'
  const rows = s.errors.map((e) => `<tr class="error"><td class="num">${esc(formatAge(s.now - e.at))}</td><td class="code">${esc(e.code)}</td>
<td class="num" data-label="status">${esc(e.status ?? 'aborted')}</td><td><div class="url">${esc(e.method ?? '')} ${esc(e.url)}</div><div class="muted">${esc(e.message)}</div></td></tr>`).join('')
  return `<h2>Recent errors</h2><div class="scroll"><table id="errors"><thead><tr><th class="num">when</th><th>code</th><th class="num">status</th><th>request</th></tr></thead><tbody>${rows}</tbody></table></div>`
}

function renderSnippets (s: StatusSnapshot): string {
  const { snippets } = s
  return `<h2>Pointing clients here</h2>
<p class="muted">Built from ${esc(snippets.origin)}; hosts must be in allowHosts.</p>
<h3>torchvision</h3><pre id="snippet-torchvision">${esc(snippets.torchvision)}</pre>
<h3>Hugging Face</h3><pre id="snippet-hf">${esc(snippets.huggingface)}</pre>
<h3>curl</h3><pre id="snippet-curl">${esc(snippets.curl)}</pre>`
}
