import type { MachineInfo } from './machine.js'

export type Verdict = 'yes' | 'no' | 'TODO' | 'info' | 'failed'

export interface Row {
  id: string
  measurement: string
  dsmirror: string
  peer: string
  ratio: string
  target: string
  met: Verdict
}

export interface ReportContext {
  date: Date
  command: string
  machine: MachineInfo
  versions: Record<string, string>
  settings: string[]
  notes: string[]
  details: string[]
  elapsedSeconds: number
}

export function median (values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? sorted[mid] ?? Number.NaN : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

// Decimal units throughout (MB = 10^6 bytes), as the targets are written; object sizes are binary.
export function formatRate (bytesPerSec: number): string {
  return Number.isFinite(bytesPerSec) ? `${(bytesPerSec / 1e6).toFixed(0)} MB/s` : 'n/a'
}

export function formatMB (bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

export function formatSeconds (seconds: number): string {
  return Number.isFinite(seconds) ? `${seconds.toFixed(2)} s` : 'n/a'
}

export function formatRatio (ratio: number): string {
  return Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'
}

/** CPU seconds per GiB moved: what a transfer costs whatever the speed it ran at (issue 14). */
export function secondsPerGiB (cpuSeconds: number, bytes: number): number {
  return bytes > 0 ? cpuSeconds / (bytes / 1024 ** 3) : Number.NaN
}

export function formatSecondsPerGiB (value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)} s/GiB` : 'n/a'
}

/**
 * A row of proxy CPU per GiB, dsmirror against nginx from the same run: lower is better, so the
 * ratio is dsmirror / nginx and the target a ceiling.
 */
export function cpuRow (id: string, measurement: string, dsmirror: number, nginx: number, maxRatio: number | null): Row {
  const ratio = dsmirror / nginx
  return {
    id,
    measurement,
    dsmirror: formatSecondsPerGiB(dsmirror),
    peer: `${formatSecondsPerGiB(nginx)} (nginx)`,
    ratio: formatRatio(ratio),
    target: maxRatio === null ? '—' : `<= ${maxRatio.toFixed(2)}`,
    met: maxRatio === null ? 'info' : Number.isFinite(ratio) ? (ratio <= maxRatio ? 'yes' : 'no') : 'failed'
  }
}

export function formatBytes (bytes: number): string {
  if (bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3} GiB`
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2} MiB`
  return `${bytes} B`
}

function escapeCell (text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ')
}

export function renderTable (rows: Row[]): string {
  const header = ['', 'measurement', 'dsmirror', 'peer', 'ratio', 'target', 'met?']
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`
  ]
  for (const row of rows) {
    const cells = [row.id, row.measurement, row.dsmirror, row.peer, row.ratio, row.target, row.met]
    lines.push(`| ${cells.map(escapeCell).join(' | ')} |`)
  }
  return lines.join('\n') + '\n'
}

export function renderResults (rows: Row[], context: ReportContext): string {
  const { machine } = context
  const versions = Object.entries(context.versions).map(([name, version]) => `${name} ${version}`).join(', ')
  const parts = [
    '# dsmirror bench results',
    '',
    `- date: ${context.date.toISOString()}`,
    `- command: \`${context.command}\``,
    `- machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB RAM, ${machine.os}, Linux ${machine.kernel}`,
    `- versions: node ${machine.node}, ${versions}`,
    ...context.settings.map((line) => `- ${line}`),
    `- run time: ${context.elapsedSeconds.toFixed(0)} s`,
    '',
    renderTable(rows),
    'MB = 10^6 bytes. What each row measures, and how: bench/README.md.',
    ''
  ]
  if (context.notes.length > 0) {
    parts.push('## Notes', '', ...context.notes.map((note) => `- ${note}`), '')
  }
  if (context.details.length > 0) {
    parts.push('## Raw numbers', '', ...context.details.map((line) => `- ${line}`), '')
  }
  return parts.join('\n')
}
