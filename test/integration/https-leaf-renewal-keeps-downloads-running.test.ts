// tls.mode auto renews the leaf inside the running server (setSecureContext at 2/3 of its life):
// with a leaf lifetime of 2 s, new connections are served new certificates, each verifying
// against the local CA, while one long download over HTTPS, started on the first certificate,
// continues unbroken to the last byte (sha256 of what the client received).
import type { X509Certificate } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { openResponse } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { servedCertificate } from '../helpers/tls-probe.js'
import { startUpstream } from '../helpers/upstream.js'

const LEAF_LIFETIME = '2s'
const BODY_BYTES = 3 * 1024 * 1024
const PROBE_EVERY_MS = 100

t.test('the served leaf is renewed while a long HTTPS download continues', async (t) => {
  const upstream = await startUpstream()
  const body = makeBytes(BODY_BYTES, 7)
  // About 3 s: at least one renewal happens while it runs (at 2/3 of the leaf's life).
  upstream.set('/data/train.tar', { body, throttleBytesPerSec: 1024 * 1024, chunkSize: 32 * 1024 })
  const proxy = await startProxy({
    https: true,
    allowHosts: [upstream.host],
    config: { tls: { leafLifetime: LEAF_LIFETIME } },
    // The production floor (MIN_LEAF_LIFETIME_MS, 1 h) would refuse a 2 s leaf.
    httpsDeps: { minLeafLifetimeMs: 0 }
  })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const httpsOrigin = proxy.httpsOrigin ?? ''
  const caPem = await readFile(join(proxy.dataDir, 'ca', 'ca.pem'), 'utf8')

  const { res } = await openResponse(`${httpsOrigin}/${upstream.host}/data/train.tar`, { ca: caPem })
  t.equal(res.statusCode, 200)
  const downloadCert = (res.socket as TLSSocket).getPeerX509Certificate()
  const received: Buffer[] = []
  let failure: string | undefined
  res.on('data', (chunk: Buffer) => { received.push(chunk) })
  res.on('aborted', () => { failure ??= 'aborted' })
  res.on('error', (err: Error) => { failure ??= err.message })
  const ended = new Promise<void>((resolve) => { res.on('close', resolve) })

  // New connections meanwhile: each handshake verifies against the local CA alone.
  const served: X509Certificate[] = []
  const state = { done: false }
  void ended.then(() => { state.done = true })
  while (!state.done) {
    served.push(await servedCertificate(httpsOrigin, caPem))
    await sleep(PROBE_EVERY_MS)
  }
  await ended
  const endedAt = Date.now()

  t.equal(failure, undefined, 'the download was not interrupted')
  t.ok(res.complete, 'the response ended cleanly')
  const got = Buffer.concat(received)
  t.equal(got.length, BODY_BYTES)
  t.equal(sha256(got), sha256(body), 'every byte arrived intact')

  const serials = new Set(served.map((cert) => cert.serialNumber))
  t.ok(serials.size >= 2, `new connections were served ${serials.size} different leaves`)
  t.ok(downloadCert !== undefined && [...serials].some((serial) => serial !== downloadCert.serialNumber),
    'new connections moved on from the certificate the download started with')
  t.ok(downloadCert !== undefined && Date.parse(downloadCert.validTo) < endedAt, 'the download went on past the expiry of its own leaf')
  t.ok(served.every((cert) => cert.subjectAltName === 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1'), 'every leaf is for tls.hostnames')
  t.ok(served.every((cert, i) => i === 0 || Date.parse(cert.validTo) >= Date.parse(served[i - 1]?.validTo ?? '')), 'a renewal never goes back to an older leaf')
  t.match(await readFile(join(proxy.dataDir, 'ca', 'leaf.pem'), 'utf8'), /BEGIN CERTIFICATE/, 'the served leaf is on disk for certs show')
})

t.test('closing the proxy stops the renewal timer', async (t) => {
  const proxy = await startProxy({ https: true, config: { tls: { leafLifetime: LEAF_LIFETIME } }, httpsDeps: { minLeafLifetimeMs: 0 } })
  const tls = proxy.https?.tls
  const renewsAt = Date.parse(String(tls?.describe().renewsAt))
  t.ok(renewsAt > Date.now(), 'a renewal is scheduled while it runs')
  const leafFile = join(proxy.dataDir, 'ca', 'leaf.pem')
  await proxy.close()
  t.teardown(() => rm(proxy.dataDir, { recursive: true, force: true }))
  const leafAtClose = await readFile(leafFile, 'utf8')
  t.equal(proxy.https?.server.listening, false, 'the HTTPS server is closed by app.close()')
  t.equal(tls?.describe().renewsAt, undefined, 'no renewal is scheduled after close')
  // Past the time the renewal was due, nothing has issued a new leaf.
  while (Date.now() < renewsAt + 2 * PROBE_EVERY_MS) await sleep(PROBE_EVERY_MS)
  t.equal(await readFile(leafFile, 'utf8'), leafAtClose, 'no leaf was issued after close')
})
