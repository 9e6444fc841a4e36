// A strict reader of the Prometheus text exposition format (0.0.4), enough to check /_/metrics:
// # HELP / # TYPE lines, and samples `name{label="value",...} number`. Any other line throws, so
// a test that parses the page also proves it is well-formed. prom-client only writes the format.

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Exposition {
  samples: Sample[]
  /** Metric family name -> type (counter, gauge, histogram, summary, untyped). */
  types: Map<string, string>
  /** The value of the sample with exactly these labels, or undefined. */
  value: (name: string, labels?: Record<string, string>) => number | undefined
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+-?\\d+)?$`)
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export function parsePrometheus (text: string): Exposition {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME})(?: (.*))?$`).exec(line)
      if (m === null) {
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`line ${index + 1}: malformed comment: ${line}`)
        continue
      }
      if (m[1] === 'TYPE') {
        if (!TYPES.has(m[3] ?? '')) throw new Error(`line ${index + 1}: unknown type: ${line}`)
        types.set(m[2] ?? '', m[3] ?? '')
      }
      continue
    }
    const m = SAMPLE.exec(line)
    if (m === null) throw new Error(`line ${index + 1}: not a sample: ${line}`)
    const value = parseValue(m[3] ?? '')
    if (value === null) throw new Error(`line ${index + 1}: bad value: ${line}`)
    samples.push({ name: m[1] ?? '', labels: parseLabels(m[2] ?? '', index + 1), value })
  }
  return {
    samples,
    types,
    value: (name, labels = {}) => samples.find((s) => s.name === name && sameLabels(s.labels, labels))?.value
  }
}

/** As Prometheus reads it (Go's ParseFloat): Inf and NaN in any case; prom-client writes 'Nan'. */
function parseValue (text: string): number | null {
  const lower = text.toLowerCase()
  if (lower === '+inf' || lower === 'inf') return Infinity
  if (lower === '-inf') return -Infinity
  if (lower === 'nan') return NaN
  return /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) ? Number(text) : null
}

function parseLabels (text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {}
  LABEL.lastIndex = 0
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text)
    if (m === null) throw new Error(`line ${line}: bad labels: {${text}}`)
    labels[m[1] ?? ''] = (m[2] ?? '').replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c))
    if (m[3] === '') break
  }
  return labels
}

function sameLabels (a: Record<string, string>, b: Record<string, string>): boolean {
  const ak = Object.keys(a)
  return ak.length === Object.keys(b).length && ak.every((k) => a[k] === b[k])
}
