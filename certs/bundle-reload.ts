// Keeps the managed upstream CA bundle current while the proxy runs (docs/design.md "Trust"): when a
// file or directory listed in upstream.caFiles changes (or the OS bundle, with systemStore), and
// on SIGHUP (the CLI calls reload()), the bundle is rebuilt, <dataDir>/upstream-ca.pem is
// rewritten and `onBundle` hands it to the upstream client (upstream.setCa, which lets in-flight
// downloads finish on the old dispatcher). A bundle that fails to build (a half-written PEM, a
// removed file) is reported and the current one is kept: a typo must not stop every download.
import { watch, type FSWatcher } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { buildCaBundle, SYSTEM_BUNDLE_PATHS, writeCaBundle, type CaBundle } from './ca-bundle.js'

/**
 * Editors and `cp` write a file in several steps (truncate, write, rename), each an fs.watch
 * event; one rebuild after the burst is enough.
 */
export const CA_BUNDLE_DEBOUNCE_MS = 250

export interface BundleReloadLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

export interface WatchCaBundleOptions {
  caFiles: readonly string[]
  systemStore: boolean
  dataDir: string
  /** Receives every rebuilt bundle; the app swaps the upstream trust store here. */
  onBundle: (bundle: CaBundle) => void | Promise<void>
  log: BundleReloadLog
  debounceMs?: number
  systemBundlePaths?: readonly string[]
}

export interface CaBundleWatcher {
  /** Rebuilds now (SIGHUP); resolves with the new bundle, or undefined when the current one was kept. */
  reload: (reason?: string) => Promise<CaBundle | undefined>
  /** Stops watching; a pending debounced rebuild is dropped. */
  close: () => void
}

/** Watches the bundle's sources and rebuilds on change. Call close() from onClose. */
export async function watchCaBundle (opts: WatchCaBundleOptions): Promise<CaBundleWatcher> {
  const debounceMs = opts.debounceMs ?? CA_BUNDLE_DEBOUNCE_MS
  const watchers: FSWatcher[] = []
  let timer: NodeJS.Timeout | undefined
  let closed = false
  // One rebuild at a time, in order: a burst of events and a SIGHUP never interleave writes.
  let queue: Promise<unknown> = Promise.resolve()

  const rebuild = async (reason: string): Promise<CaBundle | undefined> => {
    let bundle: CaBundle
    try {
      bundle = await buildCaBundle({ caFiles: [...opts.caFiles], systemStore: opts.systemStore, ...(opts.systemBundlePaths === undefined ? {} : { systemBundlePaths: opts.systemBundlePaths }) })
      await writeCaBundle(bundle, opts.dataDir)
      await opts.onBundle(bundle)
    } catch (err: unknown) {
      opts.log.warn({ err, reason }, 'upstream CA bundle not reloaded: keeping the current one')
      return undefined
    }
    const systemPaths = opts.systemBundlePaths ?? SYSTEM_BUNDLE_PATHS
    for (const entry of bundle.entries) {
      if (entry.status === 'expired' && entry.source !== 'node' && !systemPaths.includes(entry.source)) {
        opts.log.warn({ subject: entry.subject, notAfter: entry.notAfter, source: entry.source }, 'expired CA certificate in upstream.caFiles left out of the bundle')
      }
    }
    opts.log.info({ reason, trusted: bundle.certificates.length, expired: bundle.entries.filter((e) => e.status === 'expired').length }, 'upstream CA bundle reloaded')
    return bundle
  }

  const reload = async (reason = 'reload'): Promise<CaBundle | undefined> => {
    const next = queue.then(async () => await rebuild(reason))
    queue = next
    return await next
  }

  const schedule = (what: string): void => {
    if (closed) return
    clearTimeout(timer)
    timer = setTimeout(() => { void reload(`changed: ${what}`) }, debounceMs)
  }

  // fs.watch on a file follows its inode, which an editor's rename-over replaces; watching the
  // directory and filtering by name sees every way a file can be replaced, added or removed.
  const byDir = new Map<string, Set<string> | 'all'>()
  const add = (dir: string, name: string | 'all'): void => {
    const current = byDir.get(dir)
    if (current === 'all') return
    if (name === 'all') byDir.set(dir, 'all')
    else byDir.set(dir, (current ?? new Set<string>()).add(name))
  }
  for (const entry of opts.caFiles) {
    let isDirectory = false
    try {
      isDirectory = (await stat(entry)).isDirectory()
    } catch {
      // Missing now: watch for it to appear.
    }
    if (isDirectory) add(entry, 'all')
    else add(dirname(entry), basename(entry))
  }
  if (opts.systemStore) {
    for (const path of opts.systemBundlePaths ?? SYSTEM_BUNDLE_PATHS) {
      try {
        await stat(path)
      } catch {
        continue
      }
      add(dirname(path), basename(path))
      break
    }
  }
  for (const [dir, names] of byDir) {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, filename) => {
        const name = filename === null ? undefined : filename.toString()
        if (names === 'all' || name === undefined || names.has(name)) schedule(name === undefined ? dir : `${dir}/${name}`)
      })
      watcher.on('error', (err: unknown) => { opts.log.warn({ err, dir }, 'stopped watching a CA directory; send SIGHUP to reload the bundle') })
      watchers.push(watcher)
    } catch (err: unknown) {
      opts.log.warn({ err, dir }, 'cannot watch a CA directory for changes; send SIGHUP to reload the bundle')
    }
  }

  return {
    reload,
    close: () => {
      closed = true
      clearTimeout(timer)
      for (const watcher of watchers) watcher.close()
    }
  }
}
