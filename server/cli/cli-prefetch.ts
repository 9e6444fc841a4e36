// `dsmirror prefetch <URL...> | --file list.txt [--pin]`: warms a running server's cache by
// GETting each file through it and draining the body (the normal cached path, so the result is
// exactly what a client would get), with a live bar per file on a terminal and one line per file
// otherwise. --pin then pins the files through the admin API. Exits 1 when any file fails.
import { readFile } from 'node:fs/promises'
import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import { AdminClient, defaultServer, describeError, type DrainResult } from './admin-client.js'
import { CommandRefusedError, CONFIG_FLAGS, CONFIG_FLAGS_HELP, loadCliConfig, type ConfigOption } from './cli-common.js'
import { AdminServerUnreachableError } from '../errors.js'
import { formatBytes } from '../format-bytes.js'
import { listHfSnapshot, parseHfUrl } from './hf-snapshot.js'

export const DEFAULT_PREFETCH_CONCURRENCY = 4
const EXIT_FAILED = 1

interface PrefetchOptions extends ConfigOption {
  file?: string
  server?: string
  pin?: boolean
  concurrency?: string
}

interface Outcome {
  url: string
  path: string
  result: DrainResult | null
  /** Why it failed, with its DSM code when it has one; null when the file is cached. */
  failure: string | null
}

export function registerPrefetchCommand (program: Command): void {
  program.command('prefetch')
    .argument('[urls...]', 'mirror URLs (/<host>/<path>, /<mirror>/<path>, http://<server>/...), upstream URLs (https://<host>/<path>), or Hugging Face snapshots (hf://[datasets/]<org>/<name>[@rev]; HF_TOKEN is sent for gated repos)')
    .description('Download files into a running server\'s cache, with progress. Exits 1 if any file fails.')
    .option(CONFIG_FLAGS, CONFIG_FLAGS_HELP)
    .option('-f, --file <list>', 'read URLs from a file, one per line (# starts a comment)')
    .option('--server <url>', 'the dsmirror server (default: listen.http of the config)')
    .option('--pin', 'pin the files once cached (never evicted; admin API, uses admin.token)')
    .option('--concurrency <n>', 'files fetched at once', String(DEFAULT_PREFETCH_CONCURRENCY))
    .action(prefetch)
}

async function prefetch (urls: string[], opts: PrefetchOptions): Promise<void> {
  const config = await loadCliConfig(opts)
  const server = defaultServer(config, opts.server)
  if (server === null) throw new AdminServerUnreachableError('(none)', 'listen.http is off or on port 0 in the config')
  const listed = opts.file === undefined ? [] : parseList(await readFile(opts.file, 'utf8'))
  const all = [...urls, ...listed]
  if (all.length === 0) throw new CommandRefusedError('Nothing to prefetch: give URLs as arguments or --file <list>.')
  const concurrency = Number(opts.concurrency ?? DEFAULT_PREFETCH_CONCURRENCY)
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new CommandRefusedError(`--concurrency '${opts.concurrency ?? ''}' is not a whole number of at least 1.`)

  const client = new AdminClient({ server, token: config.admin.token })
  await client.requireServer()
  // hf:// snapshots become the resolve URLs of their files at one commit (cli/hf-snapshot.ts).
  const hfToken = process.env.HF_TOKEN
  const hfHeaders: Record<string, string> = hfToken === undefined || hfToken === '' ? {} : { authorization: `Bearer ${hfToken}` }
  const queue: Array<{ url: string, path: string, headers: Record<string, string> }> = []
  for (const url of all) {
    const ref = parseHfUrl(url)
    if (ref === null) {
      queue.push({ url, path: mirrorPath(url, server), headers: {} })
      continue
    }
    const mount = config.huggingface.mount
    // Pins are per URL key; Hugging Face blobs are keyed by content, which /_/api/prefetch does not name.
    if (opts.pin === true) throw new CommandRefusedError(`${url}: --pin does not apply to hf:// snapshots yet; prefetch them without --pin.`)
    if (mount === false) throw new CommandRefusedError(`${url}: the Hugging Face mode is off (huggingface.mount: false).`)
    for (const path of await listHfSnapshot(client, mount, ref, hfHeaders)) queue.push({ url: path, path, headers: hfHeaders })
  }
  if (queue.length === 0) throw new CommandRefusedError('Nothing to prefetch: the snapshots listed no files.')
  const progress = process.stderr.isTTY === true ? new Bars() : null
  const outcomes: Outcome[] = []
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const outcome = await fetchOne(client, next.url, next.path, progress, next.headers)
      outcomes.push(outcome)
      const line = outcome.failure === null
        ? `ok    ${outcome.url}  ${formatBytes(outcome.result?.bytes ?? 0)}  ${outcome.result?.cacheStatus ?? ''}`
        : `FAIL  ${outcome.url}  ${outcome.failure}`
      // With bars on the terminal, the lines come after them (cli-progress drops logs still buffered at stop).
      if (progress === null) process.stdout.write(`${line}\n`)
      else lines.push(line)
    }
  }
  const lines: string[] = []
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker))
  progress?.stop()
  for (const line of lines) process.stdout.write(`${line}\n`)

  const cached = outcomes.filter((o) => o.failure === null)
  let pinFailed = false
  if (opts.pin === true && cached.length > 0) {
    // The prefetch endpoint pins what is cached now, and what is still being committed once it is.
    const answer = await client.api<{ code?: string; error?: string }>('POST', '/_/api/prefetch', { urls: cached.map((o) => o.path), pin: true })
    if (answer.status !== 202) {
      pinFailed = true
      process.stdout.write(`FAIL  pinning: ${answer.body.code ?? `HTTP ${answer.status}`}: ${answer.body.error ?? ''}\n`)
    } else {
      process.stdout.write(`pinned ${cached.length} file(s)\n`)
    }
  }
  const failed = outcomes.length - cached.length
  process.stdout.write(`${cached.length} of ${outcomes.length} file(s) cached${failed > 0 ? `, ${failed} failed` : ''}.\n`)
  if (failed > 0 || pinFailed) process.exitCode = EXIT_FAILED
}

async function fetchOne (client: AdminClient, url: string, path: string, progress: Bars | null, headers: Record<string, string> = {}): Promise<Outcome> {
  const bar = progress?.add(url)
  try {
    const result = await client.drain(path, (received, size) => bar?.update(received, size), headers)
    if (result.error !== null) return { url, path, result, failure: `${result.error.code}: ${result.error.message}` }
    if (!result.complete) {
      return { url, path, result, failure: `the transfer was cut after ${result.bytes}${result.size !== null ? ` of ${result.size}` : ''} bytes: nothing was cached (the server log has the DSM code)` }
    }
    return { url, path, result, failure: null }
  } catch (err: unknown) {
    return { url, path, result: null, failure: describeError(err) }
  } finally {
    bar?.done()
  }
}

/**
 * The path to GET on the server: mirror paths as given, dsmirror URLs by their raw path, and
 * upstream URLs turned into the generic host form (/<host[:port]>/<path>).
 */
export function mirrorPath (url: string, server: string): string {
  if (url.startsWith('/')) return url
  const origin = new URL(server).origin
  const raw = /^(https?:\/\/[^/?#]+)(\/[^#]*)?/i.exec(url)
  if (raw === null) return `/${url}`
  const [, authority = '', rest = '/'] = raw
  if (new URL(authority).origin === origin) return rest
  const upstream = new URL(url)
  return `/${upstream.host}${upstream.pathname}${upstream.search}`
}

export function parseList (text: string): string[] {
  // A comment starts at a # that begins the line or follows a space (a # inside a URL is kept).
  return text.split(/\r?\n/).map((line) => line.replace(/(^|\s)#.*$/, '').trim()).filter((line) => line !== '')
}

/** One bar per file on the terminal (stderr), removed when the file is done. */
class Bars {
  readonly #multi = new cliProgress.MultiBar({
    format: ' {bar} {percentage}% {done} / {size}  {name}',
    hideCursor: true,
    clearOnComplete: true,
    stopOnComplete: false,
    stream: process.stderr
  }, cliProgress.Presets.shades_classic)

  add (name: string): { update: (received: number, size: number | null) => void; done: () => void } {
    const bar = this.#multi.create(1, 0, { name, done: formatBytes(0), size: '?' })
    return {
      update: (received, size) => {
        bar.setTotal(Math.max(1, size ?? received))
        bar.update(received, { done: formatBytes(received), size: size === null ? '?' : formatBytes(size) })
      },
      done: () => { this.#multi.remove(bar) }
    }
  }

  stop (): void { this.#multi.stop() }
}
