// DSMIRROR_<PATH> environment variables mapped onto config keys.
//
// The name after the prefix is split on '_' and matched against the schema's keys level by
// level, case-insensitively, where consecutive segments may be joined to form one camelCase key:
// DSMIRROR_CACHE_MAXSIZE and DSMIRROR_CACHE_MAX_SIZE are both cache.maxSize, DSMIRROR_DATADIR
// and DSMIRROR_DATA_DIR both dataDir. Named entries of a record are reached as
// DSMIRROR_MIRRORS_<NAME>_URL (the name lower-cased; it may contain '_').
//
// Values are read as YAML scalars or flow collections, so `false`, `8080`, `null` and
// `{ port: 9443 }` mean what they do in the file. A string-valued key keeps the raw text when the
// YAML reading would not be valid for it (a token like `12345` stays a string). List keys also take
// a comma list: DSMIRROR_ALLOWHOSTS=a.example,b.example. An empty variable counts as unset, since
// shells, compose files and Kubernetes manifests produce empty values for "not configured".
import { parse as parseYaml } from 'yaml'
import type { z } from 'zod'

import { describeNode, settingPaths, type SchemaNode } from './schema-tree.js'
import { editDistance } from './suggest.js'

export const ENV_PREFIX = 'DSMIRROR_'
/** DSMIRROR_* variables that are not config keys: DSMIRROR_CONFIG names the config file. */
export const ENV_NOT_SETTINGS: ReadonlySet<string> = new Set(['DSMIRROR_CONFIG'])
/** Knobs of the test harness (DSMIRROR_TEST_LOG, ...), which child-process tests inherit. */
export const ENV_NOT_SETTINGS_PREFIX = 'DSMIRROR_TEST_'

export interface EnvOverride {
  /** The variable, e.g. DSMIRROR_CACHE_MAXSIZE. */
  name: string
  /** The config path it sets, e.g. ['cache', 'maxSize']. */
  path: string[]
  value: unknown
}

export interface EnvProblem {
  name: string
  message: string
}

interface Match { path: string[]; node: SchemaNode }

function matchSegments (node: SchemaNode, segments: readonly string[], from: number): Match | undefined {
  if (from === segments.length) return { path: [], node }
  if (node.kind === 'object') {
    for (let to = from + 1; to <= segments.length; to++) {
      const word = segments.slice(from, to).join('').toLowerCase()
      const key = Object.keys(node.keys).find((candidate) => candidate.toLowerCase() === word)
      const child = key === undefined ? undefined : node.keys[key]
      if (key === undefined || child === undefined) continue
      const rest = matchSegments(describeNode(child), segments, to)
      if (rest !== undefined) return { path: [key, ...rest.path], node: rest.node }
    }
    return undefined
  }
  // Only records of sections (mirrors) have entries reachable by name: checksum keys are URLs,
  // which no variable name can spell; DSMIRROR_CHECKSUMS takes the whole map instead.
  const entry = node.kind === 'record' ? describeNode(node.value) : undefined
  if (entry?.kind === 'object') {
    // A field of the entry at the end (…_<NAME>_URL) first, then the whole entry (…_<NAME>).
    for (const to of [...range(segments.length - 1, from), segments.length]) {
      const rest = matchSegments(entry, segments, to)
      if (rest !== undefined) return { path: [segments.slice(from, to).join('_').toLowerCase(), ...rest.path], node: rest.node }
    }
  }
  return undefined
}

/** from (inclusive) down to stop (exclusive). */
function range (from: number, stop: number): number[] {
  const values: number[] = []
  for (let value = from; value > stop; value--) values.push(value)
  return values
}

function readYaml (text: string): { ok: true, value: unknown } | { ok: false } {
  try {
    return { ok: true, value: parseYaml(text) as unknown }
  } catch {
    return { ok: false }
  }
}

function readValue (node: SchemaNode, text: string): unknown {
  const trimmed = text.trim()
  if (node.kind === 'list' && !trimmed.startsWith('[')) {
    return trimmed.split(',').map((item) => item.trim()).filter((item) => item !== '')
  }
  const yaml = readYaml(trimmed)
  if (!yaml.ok) return trimmed
  if (node.kind === 'value' && !node.schema.safeParse(yaml.value).success && node.schema.safeParse(trimmed).success) {
    return trimmed
  }
  return yaml.value
}

/** The env name of a config path, e.g. ['cache', 'maxSize'] → DSMIRROR_CACHE_MAXSIZE. */
export function envNameFor (path: readonly string[]): string {
  return ENV_PREFIX + path.map((key) => key.toUpperCase()).join('_')
}

function closestSetting (schema: z.ZodType, name: string): string {
  const squash = (text: string): string => text.toUpperCase().replaceAll('_', '')
  let best: string[] = []
  let bestDistance = Infinity
  for (const path of settingPaths(schema)) {
    const distance = editDistance(squash(name), squash(envNameFor(path)))
    if (distance < bestDistance) {
      best = path
      bestDistance = distance
    }
  }
  return `${envNameFor(best)} (${best.join('.')})`
}

/**
 * The DSMIRROR_* variables of `env` as config overrides, and a problem for each one that names
 * no setting (almost always a typo; it names the closest setting).
 */
export function readEnvOverrides (env: Readonly<Record<string, string | undefined>>, schema: z.ZodType): {
  overrides: EnvOverride[]
  problems: EnvProblem[]
} {
  const overrides: EnvOverride[] = []
  const problems: EnvProblem[] = []
  const root = describeNode(schema)
  for (const name of Object.keys(env).sort()) {
    const text = env[name]
    if (!name.startsWith(ENV_PREFIX) || ENV_NOT_SETTINGS.has(name) || name.startsWith(ENV_NOT_SETTINGS_PREFIX)) continue
    if (text === undefined || text.trim() === '') continue
    const segments = name.slice(ENV_PREFIX.length).split('_')
    const match = segments.includes('') ? undefined : matchSegments(root, segments, 0)
    if (match === undefined) {
      problems.push({ name, message: `is not a dsmirror setting. Did you mean ${closestSetting(schema, name)}?` })
      continue
    }
    const value = readValue(match.node, text)
    const twin = overrides.find((other) => other.path.join('.') === match.path.join('.'))
    if (twin !== undefined && JSON.stringify(twin.value) !== JSON.stringify(value)) {
      problems.push({ name, message: `sets ${match.path.join('.')} like ${twin.name} does, to a different value. Keep one of them.` })
      continue
    }
    overrides.push({ name, path: match.path, value })
  }
  // Shallow first, so DSMIRROR_LISTEN_HTTP={...} and DSMIRROR_LISTEN_HTTP_PORT=9090 combine.
  overrides.sort((a, b) => a.path.length - b.path.length)
  return { overrides, problems }
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * A copy of `raw` with the overrides set (the input is not modified). A value in the way of a
 * deeper override (`listen.http: false` under DSMIRROR_LISTEN_HTTP_PORT) is replaced by a section.
 */
export function applyEnvOverrides (raw: Record<string, unknown>, overrides: readonly EnvOverride[]): Record<string, unknown> {
  const result: Record<string, unknown> = { ...raw }
  for (const { path, value } of overrides) {
    let target = result
    path.forEach((key, index) => {
      if (index === path.length - 1) {
        target[key] = value
        return
      }
      const next: Record<string, unknown> = isPlainObject(target[key]) ? { ...target[key] } : {}
      target[key] = next
      target = next
    })
  }
  return result
}
