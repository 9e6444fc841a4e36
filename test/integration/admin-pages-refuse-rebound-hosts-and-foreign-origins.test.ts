// DNS rebinding (issue 12 item 5): a page at rebind.evil.example whose name now points at
// 127.0.0.1 is a loopback peer, but it sends `Host: rebind.evil.example`. With no admin.token,
// such requests could start a prefetch, delete an entry and read /_/api/status. Now every /_/
// page but healthz, ca.pem and metrics answers 403 DSM_ADMIN_HOST_NOT_ALLOWED to a Host that does
// not name the server, and a change whose Origin is not the server's own gets 403 DSM_ADMIN_ORIGIN.
// Every request goes to 127.0.0.1; only the Host and Origin headers vary.
import t from 'tap'
import { request, type ClientResponse } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const TOKEN = '9c1d07be24e6a8b5d2c4e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2af3a'
const EVIL = 'rebind.evil.example'

function codeOf (res: ClientResponse): string | undefined {
  try {
    return (JSON.parse(res.body.toString()) as { code?: string }).code
  } catch {
    return undefined
  }
}

async function call (proxy: TestProxy, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<ClientResponse> {
  return await request(`${proxy.origin}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: Buffer.from(JSON.stringify(body)) })
  })
}

t.test('no admin.token: a rebound name can neither change nor read the admin pages', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  upstream.set('/kept.bin', { body: Buffer.from('kept') })
  upstream.set('/new.bin', { body: Buffer.from('new') })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(() => proxy.close({ remove: true }))
  const port = new URL(proxy.origin).port
  t.equal((await request(proxy.mirrorUrl(upstream.host, '/kept.bin'))).status, 200)
  await proxy.idle()
  const [entry] = proxy.app.dsmirror.store.list()
  const evil = { host: `${EVIL}:${port}`, origin: `http://${EVIL}:${port}` }

  const prefetch = await call(proxy, 'POST', '/_/api/prefetch', evil, { urls: [`/${upstream.host}/new.bin`] })
  t.same([prefetch.status, codeOf(prefetch)], [403, 'DSM_ADMIN_HOST_NOT_ALLOWED'], 'prefetch is refused')
  const del = await call(proxy, 'DELETE', `/_/api/entries/${entry?.key ?? ''}`, evil)
  t.same([del.status, codeOf(del)], [403, 'DSM_ADMIN_HOST_NOT_ALLOWED'], 'delete is refused')
  for (const path of ['/_/', '/_/?part=live', '/_/api/status', '/_/api/entries', '/_/api/downloads']) {
    const read = await call(proxy, 'GET', path, { host: evil.host })
    t.same([read.status, codeOf(read)], [403, 'DSM_ADMIN_HOST_NOT_ALLOWED'], `GET ${path} is refused`)
    t.notMatch(read.body.toString(), 'kept.bin', `GET ${path} shows no cached URL`)
  }
  await proxy.idle()
  t.equal(upstream.count('/new.bin'), 0, 'nothing was prefetched')
  t.equal(proxy.app.dsmirror.store.list().length, 1, 'nothing was deleted')

  for (const path of ['/_/healthz', '/_/metrics']) {
    t.equal((await call(proxy, 'GET', path, { host: evil.host })).status, 200, `${path} answers any Host (probes, scrapers)`)
  }
  const ca = await call(proxy, 'GET', '/_/ca.pem', { host: evil.host })
  t.not(codeOf(ca), 'DSM_ADMIN_HOST_NOT_ALLOWED', '/_/ca.pem answers any Host')

  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST.:${port}`, `[::1]:${port}`, `10.0.0.5:${port}`, `dev.localhost:${port}`, 'localhost']) {
    const read = await call(proxy, 'GET', '/_/api/status', { host })
    t.equal(read.status, 200, `Host ${host} reads /_/api/status`)
  }
  const ok = await call(proxy, 'DELETE', `/_/api/entries/${entry?.key ?? ''}`, { host: `localhost:${port}`, origin: `http://localhost:${port}` })
  t.equal(ok.status, 200, 'the server\'s own page, at localhost, may delete')
})

t.test('changes must come from the server\'s own origin when an Origin is sent', async (t) => {
  const proxy = await startProxy()
  t.teardown(() => proxy.close({ remove: true }))
  const port = new URL(proxy.origin).port
  const host = `127.0.0.1:${port}`
  const key = '0'.repeat(64)
  for (const origin of ['http://evil.example', `https://${host}`, `http://127.0.0.1:${Number(port) + 1}`, 'null', 'not a url']) {
    const res = await call(proxy, 'DELETE', `/_/api/entries/${key}`, { host, origin })
    t.same([res.status, codeOf(res)], [403, 'DSM_ADMIN_ORIGIN'], `Origin ${origin} is refused`)
  }
  const sameOrigin: Array<Record<string, string>> = [{ host }, { host, origin: `http://${host}` }, { host, origin: `HTTP://127.0.0.1:${port}` }]
  for (const headers of sameOrigin) {
    const res = await call(proxy, 'DELETE', `/_/api/entries/${key}`, headers)
    t.same([res.status, codeOf(res)], [404, 'DSM_ADMIN_NOT_FOUND'], `${JSON.stringify(headers)} reaches the route`)
  }
  const read = await call(proxy, 'GET', '/_/api/entries', { host, origin: 'http://evil.example' })
  t.equal(read.status, 200, 'a read with a foreign Origin is left to the browser\'s same-origin policy')
})

t.test('configured names pass; a right admin.token passes from any name', async (t) => {
  const proxy = await startProxy({ config: { admin: { token: TOKEN, allowedHosts: ['mirror.corp', '*.mirrors.corp.example'] }, tls: { hostnames: ['localhost', 'team.corp.example'] } } })
  t.teardown(() => proxy.close({ remove: true }))
  const port = new URL(proxy.origin).port
  for (const name of ['mirror.corp', 'MIRROR.corp', 'eu.mirrors.corp.example', 'team.corp.example']) {
    t.equal((await call(proxy, 'GET', '/_/api/entries', { host: `${name}:${port}` })).status, 200, `${name} (configured) reads`)
  }
  for (const name of ['a.eu.mirrors.corp.example', 'mirrors.corp.example', 'mirror.corp.evil.example', EVIL]) {
    const res = await call(proxy, 'GET', '/_/api/entries', { host: `${name}:${port}` })
    t.same([res.status, codeOf(res)], [403, 'DSM_ADMIN_HOST_NOT_ALLOWED'], `${name} is refused`)
  }
  const withToken = await call(proxy, 'GET', '/_/api/entries', { host: `${EVIL}:${port}`, authorization: `Bearer ${TOKEN}` })
  t.equal(withToken.status, 200, 'the right token passes whatever the Host (a team server reached by any name)')
  const wrongToken = await call(proxy, 'GET', '/_/api/entries', { host: `${EVIL}:${port}`, authorization: 'Bearer wrong' })
  t.same([wrongToken.status, codeOf(wrongToken)], [403, 'DSM_ADMIN_HOST_NOT_ALLOWED'], 'a wrong token does not')
})

t.test('tls.mode files: the names of the served certificate pass over HTTPS', async (t) => {
  const pki = await getTestPki()
  const proxy = await startProxy({ https: true, config: { tls: { mode: 'files', certFile: pki.files.wrongNameCert, keyFile: pki.files.wrongNameKey } } })
  t.teardown(() => proxy.close({ remove: true }))
  const port = new URL(proxy.httpsOrigin ?? '').port
  const overTls = await request(`${proxy.httpsOrigin ?? ''}/_/api/status`, { ca: pki.rootCa.certPem, servername: 'wrong.example', headers: { host: `wrong.example:${port}` } })
  t.equal(overTls.status, 200, 'wrong.example, the certificate\'s name, reads over HTTPS')
  const overHttp = await call(proxy, 'GET', '/_/api/status', { host: `wrong.example:${new URL(proxy.origin).port}` })
  t.same([overHttp.status, codeOf(overHttp)], [403, 'DSM_ADMIN_HOST_NOT_ALLOWED'], 'but not over plain HTTP, where no certificate vouches for it')
})
