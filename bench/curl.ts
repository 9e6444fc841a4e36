import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { runCommand } from './children.js'

// The one client of every measurement, for both peers and the direct download: curl writing
// to /dev/null. It needs no CPU for the bytes beyond reading them, so it does not set the pace.

const MAX_TRANSFER_SECONDS = 600
const WRITE_OUT = '%{http_code} %{size_download} %{time_total} %{time_starttransfer}\\n%header{cache-status}'
const execFileAsync = promisify(execFile)

export interface Download {
  url: string
  status: number
  bytes: number
  // curl's own time for the transfer (connect to last byte), excluding process start.
  seconds: number
  firstByteSeconds: number
  // Wall clock, performance.now() ms: from just before spawn to exit.
  spawnedAt: number
  exitedAt: number
  cacheStatus: string
  curlExit: number | null
  error?: string
}

export interface DownloadOptions {
  caFile?: string
  output?: string
  method?: 'GET' | 'HEAD'
  /** Through this forward proxy (`--proxy`) instead of direct (`--noproxy '*'`). */
  proxy?: string
}

// What curl gets from the environment (the shell sets CURL_CA_BUNDLE, maybe proxies) is
// removed: every option it uses is on its command line.
function cleanEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const name of ['CURL_CA_BUNDLE', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'https_proxy', 'http_proxy', 'all_proxy', 'CURL_HOME']) {
    env[name] = undefined
  }
  return env
}

export async function download (url: string, options: DownloadOptions = {}): Promise<Download> {
  const args = ['-q', '-s', '-S', ...options.proxy === undefined ? ['--noproxy', '*'] : ['--proxy', options.proxy], '--max-time', String(MAX_TRANSFER_SECONDS), '-o', options.output ?? '/dev/null', '-w', WRITE_OUT]
  if (options.caFile !== undefined) args.push('--cacert', options.caFile)
  if (options.method === 'HEAD') args.push('-I')
  args.push(url)
  const spawnedAt = performance.now()
  const result = await runCommand('curl', 'curl', args, { env: cleanEnv() })
  const exitedAt = performance.now()
  const [line = '', cacheStatus = ''] = result.stdout.split('\n')
  const [status = '0', bytes = '0', seconds = '0', firstByte = '0'] = line.trim().split(' ')
  const outcome: Download = {
    url,
    status: Number(status),
    bytes: Number(bytes),
    seconds: Number(seconds),
    firstByteSeconds: Number(firstByte),
    spawnedAt,
    exitedAt,
    cacheStatus: cacheStatus.trim(),
    curlExit: result.code
  }
  if (result.code !== 0) outcome.error = `curl exit ${String(result.code)}: ${result.stderr.trim()}`
  return outcome
}

// Fails loudly unless the download is a complete 200 of `size` bytes.
export function checkComplete (d: Download, size: number): string | undefined {
  if (d.error !== undefined) return `${d.url}: ${d.error}`
  if (d.status !== 200) return `${d.url}: HTTP ${d.status}`
  if (d.bytes !== size) return `${d.url}: ${d.bytes} bytes received, expected ${size}`
  return undefined
}

export async function curlVersion (): Promise<string> {
  const { stdout } = await execFileAsync('curl', ['--version'])
  return (stdout.split('\n')[0] ?? '').split(' ').slice(0, 2).join(' ')
}
