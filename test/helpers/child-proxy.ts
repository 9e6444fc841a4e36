// Runs the real CLI (`bin/dsmirror.js serve`, built by `npm test`) as a child process, for tests
// that must kill the process: SIGKILL mid-download, SIGTERM shutdown. The child logs JSON; its
// listening URL is read from the 'dsmirror is serving' line.
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DSMIRROR_BIN } from './cli.js'
import { testConfig, type StartProxyOptions } from './proxy.js'
import { childEnv } from './child-env.js'

export const CHILD_START_TIMEOUT_MS = 15_000

export interface ChildProxy {
  origin: string
  child: ChildProcess
  /** Resolves with the exit code or signal once the child has exited. */
  exited: Promise<number | NodeJS.Signals | null>
  output: () => string
}

export async function startChildProxy (dataDir: string, opts: StartProxyOptions = {}): Promise<ChildProxy> {
  const raw = await testConfig(dataDir, { ...opts, config: { ...opts.config, log: { level: 'info' } } })
  const configFile = join(dataDir, 'config.json')
  await writeFile(configFile, JSON.stringify(raw))
  const child = spawn(process.execPath, [DSMIRROR_BIN, 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // opts.env: variables a test gives this child only (the S3 store's AWS_* credentials, test/helpers/rgw.ts).
    env: childEnv(opts.env)
  })
  let output = ''
  child.stdout?.on('data', (c: Buffer) => { output += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { output += c.toString() })
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child proxy did not start:\n${output}`)), CHILD_START_TIMEOUT_MS)
    const check = (): void => {
      const line = output.split('\n').find((l) => l.includes('dsmirror is serving'))
      if (line === undefined) return
      clearTimeout(timer)
      child.stdout?.off('data', check)
      resolve((JSON.parse(line) as { urls: string[] }).urls[0] ?? '')
    }
    child.stdout?.on('data', check)
    void exited.then(() => { clearTimeout(timer); reject(new Error(`child proxy exited:\n${output}`)) })
  })
  return { origin, child, exited, output: () => output }
}
