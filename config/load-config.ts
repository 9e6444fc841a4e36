// Loads the config: file (YAML or JSON) + DSMIRROR_* environment overrides + defaults,
// validated all at once. Any problem throws one ConfigInvalidError listing every bad field, one
// line each, with the path, the bad value, the fix and where the value came from (fastify's
// initial-config-validation does the same).
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'

import { isDocument, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import type { z } from 'zod'

import { ConfigInvalidError } from './errors.js'
import { applyEnvOverrides, readEnvOverrides, type EnvOverride } from './env-overrides.js'
import { createConfigSchema, type DsmirrorConfig } from './schema.js'
import { nodeAt } from './schema-tree.js'
import { suggestClosest } from './suggest.js'
import { showValue } from './units.js'

export interface ParseConfigOptions {
  /** The environment to read DSMIRROR_* overrides (and HOME for `~`) from. Never read implicitly. */
  env: Readonly<Record<string, string | undefined>>
  /** Relative paths resolve against it. */
  cwd: string
  /** Where `raw` came from (a file path), named in error lines. */
  source?: string | undefined
}

export interface LoadConfigOptions {
  /** Config file; else env.DSMIRROR_CONFIG; else none (every key has a default). */
  file?: string | undefined
  env: Readonly<Record<string, string | undefined>>
  cwd: string
}

type IssuePath = readonly PropertyKey[]
type Locate = (path: IssuePath) => string | undefined

interface Problem { path: IssuePath; message: string }

/** `cache.maxSize`, `allowHosts[2]`, `checksums["https://host/a.tgz"]`. */
export function formatConfigPath (path: IssuePath): string {
  if (path.length === 0) return '(top level)'
  return path.map((key, index) => {
    if (typeof key === 'number') return `[${key}]`
    const text = String(key)
    if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(text)) return index === 0 ? text : `.${text}`
    return `[${JSON.stringify(text)}]`
  }).join('')
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function unknownKeyMessage (schema: z.ZodType, parent: IssuePath, key: string): string {
  const node = nodeAt(schema, parent)
  const known = node?.kind === 'object' ? Object.keys(node.keys) : []
  const near = suggestClosest(key, known)
  if (near !== undefined) return `is not a known key. Did you mean ${formatConfigPath([...parent, near])}?`
  return `is not a known key. Remove it; the keys here are ${known.join(', ')}.`
}

/** zod issues → one problem per bad field. */
function problemsOf (schema: z.ZodType, issues: readonly z.core.$ZodIssue[], prefix: IssuePath = []): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    const path = [...prefix, ...issue.path]
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => ({ path: [...path, key], message: unknownKeyMessage(schema, path, key) }))
      case 'invalid_union': {
        // A listener given as a mapping: report its bad keys, not "neither false nor a mapping".
        const inside = (error: z.core.$ZodIssue): boolean => error.path.length > 0 || error.code === 'unrecognized_keys'
        const branch = issue.errors.find((errors) => errors.length > 0 && errors.every(inside))
        return branch === undefined ? [{ path, message: issue.message }] : problemsOf(schema, branch, path)
      }
      case 'invalid_key':
        return problemsOf(schema, issue.issues, path)
      default:
        return [{ path, message: issue.message }]
    }
  })
}

function startsWith (path: IssuePath, prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((key, index) => path[index] === key)
}

/** Where a bad value came from: the env var that set it, else the file (with line:col when known). */
function describeSource (path: IssuePath, overrides: readonly EnvOverride[], source: string | undefined, locate: Locate | undefined): string {
  const override = overrides.filter((candidate) => startsWith(path, candidate.path))
    .sort((a, b) => b.path.length - a.path.length)[0]
  if (override !== undefined) return ` (from ${override.name})`
  if (source === undefined) return ''
  const at = locate?.(path)
  return ` (in ${source}${at === undefined ? '' : `:${at}`})`
}

function throwIfAny (lines: readonly string[]): void {
  if (lines.length > 0) throw new ConfigInvalidError(lines.join('\n'))
}

function validate (raw: unknown, options: ParseConfigOptions, locate?: Locate): DsmirrorConfig {
  const schema = createConfigSchema({ cwd: options.cwd, home: options.env.HOME })
  const lines: string[] = []
  const fileSource = options.source === undefined ? '' : ` (in ${options.source})`

  let base: Record<string, unknown> = {}
  if (isPlainObject(raw)) {
    base = raw
  } else if (raw !== undefined && raw !== null) {
    lines.push(`  - (top level): ${showValue(raw)} is not a mapping of settings. Write keys like dataDir:, cache:, allowHosts: at the top level.${fileSource}`)
  }

  const { overrides, problems: envProblems } = readEnvOverrides(options.env, schema)
  for (const problem of envProblems) lines.push(`  - ${problem.name}: ${problem.message}`)
  const merged = applyEnvOverrides(base, overrides)

  // tls.mode off means no TLS material: an HTTPS listener the config asks for cannot start.
  const tlsMode = isPlainObject(merged.tls) ? merged.tls.mode : undefined
  const httpsListener = isPlainObject(merged.listen) ? merged.listen.https : undefined
  const tlsOff = typeof tlsMode === 'string' && tlsMode.trim().toLowerCase() === 'off'
  if (tlsOff && (httpsListener === true || isPlainObject(httpsListener))) {
    const path = ['listen', 'https']
    lines.push(`  - listen.https: is set, but tls.mode is off, so there is no certificate to serve. Set listen.https: false, or tls.mode: auto.${describeSource(path, overrides, options.source, locate)}`)
  }

  const result = schema.safeParse(merged)
  if (!result.success) {
    for (const problem of problemsOf(schema, result.error.issues)) {
      lines.push(`  - ${formatConfigPath(problem.path)}: ${problem.message}${describeSource(problem.path, overrides, options.source, locate)}`)
    }
  }
  throwIfAny(lines)
  const config = result.data as DsmirrorConfig
  // With tls.mode off and no listen.https in the config, the default HTTPS listener is dropped
  // rather than failing a config that only asked for plain HTTP.
  if (tlsOff) config.listen.https = false
  return config
}

/**
 * Validates an already-parsed config object (the file's content, or undefined for none) with the
 * DSMIRROR_* overrides of `options.env`, and returns the full config with defaults. Pure: reads
 * no file and no process state. Throws ConfigInvalidError listing every bad field.
 */
export function parseConfig (raw: unknown, options: ParseConfigOptions): DsmirrorConfig {
  return validate(raw, options)
}

/** The config with every default, for `cwd` (what runs when there is no file and no DSMIRROR_* variable). */
export function defaultConfig (cwd: string): DsmirrorConfig {
  return parseConfig(undefined, { env: {}, cwd })
}

/** `line:col` of the key (or list item) at `path` in a parsed YAML document. */
function locator (doc: Document, lineCounter: LineCounter): Locate {
  return (path) => {
    let node: unknown = doc.contents
    let offset: number | undefined
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(key))
        if (pair === undefined) break
        offset = (pair.key as Node).range?.[0] ?? offset
        node = pair.value
      } else if (isSeq(node) && typeof key === 'number') {
        const item = node.items[key] as Node | undefined
        if (item === undefined) break
        offset = item.range?.[0] ?? offset
        node = item
      } else {
        break
      }
    }
    if (offset === undefined) return undefined
    const { line, col } = lineCounter.linePos(offset)
    return `${line}:${col}`
  }
}

function positionOf (text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n')
  return `${before.length}:${(before[before.length - 1]?.length ?? 0) + 1}`
}

/**
 * Reads JSON when the file is named *.json (strictly, so a JSON typo is reported as one), or when
 * the text looks like JSON; YAML otherwise, and when JSON-looking text is flow-style YAML.
 */
function parseConfigText (text: string, file: string): { value: unknown; locate: Locate } {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: true })
  const locate = locator(doc, lineCounter)
  const strictJson = file.toLowerCase().endsWith('.json')
  if (strictJson || /^\s*[{[]/.test(text)) {
    try {
      return { value: JSON.parse(text) as unknown, locate }
    } catch (err: unknown) {
      if (strictJson || doc.errors.length > 0) {
        const message = err instanceof Error ? err.message : String(err)
        const position = /position (\d+)/.exec(message)
        const at = position?.[1] === undefined ? '' : `:${positionOf(text, Number(position[1]))}`
        const why = message.replace(/ in JSON at position \d+.*$/s, '')
        throwIfAny([`  - ${file}${at}: not valid JSON (${why}). Fix the syntax there; JSON needs double quotes around keys and strings, and no trailing commas.`])
      }
    }
  }
  throwIfAny(doc.errors.map((error) => {
    const at = error.linePos === undefined ? '' : `:${error.linePos[0].line}:${error.linePos[0].col}`
    const message = error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '')
    return `  - ${file}${at}: not valid YAML (${message}). Fix the syntax there; indent with spaces and quote values that contain ': ' or start with @, * or &.`
  }))
  return { value: isDocument(doc) ? doc.toJS() as unknown : undefined, locate }
}

/**
 * Loads the config for a command: `options.file`, else `env.DSMIRROR_CONFIG`, else no file.
 * The file is YAML or JSON. Throws ConfigInvalidError naming the file when it is missing or
 * unreadable, the line and column when it does not parse, and every bad field otherwise.
 */
export async function loadConfig (options: LoadConfigOptions): Promise<DsmirrorConfig> {
  const given = options.file !== undefined && options.file.trim() !== ''
    ? { path: options.file.trim(), origin: '' }
    : { path: options.env.DSMIRROR_CONFIG?.trim() ?? '', origin: ' (named by DSMIRROR_CONFIG)' }
  if (given.path === '') return parseConfig(undefined, options)

  const home = options.env.HOME
  const file = home !== undefined && (given.path === '~' || given.path.startsWith('~/'))
    ? join(home, given.path.slice(1))
    : resolve(options.cwd, given.path)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err: unknown) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : ''
    const why = code === 'ENOENT'
      ? 'does not exist'
      : code === 'EISDIR' ? 'is a directory, not a file' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code === '' ? String(err) : code})`
    throw new ConfigInvalidError(`  - ${file}: the config file${given.origin} ${why}. Point it at a YAML or JSON file, or set neither --config nor DSMIRROR_CONFIG to run on defaults.`)
  }
  const { value, locate } = parseConfigText(text.replace(/^\uFEFF/, ''), file)
  return validate(value, { env: options.env, cwd: options.cwd, source: file }, locate)
}
