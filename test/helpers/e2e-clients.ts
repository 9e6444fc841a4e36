// Running the real clients (curl, wget, aria2c, Debian's python3 with requests/torchvision) from
// e2e tests. Every client runs with the CA-bundle variables and proxy variables unset: this shell
// sets SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and NODE_EXTRA_CA_CERTS to the OS bundle,
// which would hide what a client trusts on its own. A missing client skips its test with the
// reason, except under CI=true, where it is a failure (the CI machine installs them all).
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { access, constants, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/**
 * Debian's torchvision imports only with the system interpreter, not the first python3 on PATH.
 * DSMIRROR_TEST_TORCHVISION_PYTHON runs the same tests with another one (.ci/run: a venv with pip's
 * torchvision, where that pair imports; issue: current runtimes, item 3).
 */
export const PYTHON = process.env.DSMIRROR_TEST_TORCHVISION_PYTHON ?? '/usr/bin/python3'
export const CI = process.env.CI === 'true'
export const TRUST_VARIABLES: readonly string[] = ['SSL_CERT_FILE', 'SSL_CERT_DIR', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS', 'AWS_CA_BUNDLE', 'NIX_SSL_CERT_FILE']
const CLIENT_TIMEOUT_MS = 90_000

/** process.env without any variable that names a CA bundle, and without proxies; `extra` is added last. */
export function cleanEnv (extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || TRUST_VARIABLES.includes(key) || /_proxy$/i.test(key)) continue
    env[key] = value
  }
  return { ...env, ...extra }
}

export interface Run { code: number, stdout: string, stderr: string }

/** Runs a client to its end; never rejects (the exit code is the result). */
export async function run (file: string, args: string[], opts: { env?: Record<string, string>, cwd?: string, input?: string } = {}): Promise<Run> {
  return await new Promise<Run>((resolve) => {
    const child = execFile(file, args, { env: opts.env ?? cleanEnv(), cwd: opts.cwd, timeout: CLIENT_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

/** Runs a Python program with the system interpreter. */
export async function runPython (code: string, opts: { env?: Record<string, string>, cwd?: string } = {}): Promise<Run> {
  return await run(PYTHON, ['-'], { ...opts, input: code })
}

/**
 * A Python runner for one test: each call runs in a fresh directory of its own (its own "data"
 * root and TORCH_HOME, so nothing is shared between runs but what the mirror serves), all under
 * one work directory removed at teardown.
 */
export async function freshPythonRuns (t: Test, prefix: string): Promise<(code: string, extraEnv?: Record<string, string>) => Promise<Run & { cwd: string }>> {
  const work = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(async () => { await rm(work, { recursive: true, force: true }) })
  let runs = 0
  return async (code, extraEnv = {}) => {
    const cwd = await mkdtemp(join(work, `run-${++runs}-`))
    return { ...await runPython(code, { cwd, env: cleanEnv({ TORCH_HOME: join(cwd, 'torch'), ...extraEnv }) }), cwd }
  }
}

/** Starts a client without waiting for it (to kill it mid-download). */
export function spawnClient (file: string, args: string[], opts: { cwd?: string } = {}): ChildProcess {
  return spawn(file, args, { env: cleanEnv(), cwd: opts.cwd, stdio: 'ignore' })
}

export async function executable (path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** True when `/usr/bin/python3 -c 'import <module>'` works. */
export async function pythonHas (module: string): Promise<boolean> {
  if (!await executable(PYTHON)) return false
  return (await run(PYTHON, ['-c', `import ${module}`])).code === 0
}

/**
 * The `skip` option for a test that needs `missing` to be empty: false when nothing is missing,
 * else the reason. Under CI=true a missing prerequisite fails `t` instead.
 */
export function skipUnless (t: Test, missing: string[]): string | false {
  if (missing.length === 0) return false
  if (CI) t.fail(`prerequisites missing under CI: ${missing.join('; ')}`)
  return `missing: ${missing.join('; ')}`
}
