// A real Ceph RGW for the cluster tests (issue 19): the one `.ci/run` started and exported through
// DSMIRROR_TEST_S3_ENV_FILE, else one started here with test/s3/rgw.sh on free ports and stopped
// at the end. Missing Ceph packages skip the test, except under CI=true, where it is a failure.
// (Helper A's test/helpers/rgw.ts does the same for the store tests; when both are on main, this
// file should become a re-export of it.)
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Test } from 'tap'

const run = promisify(execFile)
export const RGW_SH = fileURLToPath(new URL('../s3/rgw.sh', import.meta.url))
export const RGW_START_TIMEOUT_MS = 120_000

export interface RgwEnv {
  endpoint: string
  bucket: string
  region: string
  accessKeyId: string
  secretAccessKey: string
  /** The variables as `rgw.sh start` printed them, for child processes. */
  vars: Record<string, string>
}

export function parseExports (text: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (match !== null) vars[match[1] as string] = (match[2] as string).replace(/^'(.*)'$/, '$1')
  }
  return vars
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

function toEnv (vars: Record<string, string>): RgwEnv {
  return {
    endpoint: vars.DSMIRROR_STORE_S3_ENDPOINT ?? '',
    bucket: vars.DSMIRROR_STORE_S3_BUCKET ?? '',
    region: vars.DSMIRROR_STORE_S3_REGION ?? 'us-east-1',
    accessKeyId: vars.AWS_ACCESS_KEY_ID ?? '',
    secretAccessKey: vars.AWS_SECRET_ACCESS_KEY ?? '',
    vars
  }
}

/** The reason RGW cannot run here, or null. */
export function rgwMissing (): string | null {
  if (process.env.DSMIRROR_TEST_S3_ENV_FILE !== undefined) return null
  for (const bin of ['/usr/bin/radosgw', '/usr/bin/ceph-mon', '/usr/bin/ceph-osd', '/usr/bin/curl']) {
    if (!existsSync(bin)) return `${bin} (apt-get install ceph-mon ceph-osd radosgw ceph-common curl)`
  }
  return null
}

/** `skip` option: the reason, or false; under CI=true a missing RGW fails `t`. */
export function skipWithoutRgw (t: Test): string | false {
  const missing = rgwMissing()
  if (missing === null) return false
  if (process.env.CI === 'true') t.fail(`RGW missing under CI: ${missing}`)
  return `missing: ${missing}`
}

/** An RGW for this test file; stopped in teardown when started here. */
export async function useRgw (t: Test): Promise<RgwEnv> {
  const file = process.env.DSMIRROR_TEST_S3_ENV_FILE
  if (file !== undefined) return toEnv(parseExports(await readFile(file, 'utf8')))
  const dir = await mkdtemp(join(tmpdir(), 'dsm-rgw-'))
  const [rgw, v2, v1] = [await freePort(), await freePort(), await freePort()]
  const env = { ...process.env, RGW_PORT: String(rgw), MON_V2_PORT: String(v2), MON_V1_PORT: String(v1), MEMSTORE_BYTES: String(1024 * 1024 * 1024) }
  t.teardown(async () => {
    await run('bash', [RGW_SH, 'stop', dir], { env, timeout: 30_000 }).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  const { stdout } = await run('bash', [RGW_SH, 'start', dir], { env, timeout: RGW_START_TIMEOUT_MS })
  return toEnv(parseExports(stdout))
}
