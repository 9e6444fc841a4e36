// A real S3 engine for the tests of the shared store (issue 19 item 5): Ceph RGW from Debian's
// packages, brought up by test/s3/rgw.sh. Three ways, in order:
//   1. DSMIRROR_TEST_S3_ENV_FILE names a file of the `export` lines rgw.sh printed (.ci/run starts
//      one RGW for the whole run and passes only this variable, so no other test's CLI child
//      becomes an S3 replica by inheriting DSMIRROR_STORE_*);
//   2. else, when radosgw is installed, a cluster of this test file's own in a temp dir, on free ports;
//   3. else the tests skip with the reason, and fail under CI=true (like test/e2e's clients).
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { readFile, mkdtemp, rm, access, constants } from 'node:fs/promises'
import { createServer as createTcpServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

const run = promisify(execFile)
const RGW_SH = fileURLToPath(new URL('../s3/rgw.sh', import.meta.url))
const RADOSGW = '/usr/bin/radosgw'
/** rgw.sh measures ~4.5–7 s here; generous for a loaded 2-core CI machine. */
const START_TIMEOUT_MS = 120_000

export interface Rgw {
  /** The DSMIRROR_STORE_* and AWS_* variables rgw.sh printed. */
  env: Record<string, string>
  endpoint: string
  bucket: string
  region: string
}

export function parseExports (text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (m !== null) env[m[1] as string] = (m[2] as string).replace(/^'(.*)'$/, '$1')
  }
  return env
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createTcpServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')) })
    })
  })
}

function fromEnv (env: Record<string, string>): Rgw {
  const need = (name: string): string => {
    const value = env[name]
    if (value === undefined || value === '') throw new Error(`the RGW exports lack ${name}`)
    return value
  }
  return { env, endpoint: need('DSMIRROR_STORE_S3_ENDPOINT'), bucket: need('DSMIRROR_STORE_S3_BUCKET'), region: need('DSMIRROR_STORE_S3_REGION') }
}

/**
 * An RGW for the tests of `t`, or a skip reason (a failure under CI=true). The credentials go into
 * this process's environment (the SDK's default chain is the only way dsmirror takes them) and to
 * CLI children only through `rgw.env`.
 */
export async function useRgw (t: Test): Promise<Rgw | { skip: string }> {
  let env: Record<string, string>
  const file = process.env.DSMIRROR_TEST_S3_ENV_FILE
  if (file !== undefined && file !== '') {
    env = parseExports(await readFile(file, 'utf8'))
  } else {
    const installed = await access(RADOSGW, constants.X_OK).then(() => true, () => false)
    if (!installed) {
      const reason = 'radosgw is not installed (apt-get install ceph-mon ceph-osd radosgw ceph-common), and DSMIRROR_TEST_S3_ENV_FILE is not set'
      if (process.env.CI === 'true') t.fail(`prerequisites missing under CI: ${reason}`)
      return { skip: reason }
    }
    const dir = await mkdtemp(join(tmpdir(), 'dsmirror-rgw-'))
    const ports = { RGW_PORT: await freePort(), MON_V2_PORT: await freePort(), MON_V1_PORT: await freePort() }
    const started = Date.now()
    const { stdout, stderr } = await run('bash', [RGW_SH, 'start', dir], {
      env: { ...process.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) },
      timeout: START_TIMEOUT_MS
    }).catch(async (err: unknown) => {
      await rm(dir, { recursive: true, force: true })
      throw err
    })
    t.comment(`RGW up in ${Date.now() - started} ms on 127.0.0.1:${ports.RGW_PORT} (${stderr.trim().split('\n').at(-1) ?? ''})`)
    t.teardown(async () => {
      await run('bash', [RGW_SH, 'stop', dir], { timeout: 60_000 }).catch(() => {})
      await rm(dir, { recursive: true, force: true })
    })
    env = parseExports(stdout)
  }
  const rgw = fromEnv(env)
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
    const value = env[name]
    if (value !== undefined) process.env[name] = value
  }
  return rgw
}

/** A prefix no other test run or location shares (tests of one RGW never see each other's objects). */
export function uniquePrefix (label: string): string {
  return `test-${randomBytes(6).toString('hex')}-${label}/`
}

/**
 * An engine that ignores conditional writes (issue 19 item 4): RGW behind a front on 127.0.0.1
 * that answers every conditional PutObject 200, whatever RGW said. A front that strips
 * If-None-Match / If-Match cannot stand in: SigV4 signs both headers, so RGW would answer 403
 * SignatureDoesNotMatch and a test would see the unreachable-bucket error instead.
 */
export async function ignoringFront (t: Test, target: URL): Promise<string> {
  let fakes = 0
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const conditional = req.method === 'PUT' && (req.headers['if-none-match'] !== undefined || req.headers['if-match'] !== undefined)
    const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (conditional && answer.statusCode === 412) {
        answer.resume()
        fakes++
        res.writeHead(200, { etag: `"${createHash('md5').update(String(fakes)).digest('hex')}"`, 'content-length': '0' })
        res.end()
        return
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => { res.destroy() })
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
