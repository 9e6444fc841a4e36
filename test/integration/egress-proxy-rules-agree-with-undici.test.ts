// config/egress-proxy.ts restates undici's EnvHttpProxyAgent rules (HTTPS_PROXY, HTTP_PROXY,
// NO_PROXY) because the cold path's own client takes only the origins undici would reach
// directly, and `dsmirror doctor` tests through the proxy undici would use. If the two disagreed,
// a download would leave by another route than the rest of its traffic. So each spelling below is
// sent through a real EnvHttpProxyAgent to a local origin, with a local egress proxy that counts
// the connections it gets, and the route undici took must be the one envProxyFor names.
import { createServer, type Server } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import t from 'tap'
import { EnvHttpProxyAgent, request } from 'undici'
import { envProxyFor, envValue } from '../../config/egress-proxy.js'

async function listen (server: net.Server | Server): Promise<number> {
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  return (server.address() as AddressInfo).port
}

t.test('NO_PROXY, HTTP_PROXY and HTTPS_PROXY: the route undici takes is the one envProxyFor names', async (t) => {
  // Connections, not requests: a direct https attempt reaches this plain server as a connection.
  let originConnections = 0
  const origin = createServer((_req, res) => { res.end('ok') })
  origin.on('connection', () => { originConnections++ })
  const originPort = await listen(origin)
  let proxyConnections = 0
  // It refuses every tunnel (a dropped connection would only be retried).
  const proxy = net.createServer((socket) => {
    proxyConnections++
    socket.on('error', () => {})
    socket.once('data', () => { socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n') })
  })
  const proxyPort = await listen(proxy)
  t.teardown(() => { origin.close(); proxy.close(); origin.closeAllConnections() })
  const proxyUrl = `http://127.0.0.1:${proxyPort}`
  // Every name is dialled at the origin: no resolver is asked for these names.
  const lookup = (_host: string, options: unknown, callback: (err: Error | null, address: string | Array<{ address: string, family: number }>, family?: number) => void): void => {
    if (typeof options === 'object' && options !== null && 'all' in options && options.all === true) callback(null, [{ address: '127.0.0.1', family: 4 }])
    else callback(null, '127.0.0.1', 4)
  }

  const host = 'files.corp.test'
  const cases: Array<[string, Record<string, string>, string, ('http' | 'https')?]> = [
    ['no NO_PROXY', { HTTP_PROXY: proxyUrl }, host],
    ['no proxy at all', {}, host],
    ['only HTTPS_PROXY, an http origin', { HTTPS_PROXY: proxyUrl }, host],
    ['* alone', { HTTP_PROXY: proxyUrl, NO_PROXY: '*' }, host],
    ['* in a list is no wildcard', { HTTP_PROXY: proxyUrl, NO_PROXY: '*, a.test' }, host],
    ['the name', { HTTP_PROXY: proxyUrl, NO_PROXY: host }, host],
    ['upper case', { HTTP_PROXY: proxyUrl, NO_PROXY: 'FILES.Corp.TEST' }, host],
    ['.suffix', { HTTP_PROXY: proxyUrl, NO_PROXY: '.corp.test' }, host],
    ['*.suffix', { HTTP_PROXY: proxyUrl, NO_PROXY: '*.corp.test' }, host],
    ['a parent without a dot', { HTTP_PROXY: proxyUrl, NO_PROXY: 'corp.test' }, host],
    ['the entry itself', { HTTP_PROXY: proxyUrl, NO_PROXY: 'corp.test' }, 'corp.test'],
    ['a mere string suffix', { HTTP_PROXY: proxyUrl, NO_PROXY: 'orp.test' }, host],
    ['the port', { HTTP_PROXY: proxyUrl, NO_PROXY: `${host}:${originPort}` }, host],
    ['another port', { HTTP_PROXY: proxyUrl, NO_PROXY: `${host}:${originPort + 1}` }, host],
    ['port 0 (none)', { HTTP_PROXY: proxyUrl, NO_PROXY: `${host}:0` }, host],
    ['a comma list', { HTTP_PROXY: proxyUrl, NO_PROXY: `a.test,${host}` }, host],
    ['a space list', { HTTP_PROXY: proxyUrl, NO_PROXY: `a.test  ${host}` }, host],
    ['an IP literal', { HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' }, '127.0.0.1'],
    ['an IP by "suffix"', { HTTP_PROXY: proxyUrl, NO_PROXY: '.0.0.1' }, '127.0.0.1'],
    ['lower-case variables', { http_proxy: proxyUrl, no_proxy: host }, host],
    ['https through HTTP_PROXY when HTTPS_PROXY is unset', { HTTP_PROXY: proxyUrl }, host, 'https'],
    ['https through HTTPS_PROXY', { HTTPS_PROXY: proxyUrl }, host, 'https'],
    ['https, NO_PROXY', { HTTPS_PROXY: proxyUrl, NO_PROXY: '.test' }, host, 'https'],
    ['https, HTTP_PROXY only and NO_PROXY', { HTTP_PROXY: proxyUrl, NO_PROXY: host }, host, 'https']
  ]
  for (const [label, env, name, scheme = 'http'] of cases) {
    const url = new URL(`${scheme}://${name}:${originPort}/x`)
    // The variables go to undici as Upstream passes them (explicit values; empty means none).
    const agent = new EnvHttpProxyAgent({
      httpProxy: envValue(env, 'HTTP_PROXY'),
      httpsProxy: envValue(env, 'HTTPS_PROXY'),
      noProxy: envValue(env, 'NO_PROXY'),
      connect: { lookup: lookup as net.LookupFunction }
    })
    const before = { proxy: proxyConnections, origin: originConnections }
    try {
      const res = await request(url, { dispatcher: agent, signal: AbortSignal.timeout(5000) })
      await res.body.text()
    } catch {
      // The proxy refuses every tunnel; https meets a plain HTTP origin.
    } finally {
      await agent.destroy()
    }
    const undiciRoute = proxyConnections > before.proxy ? 'proxy' : originConnections > before.origin ? 'direct' : 'neither'
    t.equal(envProxyFor(env, url) === '' ? 'direct' : 'proxy', undiciRoute, `${label} (${JSON.stringify(env)}): ${undiciRoute}`)
  }
})
