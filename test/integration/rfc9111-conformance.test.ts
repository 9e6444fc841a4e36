// Issue #13: RFC 9111/9110 conformance for mutable responses, table-driven. Each row (under
// test/integration/rfc9111/, one file per section of the issue) scripts the origin, sends the
// client's requests through a named mirror, and checks what the client got and what the origin
// received; each row cites its RFC section. The origin is a real HTTPS server on 127.0.0.1 with
// the per-run test CA; it answers per row from the row's script and records every request.
// A row marked `todo` failed on the code it was written against; the fix removes the mark.
import { once } from 'node:events'
import https from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import t, { type Test } from 'tap'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { expandTokens, type HeaderExpect, type OriginRequest, type Row, type Scripted, type Section } from './rfc9111/table.js'
import { SECTIONS } from './rfc9111/sections.js'
import { STILL_FAILING } from './rfc9111/todo.js'

const MIRROR = 'origin'

interface RowState {
  row: Row
  requests: OriginRequest[]
}

const rows = new Map<string, RowState>()

const pki = await getTestPki()
const server = https.createServer({ cert: pki.leaf.certPem, key: pki.leaf.keyPem })
server.on('request', (req: IncomingMessage, res: ServerResponse) => {
  const path = req.url ?? '/'
  // The row is named by the first two segments: /<section>/<id>[.ext][/more][?query].
  const [, section = '', rest = ''] = path.split('/')
  const id = rest.split(/[.?]/)[0] ?? ''
  const state = rows.get(`${section}/${id}`)
  // Bodies are read (and dropped) so the connection stays usable.
  req.resume()
  if (state === undefined) {
    res.writeHead(404, { 'content-length': '0' })
    res.end()
    return
  }
  const headers: Record<string, string> = {}
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? '').toLowerCase()
    const value = req.rawHeaders[i + 1] ?? ''
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  const seen: OriginRequest = { method: req.method ?? 'GET', path, headers }
  const index = state.requests.length
  state.requests.push(seen)
  const script = state.row.origin
  const scripted: Scripted = typeof script === 'function' ? script(seen, index) : (script[Math.min(index, script.length - 1)] ?? {})
  const status = scripted.status ?? 200
  const body = Buffer.from(scripted.body ?? `r${index}`, 'latin1')
  const now = Date.now()
  const raw: string[] = []
  const names = new Set<string>()
  for (const [name, value] of scripted.headers ?? []) {
    raw.push(name, expandTokens(value, now).replace('{origin}', `https://${originHost}`))
    names.add(name.toLowerCase())
  }
  if (scripted.noDate !== true && !names.has('date')) raw.push('Date', new Date(now).toUTCString())
  const bodyless = status === 304 || status === 204 || req.method === 'HEAD'
  if (scripted.noLength !== true && !names.has('content-length') && status !== 304 && status !== 204) {
    raw.push('Content-Length', String(body.length))
  }
  if (scripted.noLength === true) raw.push('Connection', 'close')
  res.writeHead(status, raw)
  res.end(bodyless ? undefined : body)
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const address = server.address()
if (address === null || typeof address === 'string') throw new Error('origin: no TCP address')
const originHost = `127.0.0.1:${address.port}`

const proxies = new Map<string, Promise<TestProxy>>()
async function proxyFor (config: Record<string, unknown> = {}): Promise<TestProxy> {
  const key = JSON.stringify(config)
  let proxy = proxies.get(key)
  if (proxy === undefined) {
    proxy = startProxy({
      allowHosts: [originHost],
      config: { ...config, mirrors: { [MIRROR]: { url: `https://${originHost}/` } } }
    })
    proxies.set(key, proxy)
  }
  return await proxy
}
t.teardown(async () => {
  for (const proxy of proxies.values()) await (await proxy.catch(() => null))?.close({ remove: true })
  const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  server.closeAllConnections()
  await closed
})

function matches (actual: string | string[] | undefined, expected: HeaderExpect): boolean {
  if (expected === null) return actual === undefined
  if (actual === undefined) return false
  const text = Array.isArray(actual) ? actual.join('\n') : actual
  return typeof expected === 'string' ? text === expected : expected.test(text)
}

const show = (value: unknown): string => value === undefined ? '(absent)' : JSON.stringify(value, (_k, v: unknown) => v instanceof RegExp ? String(v) : v)

async function runRow (tt: Test, section: Section, row: Row): Promise<void> {
  const state: RowState = { row, requests: [] }
  const base = `/${section.name}/${row.id}${row.ext ?? ''}`
  rows.set(`${section.name}/${row.id}`, state)
  const proxy = await proxyFor(row.config)
  for (const [n, step] of row.steps.entries()) {
    const before = state.requests.length
    const path = base + (step.suffix ?? '')
    const url = step.via === 'host' ? proxy.mirrorUrl(originHost, path) : `${proxy.origin}/${MIRROR}${path}`
    const res = await request(url, {
      method: step.method ?? 'GET',
      ...(step.headers !== undefined ? { headers: Object.fromEntries(Object.entries(step.headers).map(([k, v]) => [k, expandTokens(v, Date.now())])) } : {}),
      ...(step.body !== undefined ? { body: Buffer.from(step.body) } : {})
    })
    await proxy.idle()
    const label = `step ${n + 1} (${step.method ?? 'GET'} ${path})`
    const { expect } = step
    if (expect.status !== undefined) tt.equal(res.status, expect.status, `${label}: status`)
    if (expect.body !== undefined) tt.equal(res.body.toString('latin1'), expect.body, `${label}: body`)
    if (expect.cacheStatus !== undefined) tt.match(res.headers['cache-status'], expect.cacheStatus, `${label}: Cache-Status`)
    for (const [name, expected] of Object.entries(expect.headers ?? {})) {
      tt.ok(matches(res.headers[name], expected), `${label}: ${name} is ${show(res.headers[name])}, expected ${show(expected)}`)
    }
    if (step.originCount !== undefined) tt.equal(state.requests.length, step.originCount, `${label}: origin requests so far`)
    if (step.originSaw !== undefined) {
      const last = state.requests.length > before ? state.requests[state.requests.length - 1] : undefined
      tt.ok(last !== undefined, `${label}: the origin was asked`)
      for (const [name, expected] of Object.entries(step.originSaw)) {
        tt.ok(matches(last?.headers[name], expected), `${label}: origin saw ${name} ${show(last?.headers[name])}, expected ${show(expected)}`)
      }
    }
  }
}

const ids = new Set<string>()
// RFC9111_ONLY=id,id runs those rows only (while working on one class).
const only = process.env.RFC9111_ONLY?.split(',') ?? null
for (const section of SECTIONS) {
  await t.test(`${section.name}: ${section.title}`, async (st) => {
    for (const row of section.rows) {
      const key = `${section.name}/${row.id}`
      if (ids.has(key)) throw new Error(`duplicate row ${key}`)
      ids.add(key)
      if (only !== null && !only.includes(row.id)) continue
      // RFC9111_ALL=1 runs todo rows as ordinary ones, to see which pass (the before/after counts).
      const reason = row.todo ?? STILL_FAILING[key]
      const todo = reason !== undefined && process.env.RFC9111_ALL !== '1'
      await st.test(`${row.id} [${row.rfc}] ${row.title}`, todo ? { todo: reason } : {}, async (tt) => {
        await runRow(tt, section, row)
      })
    }
  })
}
