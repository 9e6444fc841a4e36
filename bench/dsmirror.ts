import { openSync, closeSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { runCommand, spawnTracked } from './children.js'
import { logTail, waitForHttp } from './http-wait.js'
import type { Peer } from './peer.js'

export interface DsmirrorOptions {
  root: string
  dataDir: string
  configFile: string
  logFile: string
  port: number
  // HTTPS listener in tls.mode files with the bench leaf: the certificate nginx serves too.
  httpsPort: number
  certFile: string
  keyFile: string
  upstreamOrigin: string
  caFile: string
  maxCacheSize: string
  // Extra node flags for the dsmirror process, e.g. --cpu-prof.
  nodeArgs?: string[]
}

export async function buildDsmirror (root: string, logFile: string): Promise<void> {
  const build = await runCommand('npm run build', 'npm', ['run', 'build'], { cwd: root })
  await writeFile(logFile, build.stdout + build.stderr)
  if (build.code !== 0) {
    throw new Error(`npm run build failed (exit ${String(build.code)}); ${logFile}:\n${await logTail(logFile)}`)
  }
}

export async function resetDsmirrorData (dataDir: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true })
  await mkdir(dataDir, { recursive: true })
}

// The config the brief fixes for the bench: loopback HTTP, plus HTTPS with the same certificate
// as nginx's listener, the bench CA added for the upstream, no egress proxy, an 8 GiB cache,
// warn-level logs (a log line per request would measure the logger).
export function renderDsmirrorConfig (options: DsmirrorOptions): string {
  return stringify({
    dataDir: options.dataDir,
    listen: { http: { host: '127.0.0.1', port: options.port }, https: { host: '127.0.0.1', port: options.httpsPort } },
    tls: { mode: 'files', certFile: options.certFile, keyFile: options.keyFile },
    allowHosts: [options.upstreamOrigin],
    upstream: { caFiles: [options.caFile], proxy: 'none' },
    cache: { maxSize: options.maxCacheSize },
    log: { level: 'warn' }
  })
}

export async function startDsmirror (options: DsmirrorOptions): Promise<{ http: Peer, https: Peer }> {
  await writeFile(options.configFile, renderDsmirrorConfig(options))
  const logFd = openSync(options.logFile, 'a')
  const child = (() => {
    try {
      return spawnTracked('dsmirror', process.execPath, [...(options.nodeArgs ?? []), join(options.root, 'bin/dsmirror.js'), 'serve', '--config', options.configFile], {
        cwd: options.root,
        stdio: ['ignore', logFd, logFd],
        // The shell's proxy and CA variables must not change what is measured.
        env: { ...process.env, HTTPS_PROXY: '', HTTP_PROXY: '', https_proxy: '', http_proxy: '', NODE_ENV: 'production' }
      })
    } finally {
      closeSync(logFd)
    }
  })()
  try {
    await waitForHttp(`http://127.0.0.1:${options.port}/_/healthz`, child, options.logFile)
  } catch (err: unknown) {
    await child.stop()
    throw err
  }
  const stop = async (): Promise<void> => {
    const exit = await child.stop('SIGTERM')
    if (exit.signal === 'SIGKILL') process.stderr.write(`bench: dsmirror did not stop on SIGTERM within the grace period; killed (${options.logFile})\n`)
  }
  return {
    http: { name: 'dsmirror', pid: child.pid, url: (path) => `http://127.0.0.1:${options.port}/${options.upstreamOrigin}${path}`, stop },
    https: { name: 'dsmirror', pid: child.pid, url: (path) => `https://127.0.0.1:${options.httpsPort}/${options.upstreamOrigin}${path}`, stop }
  }
}
