// `dsmirror cache ls | verify | purge [PREFIX]`. A running server owns its cache directory (the
// index is in its memory, and opening the directory cleans temp files it may be writing), so:
// `ls` and `purge` go through the admin API when a server answers at --server (default: the
// config's listen.http) and work on cache.dir directly otherwise; `verify` re-hashes every body,
// which is only done offline: it refuses (DSM_ADMIN_SERVER_RUNNING) while a server answers.
import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import pino from 'pino'
import type { DsmirrorConfig } from '../../config/schema.js'
import { AdminClient, defaultServer } from './admin-client.js'
import { CommandRefusedError, commandGroup, CONFIG_FLAGS, CONFIG_FLAGS_HELP, loadCliConfig, type ConfigOption } from './cli-common.js'
import type { CacheStore, EntryMeta } from '../cache/cache-store.js'
import { DiskStore } from '../cache/disk-store.js'
import { AdminServerRunningError } from '../errors.js'
import { formatBytes } from '../format-bytes.js'
import { redactUrl } from '../http/redact-url.js'
import { listAll } from '../cache/store-listing.js'

const EXIT_FAILED = 1
const API_PAGE_ENTRIES = 1000

interface CacheOptions extends ConfigOption {
  server?: string
  json?: boolean
  all?: boolean
}

/** An entry as the admin API lists it (server/routes/admin-api.ts entryJson). */
interface ListedEntry {
  key: string
  url: string
  size: number
  pinned: boolean
}

export function registerCacheCommands (program: Command): void {
  const cache = commandGroup(program, 'cache', 'List, verify and purge cached files.')
  cache.command('ls')
    .argument('[prefix]', 'only entries whose URL starts with this (mirror path /<host>/<path> or https:// URL)')
    .description('List cached files (through the running server when one answers, else from cache.dir).')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .option('--server <url>', 'the dsmirror server (default: listen.http of the config)')
    .option('--json', 'print JSON instead of text')
    .action(ls)
  cache.command('verify')
    .description('Re-hash every cached body against its metadata and quarantine mismatches. Offline only: stop the server first. Exits 1 if any body was bad.')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .option('--server <url>', 'the server to check for (default: listen.http of the config)')
    .action(verify)
  cache.command('purge')
    .argument('[prefix]', 'delete entries whose URL starts with this (mirror path or https:// URL)')
    .description('Delete cached files (through the running server when one answers, else in cache.dir). Pinned files too.')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .option('--server <url>', 'the dsmirror server (default: listen.http of the config)')
    .option('--all', 'delete every entry (required when no prefix is given)')
    .action(purge)
}

async function ls (prefix: string | undefined, opts: CacheOptions): Promise<void> {
  const config = await loadCliConfig(opts)
  const client = await runningServer(config, opts)
  const entries = client !== null
    ? await listThroughApi(client, prefix)
    : (await readEntriesOffline(config)).filter(matches(prefix, config)).map(listed).sort((a, b) => a.url < b.url ? -1 : 1)
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`)
    return
  }
  for (const e of entries) process.stdout.write(`${e.key.slice(0, 12)}  ${formatBytes(e.size).padStart(10)}  ${e.pinned ? 'pinned' : '      '}  ${e.url}\n`)
  const bytes = entries.reduce((n, e) => n + e.size, 0)
  process.stdout.write(`${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, ${formatBytes(bytes)} (cache.maxSize ${formatBytes(config.cache.maxSize)}; ${client !== null ? `from ${client.server}` : `read from ${config.cache.dir}`})\n`)
}

async function verify (opts: CacheOptions): Promise<void> {
  const config = await loadCliConfig(opts)
  const client = await runningServer(config, opts)
  if (client !== null) throw new AdminServerRunningError(client.server, config.cache.dir, 'verify')
  const store = await openStore(config)
  const entries = await listAll(store)
  const total = entries.reduce((n, e) => n + e.size, 0)
  const bar = process.stderr.isTTY === true
    ? new cliProgress.SingleBar({ format: ' {bar} {percentage}% {done} / {size}  {entries} entries', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic)
    : null
  let done = 0
  let checked = 0
  bar?.start(Math.max(1, total), 0, { done: formatBytes(0), size: formatBytes(total), entries: `0/${entries.length}` })
  const bad: string[] = []
  for (const meta of entries) {
    const result = await store.verify(meta.key, (bytes) => {
      done += bytes
      bar?.update(done, { done: formatBytes(done), entries: `${checked}/${entries.length}` })
    })
    checked++
    if (result === null) continue
    const line = result.quarantined === null
      ? `MISSING  ${meta.url}: the body file is gone; entry dropped`
      : `BAD      ${meta.url}: expected sha256:${result.expected}, got sha256:${result.actual}; moved to ${result.quarantined}`
    bad.push(line)
    if (bar === null) process.stdout.write(`${line}\n`)
  }
  bar?.update(total, { done: formatBytes(total), entries: `${checked}/${entries.length}` })
  bar?.stop()
  if (bar !== null) for (const line of bad) process.stdout.write(`${line}\n`)
  process.stdout.write(`Verified ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} (${formatBytes(total)}): ${bad.length === 0 ? 'all intact' : `${bad.length} bad, quarantined; the next request fetches them again`}.\n`)
  if (bad.length > 0) process.exitCode = EXIT_FAILED
}

async function purge (prefix: string | undefined, opts: CacheOptions): Promise<void> {
  if (prefix === undefined && opts.all !== true) throw new CommandRefusedError('cache purge deletes every entry without a prefix: give a prefix (e.g. /download.pytorch.org/models/) or --all.')
  const config = await loadCliConfig(opts)
  const client = await runningServer(config, opts)
  let deleted = 0
  let failed = 0
  if (client !== null) {
    for (const entry of await listThroughApi(client, prefix)) {
      const answer = await client.api<{ code?: string; error?: string }>('DELETE', `/_/api/entries/${entry.key}`)
      if (answer.status === 200) {
        deleted++
        process.stdout.write(`deleted  ${entry.url}\n`)
      } else if (answer.body.code !== 'DSM_ADMIN_NOT_FOUND') {
        // Gone meanwhile (evicted) is what was asked for; anything else (a refused token) is not.
        failed++
        process.stdout.write(`FAIL     ${entry.url}: ${answer.body.code ?? `HTTP ${answer.status}`}: ${answer.body.error ?? ''}\n`)
        if (answer.status === 401 || answer.status === 403) break
      }
    }
  } else {
    const store = await openStore(config)
    for (const meta of (await listAll(store)).filter(matches(prefix, config))) {
      await store.delete(meta.key)
      deleted++
      process.stdout.write(`deleted  ${redactUrl(meta.url)}\n`)
    }
  }
  process.stdout.write(`Deleted ${deleted} entr${deleted === 1 ? 'y' : 'ies'}${client !== null ? ` through ${client.server}` : ` in ${config.cache.dir}`}${failed > 0 ? `; ${failed} could not be deleted` : ''}.\n`)
  if (failed > 0) process.exitCode = EXIT_FAILED
}

/** A client of the server at --server (or listen.http) when one answers, else null (work offline). */
async function runningServer (config: DsmirrorConfig, opts: CacheOptions): Promise<AdminClient | null> {
  const server = defaultServer(config, opts.server)
  if (server === null) return null
  const client = new AdminClient({ server, token: config.admin.token })
  return await client.reachable() ? client : null
}

async function listThroughApi (client: AdminClient, prefix: string | undefined): Promise<ListedEntry[]> {
  const entries: ListedEntry[] = []
  let cursor: string | null = ''
  while (cursor !== null) {
    const query = new URLSearchParams({ limit: String(API_PAGE_ENTRIES), ...(prefix !== undefined ? { prefix } : {}), ...(cursor !== '' ? { cursor } : {}) })
    const answer: { status: number; body: { entries?: ListedEntry[]; next?: string | null; code?: string; error?: string } } =
      await client.api('GET', `/_/api/entries?${query.toString()}`)
    if (answer.status !== 200 || answer.body.entries === undefined) throw new Error(`${client.server} refused the listing: ${answer.body.code ?? `HTTP ${answer.status}`}: ${answer.body.error ?? ''}`)
    entries.push(...answer.body.entries)
    cursor = answer.body.next ?? null
  }
  return entries
}

/** The store of cache.dir, opened as the server would open it (temp files of a dead server are cleaned). */
async function openStore (config: DsmirrorConfig): Promise<CacheStore> {
  // Warnings only, to stderr: stdout is the command's report.
  return await DiskStore.open({ dir: config.cache.dir, maxSize: config.cache.maxSize, log: pino({ level: 'warn' }, pino.destination(2)) })
}

/** The entries of cache.dir read without opening the store, which would clean temp files a running server may be writing. */
async function readEntriesOffline (config: DsmirrorConfig): Promise<EntryMeta[]> {
  return await DiskStore.readEntries(config.cache.dir)
}

function listed (meta: EntryMeta): ListedEntry {
  // Shown, so credentials in query strings are redacted (issue 12 item 12); the key is the full URL's.
  return { key: meta.key, url: redactUrl(meta.url), size: meta.size, pinned: meta.pinned === true }
}

/**
 * The entry filter for a prefix given offline: an upstream URL as is, a mirror path resolved the
 * way the server resolves it (/<mirror>/... by mirrors:, /<host>/... to https://<host>/...).
 */
function matches (prefix: string | undefined, config: DsmirrorConfig): (meta: EntryMeta) => boolean {
  if (prefix === undefined || prefix === '') return () => true
  const upstream = offlinePrefix(prefix, config)
  return (meta) => meta.url.startsWith(upstream)
}

function offlinePrefix (prefix: string, config: DsmirrorConfig): string {
  if (/^https?:\/\//i.test(prefix)) return prefix
  const [first = '', ...rest] = prefix.replace(/^\/+/, '').split('/')
  const mirror = /[.:[]/.test(first) ? undefined : config.mirrors[first]
  if (mirror !== undefined) return `${mirror.url.replace(/\/?$/, '/')}${rest.join('/')}`
  return new URL(`https://${first}/${rest.join('/')}`).href
}
