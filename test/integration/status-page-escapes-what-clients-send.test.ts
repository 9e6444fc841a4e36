// The status page shows request targets, upstream URLs and Host-derived snippets, all of which a
// client chooses: every one is escaped, the page runs only its own nonce'd script, and its facts
// (listeners, CA fingerprint) are the server's real ones (docs/design.md "Operations").
import { X509Certificate } from 'node:crypto'
import t from 'tap'
import { request } from '../helpers/http-client.js'
import { startProxy } from '../helpers/proxy.js'
import { rawRequest } from '../helpers/raw-http.js'
import { startUpstream } from '../helpers/upstream.js'

const ATTACK = '<svg/onload=alert(1)>'

function curlSnippet (res: { body: Buffer }): string {
  return /id="snippet-curl">([^<]*)/.exec(res.body.toString())?.[1] ?? ''
}

t.test('client-chosen strings are escaped; listeners and CA are the real ones', async (t) => {
  const upstream = await startUpstream()
  const proxy = await startProxy({ allowHosts: [upstream.host], https: true })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const port = Number(new URL(proxy.origin).port)

  // A Host that names no server gets no page at all (issue 12 item 5, DNS rebinding).
  const evilHost = await rawRequest(port, ['GET /_/ HTTP/1.1', `host: ${ATTACK}`])
  t.equal(evilHost.status, 403)
  t.match(evilHost.body, '"code":"DSM_ADMIN_HOST_NOT_ALLOWED"')
  // Raw, so the target reaches dsmirror with its '<' and '>' unencoded.
  const refused = await rawRequest(port, [`GET /127.0.0.1:1/${ATTACK}.bin HTTP/1.1`, 'host: x'])
  t.equal(refused.status, 403)

  for (const page of [(await request(`${proxy.origin}/_/`)).body.toString()]) {
    t.notOk(page.includes(ATTACK), 'the attack string never appears unescaped')
    t.ok(page.includes('&#60;svg/onload=alert(1)&#62;'), 'it appears escaped')
  }
  t.match(curlSnippet(await request(`${proxy.origin}/_/`)), /^curl -fO http:\/\/127\.0\.0\.1:\d+\//, 'snippets use the Host the page was opened at')

  const page = await request(`${proxy.origin}/_/`)
  const csp = String(page.headers['content-security-policy'])
  const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1]
  t.ok(nonce !== undefined, `CSP allows only a nonce'd script: ${csp}`)
  const scripts = [...page.body.toString().matchAll(/<script([^>]*)>/g)].map((m) => m[1])
  t.same(scripts, [` nonce="${nonce ?? ''}"`], 'one script, with the nonce')

  const status = JSON.parse((await request(`${proxy.origin}/_/api/status`)).body.toString()) as { listeners: string[], ca: { fingerprint256: string }, errors: Array<{ code: string, url: string }> }
  t.same(status.listeners, [proxy.origin, proxy.httpsOrigin], 'the HTTP and HTTPS listeners, with their real ports')
  const caPem = (await request(`${proxy.origin}/_/ca.pem`)).body.toString()
  t.equal(status.ca.fingerprint256, new X509Certificate(caPem).fingerprint256, 'the fingerprint of the CA /_/ca.pem serves')
  t.match(status.errors, [{ code: 'DSM_HOST_NOT_ALLOWED', url: `/127.0.0.1:1/${ATTACK}.bin` }], 'the refused request is a recent error')
})
