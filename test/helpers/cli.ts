// Runs the real CLI (bin/dsmirror.js, built by `npm test`) to completion, in a clean environment:
// no DSMIRROR_*, HTTPS_PROXY or trust variables leak in from the shell running the tests.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { childEnv } from './child-env.js'

export const DSMIRROR_BIN = fileURLToPath(new URL('../../bin/dsmirror.js', import.meta.url))
export const CLI_TIMEOUT_MS = 60_000

export interface CliRun { code: number | null; stdout: string; stderr: string }

/** `env`: variables this run only gets (the S3 store's AWS_* credentials, test/helpers/rgw.ts). */
export async function runDsmirror (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return await new Promise<CliRun>((resolve) => {
    execFile(process.execPath, [DSMIRROR_BIN, ...args], { env: childEnv(env), timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
}
