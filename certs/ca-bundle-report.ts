// `dsmirror certs bundle`: what the managed upstream bundle trusts and why, by source (Node's
// public roots, the OS bundle, each caFiles file), with every caFiles certificate's subject,
// expiry and fate (added, duplicate, expired and left out).
import { join } from 'node:path'
import { CA_BUNDLE_FILE_NAME, SYSTEM_BUNDLE_PATHS, type CaBundle, type CaBundleEntry } from './ca-bundle.js'

export interface CaBundleReportOptions {
  caFiles: readonly string[]
  systemStore: boolean
  dataDir: string
  systemBundlePaths?: readonly string[]
}

interface SourceCounts { added: number; duplicate: number; expired: number }

const STATUS_WORDS: Record<CaBundleEntry['status'], string> = {
  added: 'trusted',
  duplicate: 'duplicate of a certificate listed earlier, dropped',
  expired: 'EXPIRED, left out'
}

export function formatCaBundleReport (bundle: CaBundle, opts: CaBundleReportOptions): string {
  const systemPaths = opts.systemBundlePaths ?? SYSTEM_BUNDLE_PATHS
  const bySource = new Map<string, CaBundleEntry[]>()
  for (const entry of bundle.entries) bySource.set(entry.source, [...(bySource.get(entry.source) ?? []), entry])
  const lines = ['Upstream CA bundle: the certificates dsmirror trusts for upstream TLS (added, never substituted).', '']

  lines.push(`Node's built-in public roots: ${counts(bySource.get('node') ?? [])}`)
  const systemSource = [...bySource.keys()].find((s) => systemPaths.includes(s))
  if (!opts.systemStore) lines.push('OS bundle: not used (upstream.systemStore: false)')
  else if (systemSource === undefined) lines.push(`OS bundle: none found (looked for ${systemPaths.slice(0, 3).join(', ')}, ...)`)
  else lines.push(`OS bundle ${systemSource}: ${counts(bySource.get(systemSource) ?? [])}`)

  const extra = [...bySource.entries()].filter(([source]) => source !== 'node' && source !== systemSource)
  if (opts.caFiles.length === 0) {
    lines.push('upstream.caFiles: none. A corporate or TLS-inspection root goes here:', '  upstream:', '    caFiles: [/path/to/corporate-root.pem]')
  } else {
    lines.push(`upstream.caFiles (${opts.caFiles.join(', ')}):`)
    for (const [source, entries] of extra) {
      lines.push(`  ${source}: ${counts(entries)}`)
      for (const e of entries) {
        lines.push(`    ${e.subject.split('\n').join(', ')}`)
        lines.push(`      expires ${e.notAfter}; ${STATUS_WORDS[e.status]}; SHA-256 ${e.fingerprint256}`)
      }
    }
  }
  const total = tally(bundle.entries)
  lines.push('', `Total: ${total.added} trusted, ${total.duplicate} duplicate(s) dropped, ${total.expired} expired left out.`)
  const expiredExtra = extra.flatMap(([, entries]) => entries).filter((e) => e.status === 'expired')
  if (expiredExtra.length > 0) lines.push(`${expiredExtra.length} certificate(s) in upstream.caFiles have expired: replace them with current ones from their issuer.`)
  lines.push(`dsmirror serve writes this bundle to ${join(opts.dataDir, CA_BUNDLE_FILE_NAME)}; check an upstream with: dsmirror doctor <host>`)
  return lines.join('\n') + '\n'
}

function tally (entries: CaBundleEntry[]): SourceCounts {
  const out: SourceCounts = { added: 0, duplicate: 0, expired: 0 }
  for (const e of entries) out[e.status]++
  return out
}

function counts (entries: CaBundleEntry[]): string {
  const c = tally(entries)
  return `${c.added} trusted` + (c.duplicate > 0 ? `, ${c.duplicate} duplicate(s) dropped` : '') + (c.expired > 0 ? `, ${c.expired} expired left out` : '')
}
