// Running the real Hugging Face clients for test/e2e/hf-*.test.ts (issue 11 "Show"): the Python
// ones from the venvs scripts/hf-clients-venv.sh builds (huggingface_hub 1.33.0 with datasets,
// transformers, hf_xet, pyarrow; huggingface_hub 2.0.0 with hf_xet), the JS one
// (@huggingface/hub, a devDependency) in-process. Every Python run gets its own HF_HOME,
// HF_HUB_DISABLE_TELEMETRY=1 (else one extra GET /api/agent-harnesses per process, hf-protocol.md
// §1.1), no token unless the test passes one, and HF_HUB_DISABLE_XET UNSET: hf_xet is installed,
// so a Xet header or xetHash that reaches a client sends it to the CAS (§2.5), which is the point.
import { type ChildProcess, spawn } from 'node:child_process'
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { cleanEnv, executable, run, skipUnless, type Run } from './e2e-clients.js'
import { startProxy, type StartProxyOptions, type TestProxy } from './proxy.js'
import type { StandInHub } from './stand-in-hub.js'
import { createTestResolver } from './test-resolver.js'

export const HF_VENVS = process.env.DSMIRROR_TEST_HF_VENVS ?? '/var/tmp/dsmirror-hf-clients-venv'
/** huggingface_hub 1.33.0 + datasets 5.0.1 + transformers 5.x + hf_xet + pyarrow. */
export const HUB1_PYTHON = join(HF_VENVS, 'hub1/bin/python')
/** huggingface_hub 2.0.0 + hf_xet. */
export const HUB2_PYTHON = join(HF_VENVS, 'hub2/bin/python')
/** The `hf` CLI of huggingface_hub 1.33.0 (`huggingface-cli` is gone in 1.x). */
export const HF_CLI = join(HF_VENVS, 'hub1/bin/hf')
export const HF_CLIENT_PY = fileURLToPath(new URL('../e2e/fixtures/hf_client.py', import.meta.url))
/** The mount the tests use: HF_ENDPOINT=<proxy origin>/hf (issue 11 item 1 default). */
export const HF_MOUNT = 'hf'

/** Variables that would change what a client does; removed from every run unless a test sets them. */
const HF_VARIABLES = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_HUB_DISABLE_XET', 'HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_HUB_CACHE', 'HF_DATASETS_CACHE', 'HF_ENDPOINT', 'HF_HOME', 'HF_HUB_ENABLE_HF_TRANSFER']

/** What is missing for the Python clients, empty when they can run. */
export async function hfClientsMissing (): Promise<string[]> {
  const missing: string[] = []
  for (const [file, what] of [[HUB1_PYTHON, 'huggingface_hub 1.33.0 venv'], [HUB2_PYTHON, 'huggingface_hub 2.0.0 venv'], [HF_CLI, 'the hf CLI']] as const) {
    if (!await executable(file)) missing.push(`${what} (${file}; build it with scripts/hf-clients-venv.sh)`)
  }
  return missing
}

/** The reason dsmirror cannot run the Hub mode in this build, or undefined when it can. */
export function hfModeMissing (): string | undefined {
  try {
    parseConfig({ dataDir: tmpdir(), huggingface: { mount: HF_MOUNT, endpoint: 'http://127.0.0.1:1' } }, { env: {}, cwd: tmpdir() })
    return undefined
  } catch (err: unknown) {
    return `dsmirror has no huggingface mode in this build (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`
  }
}

/** The `skip` option for a test that runs the Python clients (and, with `mirror`, dsmirror's Hub mode). */
export async function hfSkip (t: Test, opts: { mirror?: boolean } = {}): Promise<string | false> {
  const missing = await hfClientsMissing()
  const mode = opts.mirror === true ? hfModeMissing() : undefined
  if (mode !== undefined) missing.push(mode)
  return skipUnless(t, missing)
}

export function hfEnv (endpoint: string, hfHome: string, extra: Record<string, string> = {}): Record<string, string> {
  const env = cleanEnv()
  for (const name of HF_VARIABLES) Reflect.deleteProperty(env, name)
  return { ...env, HF_ENDPOINT: endpoint, HF_HOME: hfHome, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1', ...extra }
}

export interface HfRun extends Run {
  /** The JSON the driver printed on success. */
  result?: Record<string, unknown> & { path?: string, sha256?: string, rows?: unknown[] }
  /** The exception class on failure. */
  error?: string
}

/** Runs test/e2e/fixtures/hf_client.py ACTION REPO ARGS with one client. */
export async function hfClient (python: string, args: string[], opts: { endpoint: string, hfHome: string, env?: Record<string, string> }): Promise<HfRun> {
  const r = await run(python, [HF_CLIENT_PY, ...args], { env: hfEnv(opts.endpoint, opts.hfHome, opts.env), cwd: opts.hfHome })
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  const error = /^ERROR (\w+)$/m.exec(r.stdout)?.[1]
  return { ...r, ...(line === undefined ? {} : { result: JSON.parse(line.slice('RESULT '.length)) }), ...(error === undefined ? {} : { error }) }
}

/** Starts hf_client.py without waiting for it (to stop it once it did what a test watches for). */
export function spawnHfClient (python: string, args: string[], opts: { endpoint: string, hfHome: string }): ChildProcess {
  return spawn(python, [HF_CLIENT_PY, ...args], { env: hfEnv(opts.endpoint, opts.hfHome), cwd: opts.hfHome, stdio: 'ignore' })
}

/** Runs `hf download REPO` (huggingface_hub 1.33.0's CLI). */
export async function hfCli (args: string[], opts: { endpoint: string, hfHome: string }): Promise<Run> {
  return await run(HF_CLI, args, { env: hfEnv(opts.endpoint, opts.hfHome), cwd: opts.hfHome })
}

/** A fresh directory for one client run (its HF_HOME), removed at teardown. */
export async function freshHfHome (t: Test, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `dsmirror-hf-${name}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/**
 * The client cache as comparable lines, per repo folder of `hub/`: `blobs/{name}`,
 * `snapshots/{sha}/{path} -> {blob}`, `refs/{name} = {sha}`, `.no_exist/{sha}/{path}`,
 * `trees/{sha}.json`. Lock files and in-progress files are left out (they are process-local).
 */
export async function cacheLayout (cacheDir: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  let repos: string[]
  try {
    repos = (await readdir(cacheDir)).filter((n) => /^(models|datasets|spaces)--/.test(n))
  } catch {
    return out
  }
  for (const repo of repos.sort()) {
    const root = join(cacheDir, repo)
    const lines: string[] = []
    for (const file of await walk(root)) {
      const rel = relative(root, file)
      if (rel.endsWith('.incomplete') || rel.endsWith('.lock')) continue
      const stat = await lstat(file)
      if (rel.startsWith('snapshots/') && stat.isSymbolicLink()) lines.push(`${rel} -> ${basename(await readlink(file))}`)
      else if (rel.startsWith('refs/')) lines.push(`${rel} = ${(await readFile(file, 'utf8')).trim()}`)
      else lines.push(rel)
    }
    out[repo] = lines.sort()
  }
  return out
}

async function walk (dir: string): Promise<string[]> {
  const files: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...await walk(path))
    else files.push(path)
  }
  return files
}

export interface HfMirror {
  proxy: TestProxy
  /** HF_ENDPOINT for the clients: <origin>/hf, no trailing slash. */
  endpoint: string
}

/**
 * dsmirror in-process with the Hub mode pointed at the stand-in, set up like test/helpers/hf-mode.ts:
 * the CDN host name (localhost:P) allowed and answered by the test resolver, loopback upstreams allowed.
 */
export async function startHfMirror (t: Test, hub: StandInHub, opts: StartProxyOptions & { huggingface?: Record<string, unknown> } = {}): Promise<HfMirror> {
  const resolver = createTestResolver({ localhost: ['127.0.0.1'] })
  const proxy = await startProxy({
    lookup: resolver.lookup,
    ...opts,
    allowHosts: [hub.cdnHost, ...(opts.allowHosts ?? [])],
    config: {
      upstream: { allowAddresses: ['127.0.0.0/8'] },
      huggingface: { mount: HF_MOUNT, endpoint: hub.origin, ...opts.huggingface },
      ...opts.config
    }
  })
  t.teardown(() => proxy.close({ remove: true }))
  return { proxy, endpoint: `${proxy.origin}/${HF_MOUNT}` }
}

/**
 * Requests a client (not dsmirror) sent to the stand-in's CDN host or xet-read-token. dsmirror
 * builds its own upstream headers; the Python clients send `X-Amzn-Trace-Id` on every call and
 * the JS client asks for Xet file info in `Accept` (hf-protocol.md §1.1), and neither header is
 * one dsmirror forwards.
 */
export function clientRequestsToCdnOrXet (hub: StandInHub): string[] {
  return hub.requests
    .filter((r) => (r.kind === 'cdn' || r.kind === 'xet-read-token') && (r.headers['x-amzn-trace-id'] !== undefined || /xet-fileinfo/.test(r.accept ?? '')))
    .map((r) => `${r.method} ${r.host}${r.url}`)
}
