// config/egress-proxy.ts: the spellings the integration test cannot serve from 127.0.0.1 (default
// ports, IPv6 literals). egress-proxy-rules-agree-with-undici.test.ts checks the rest against undici.
import t from 'tap'
import { envProxyFor, noProxyMatches } from '../../config/egress-proxy.js'

t.test('NO_PROXY: default ports, IPv6 literals, and what matches nothing', async (t) => {
  t.ok(noProxyMatches('example.org:443', new URL('https://example.org/')), 'https: port 443 when the URL has none')
  t.notOk(noProxyMatches('example.org:443', new URL('http://example.org/')), 'http: port 80')
  t.ok(noProxyMatches('example.org:80', new URL('http://example.org/')))
  t.ok(noProxyMatches('[::1]', new URL('https://[::1]:8443/')), 'an IPv6 literal keeps its brackets')
  t.ok(noProxyMatches('[::1]:8443', new URL('https://[::1]:8443/')))
  t.notOk(noProxyMatches('::1', new URL('https://[::1]/')), 'unbracketed, it is read as host ":" and port 1')
  t.notOk(noProxyMatches('', new URL('https://example.org/')))
  t.notOk(noProxyMatches(' , ', new URL('https://example.org/')))
  t.ok(noProxyMatches('*', new URL('https://anything.example/')))
})

t.test('which proxy a scheme takes', async (t) => {
  const https = new URL('https://hf.co/x')
  const http = new URL('http://mirror.corp/x')
  t.equal(envProxyFor({ HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://q:2' }, https), 'http://p:1')
  t.equal(envProxyFor({ HTTP_PROXY: 'http://q:2' }, https), 'http://q:2', 'https falls back to HTTP_PROXY')
  t.equal(envProxyFor({ HTTPS_PROXY: 'http://p:1' }, http), '', 'http never takes HTTPS_PROXY')
  t.equal(envProxyFor({ https_proxy: 'http://p:1' }, https), 'http://p:1', 'lower case too')
  t.equal(envProxyFor({ HTTPS_PROXY: 'http://P:1', https_proxy: 'http://p:1' }, https), 'http://P:1', 'upper case first, as Upstream passes them to undici')
  t.equal(envProxyFor({ HTTPS_PROXY: 'http://p:1', NO_PROXY: 'hf.co' }, https), '')
})
