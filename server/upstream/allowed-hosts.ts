// The hosts dsmirror may fetch from, as the config names them: allowHosts, each mirror's URL, and
// the Hugging Face endpoint while the Hub mode is on. One list for the server's allowlist and for
// the interception CA's name constraints, which the server (server/app.ts) and `dsmirror trust
// install` (server/cli/cli-trust.ts) must compute alike: the CA is re-issued whenever the list
// changes (certs/interception-ca.ts), so a CLI that left a name out replaced the running proxy's CA
// with one nobody signs with (issue 12 item 5).
import type { DsmirrorConfig } from '../../config/schema.js'

export function allowedHostEntries (config: Pick<DsmirrorConfig, 'allowHosts' | 'mirrors' | 'huggingface'>): string[] {
  // The Hub endpoint is allowed like a mirror's URL: the config named it (its CDN hosts come from @huggingface).
  const hubHost = config.huggingface.mount === false ? [] : [hostEntry(new URL(config.huggingface.endpoint))]
  return [...config.allowHosts, ...Object.values(config.mirrors).map((m) => hostEntry(new URL(m.url))), ...hubHost]
}

/** `hostname:port`, the port the URL connects to. */
export function hostEntry (url: URL): string {
  return `${url.hostname}:${effectivePort(url)}`
}

/** The port a URL connects to: its own, or its scheme's default. */
export function effectivePort (url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'http:' ? 80 : 443
}
