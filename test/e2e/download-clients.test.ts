// Issue 4, other clients: curl (plain and --range), wget -c resuming a download killed part-way,
// aria2c -x 8 -s 8 (parallel ranged segments of a cold object) and requests streaming, each
// through dsmirror's loopback HTTP listener from a dataset host whose certificate chains to a
// "corporate" root that no client trusts. Every file is sha256-identical to the source, and each
// object left the host once.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { executable, pythonHas, run, runPython, skipUnless, spawnClient } from '../helpers/e2e-clients.js'
import { getTestPki } from '../helpers/pki.js'
import { docSnippet, substitute } from '../helpers/e2e-doc-snippets.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const MIB = 1024 * 1024
const POLL_MS = 20

const pki = await getTestPki()
const upstream = await startUpstream({ tls: pki.otherLeaf })
t.teardown(() => upstream.close())
const proxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { caFiles: [pki.files.otherCa] } } })
t.teardown(() => proxy.close({ remove: true }))
const work = await mkdtemp(join(tmpdir(), 'dsmirror-e2e-clients-'))
t.teardown(async () => { await rm(work, { recursive: true, force: true }) })

/** Registers a fresh object on the dataset host and returns its body and mirror URL. */
function object (name: string, size: number, seed: number, throttleBytesPerSec?: number): { body: Buffer, path: string, url: string } {
  const body = makeBytes(size, seed)
  const path = `/data/${name}`
  upstream.set(path, { body, ...(throttleBytesPerSec === undefined ? {} : { throttleBytesPerSec }) })
  return { body, path, url: proxy.mirrorUrl(upstream.host, path) }
}

const hasCurl = await executable('/usr/bin/curl')
t.test('curl: the dataset host alone is refused; through dsmirror, plain and --range', { skip: skipUnless(t, hasCurl ? [] : ['curl (apt-get install curl)']) }, async (t) => {
  const { body, path, url } = object('curl.bin', 3 * MIB + 17, 41)
  const direct = await run('/usr/bin/curl', ['-sS', '-o', '/dev/null', `${upstream.origin}${path}`])
  t.equal(direct.code, 60, 'curl refuses the corporate certificate (exit 60)')
  const out = join(work, 'curl.bin')
  const plain = await run('/usr/bin/curl', ['-fsS', '-o', out, url])
  t.equal(plain.code, 0, 'curl exits 0', { stderr: plain.stderr })
  t.equal(sha256(await readFile(out)), sha256(body), 'sha256-identical')
  const part = join(work, 'curl.part')
  const ranged = await run('/usr/bin/curl', ['-fsS', '--range', '1000-2000999', '-o', part, url])
  t.equal(ranged.code, 0, 'curl --range exits 0', { stderr: ranged.stderr })
  t.equal(sha256(await readFile(part)), sha256(body.subarray(1000, 2001000)), 'the range is exactly those bytes')
  t.equal(upstream.count(path), 1, 'the object left the dataset host once')
})

const hasWget = await executable('/usr/bin/wget')
t.test('wget -c resumes a download that was killed part-way', { skip: skipUnless(t, hasWget ? [] : ['wget (apt-get install wget)']) }, async (t) => {
  // Throttled upstream: the first wget reads a growing in-flight download and is killed early.
  const size = 6 * MIB
  const { body, path, url } = object('wget.bin', size, 42, 4 * MIB)
  const dir = await mkdtemp(join(work, 'wget-'))
  const file = join(dir, 'wget.bin')
  const first = spawnClient('/usr/bin/wget', ['-q', url], { cwd: dir })
  let partial = 0
  const giveUpAt = Date.now() + 10_000
  while (partial < 256 * 1024 && Date.now() < giveUpAt) {
    await sleep(POLL_MS)
    partial = await stat(file).then((s) => s.size, () => 0)
  }
  first.kill('SIGKILL')
  await new Promise((resolve) => first.once('exit', resolve))
  partial = (await stat(file)).size
  t.ok(partial > 0 && partial < size, `the first wget left a partial file (${partial} of ${size} bytes)`)
  const resumed = await run('/usr/bin/wget', ['-c', url], { cwd: dir })
  t.equal(resumed.code, 0, 'wget -c exits 0', { stderr: resumed.stderr })
  t.match(resumed.stderr, /206 Partial Content/, 'wget -c asked for the rest with a Range request')
  t.equal(sha256(await readFile(file)), sha256(body), 'sha256-identical')
  t.equal(upstream.count(path), 1, 'the object left the dataset host once')
})

const hasAria2 = await executable('/usr/bin/aria2c')
t.test('aria2c -x 8 -s 8 on a cold object', { skip: skipUnless(t, hasAria2 ? [] : ['aria2c (apt-get install aria2)']) }, async (t) => {
  // Throttled so the eight ranged segments are served while the one upstream download runs.
  const { body, path, url } = object('aria2.bin', 8 * MIB, 43, 8 * MIB)
  const dir = await mkdtemp(join(work, 'aria2-'))
  const log = join(dir, 'aria2.log')
  const r = await run('/usr/bin/aria2c', ['-x', '8', '-s', '8', '-k', '1M', '--console-log-level=warn', '--summary-interval=0', '--log-level=debug', `--log=${log}`, '-d', dir, '-o', 'aria2.bin', url])
  t.equal(r.code, 0, 'aria2c exits 0', { stdout: r.stdout, stderr: r.stderr })
  // aria2c's debug log holds every request it sent; 'parallel segments' means several Ranges.
  const ranges = new Set((await readFile(log, 'utf8')).match(/^Range: bytes=\d+-\d*/gm) ?? [])
  t.ok(ranges.size >= 4, `aria2c fetched it in parallel ranged segments (${ranges.size} distinct Range headers)`)
  t.equal(sha256(await readFile(join(dir, 'aria2.bin'))), sha256(body), 'sha256-identical')
  t.equal(upstream.count(path), 1, 'the object left the dataset host once')
})

const hasRequests = await pythonHas('requests')
t.test('requests with stream=True', { skip: skipUnless(t, hasRequests ? [] : ['python3-requests (apt-get install python3-requests)']) }, async (t) => {
  const { body, path, url } = object('requests.bin', 5 * MIB + 3, 44, 16 * MIB)
  const r = await runPython(`import hashlib, requests
h = hashlib.sha256()
with requests.get(${JSON.stringify(url)}, stream=True) as response:
    response.raise_for_status()
    for chunk in response.iter_content(chunk_size=65536):
        h.update(chunk)
print(h.hexdigest())
`)
  t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr })
  t.equal(r.stdout.trim(), sha256(body), 'sha256-identical')
  t.equal(upstream.count(path), 1, 'the object left the dataset host once')
})

t.test('the docs/clients.md curl / wget / aria2c block (e2e:download-tools), run verbatim', { skip: skipUnless(t, [hasCurl ? '' : 'curl', hasWget ? '' : 'wget', hasAria2 ? '' : 'aria2c'].filter((m) => m !== '')) }, async (t) => {
  const body = makeBytes(4 * MIB + 5, 45)
  const path = '/~kriz/cifar-10-python.tar.gz'
  // Throttled so the block's first requests meet the download still in flight.
  upstream.set(path, { body, throttleBytesPerSec: 16 * MIB })
  const dir = await mkdtemp(join(work, 'readme-'))
  const script = substitute(await docSnippet('docs/clients.md', 'download-tools'), [['http://127.0.0.1:8080', proxy.origin], ['www.cs.toronto.edu', upstream.host]])
  const r = await run('/bin/sh', ['-e', '-c', script], { cwd: dir })
  t.equal(r.code, 0, 'the block exits 0', { stdout: r.stdout, stderr: r.stderr })
  for (const name of ['cifar-10-python.tar.gz', 'wget.tar.gz', 'aria2.tar.gz']) {
    t.equal(sha256(await readFile(join(dir, name))), sha256(body), `${name} is sha256-identical`)
  }
  t.equal(sha256(await readFile(join(dir, 'first-mib.bin'))), sha256(body.subarray(0, MIB)), 'the range is the first MiB')
  t.equal(upstream.count(path), 1, 'the object left the dataset host once')
})
