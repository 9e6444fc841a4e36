import { parseArgs } from 'node:util'

export const MEASUREMENTS = ['a', 'b', 'c', 'd'] as const
export type Measurement = typeof MEASUREMENTS[number]

export const DEFAULT_BIG_OBJECT_BYTES = 1024 ** 3
export const DEFAULT_SLOW_OBJECT_BYTES = 128 * 1024 ** 2
export const DEFAULT_SLOW_SECONDS = 30
export const DEFAULT_CLIENTS = 32
export const DEFAULT_REPS = 3

export interface BenchOptions {
  only: Set<Measurement>
  bigObjectBytes: number
  slowObjectBytes: number
  slowSeconds: number
  clients: number
  reps: number
  // Development aid: stand in for dsmirror with a second nginx speaking its URL scheme.
  stubDsmirror: boolean
  // Run dsmirror with --cpu-prof; profiles land in bench/work/prof when it exits.
  cpuProf: boolean
  // Extra node/V8 flags for the dsmirror process, for experiments (--node-option=--max-semi-space-size=64).
  nodeOptions: string[]
  // Write back and drop the page cache before the run (root only): a machine whose memory is full
  // of page cache pays for reclaim on every cold fill, and its cold rows drift run to run.
  dropCaches: boolean
  argv: string[]
}

export const USAGE = `usage: npm run bench -- [options]

  --only LIST          measurements to run, comma separated (a,b,c,d; d needs c and runs it)
  --size SIZE          size of the object for (a) and (b), e.g. 256MiB (default 1GiB)
  --slow-size SIZE     size of the throttled object for (c) and (d) (default 128MiB)
  --slow-seconds N     time the throttled object takes from the upstream (default 30)
  --clients N          concurrent clients in (c) (default 32)
  --reps N             repetitions of each hit and cold-miss measurement, median reported (default 3)
  --cpu-prof           profile dsmirror (node --cpu-prof), written to bench/work/prof
  --node-option FLAG   pass a node/V8 flag to dsmirror (repeatable), e.g. --node-option=--trace-gc
  --drop-caches        sync and drop the page cache before the run (root only; steadier cold rows)
  --stub-dsmirror      development only: a second nginx stands in for dsmirror
  -h, --help           this text
`

const UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3
}

export function parseSize (text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = UNITS[(match?.[2] ?? '').toLowerCase()]
  if (match === null || unit === undefined) {
    throw new Error(`bad size '${text}': use a number with an optional unit B, KB, MB, GB, KiB, MiB or GiB, e.g. 256MiB`)
  }
  const bytes = Math.round(Number(match[1]) * unit)
  if (bytes < 1024 * 1024) throw new Error(`size '${text}' is below 1 MiB: too small to measure`)
  return bytes
}

function parsePositiveInt (name: string, text: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive integer, got '${text}'`)
  return value
}

export function parseBenchArgs (argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      size: { type: 'string' },
      'slow-size': { type: 'string' },
      'slow-seconds': { type: 'string' },
      clients: { type: 'string' },
      reps: { type: 'string' },
      'stub-dsmirror': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'node-option': { type: 'string', multiple: true },
      'drop-caches': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    },
    strict: true,
    allowPositionals: false
  })
  if (values.help === true) return 'help'
  const only = new Set<Measurement>()
  for (const item of (values.only ?? MEASUREMENTS.join(',')).split(',')) {
    const name = item.trim().toLowerCase()
    if (name === '') continue
    if (!(MEASUREMENTS as readonly string[]).includes(name)) {
      throw new Error(`--only: unknown measurement '${name}', expected some of ${MEASUREMENTS.join(',')}`)
    }
    only.add(name as Measurement)
  }
  if (only.size === 0) throw new Error('--only: nothing to run')
  // Peak RSS is sampled while (c) runs; (d) alone means (c) too.
  if (only.has('d')) only.add('c')
  return {
    only,
    bigObjectBytes: values.size === undefined ? DEFAULT_BIG_OBJECT_BYTES : parseSize(values.size),
    slowObjectBytes: values['slow-size'] === undefined ? DEFAULT_SLOW_OBJECT_BYTES : parseSize(values['slow-size']),
    slowSeconds: values['slow-seconds'] === undefined ? DEFAULT_SLOW_SECONDS : parsePositiveInt('slow-seconds', values['slow-seconds']),
    clients: values.clients === undefined ? DEFAULT_CLIENTS : parsePositiveInt('clients', values.clients),
    reps: values.reps === undefined ? DEFAULT_REPS : parsePositiveInt('reps', values.reps),
    stubDsmirror: values['stub-dsmirror'] === true,
    cpuProf: values['cpu-prof'] === true,
    nodeOptions: values['node-option'] ?? [],
    dropCaches: values['drop-caches'] === true,
    argv
  }
}
