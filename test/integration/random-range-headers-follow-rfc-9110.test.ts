// Random Range headers sent to a real proxy over 127.0.0.1, on cached objects, answer what the
// RFC 9110 §14 model (test/helpers/range-model.ts) says: status, Content-Range, Content-Length
// and the bytes, part by part for multipart/byteranges. The unit property covers selectRanges
// with thousands of headers; this one proves the wire says the same (bounded runs).
import { deepStrictEqual, equal, ok } from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { makeBytes } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { parseMultipart } from '../helpers/multipart.js'
import { startProxy } from '../helpers/proxy.js'
import { rangeHeader } from '../helpers/range-headers.js'
import { modelRange } from '../helpers/range-model.js'
import { startUpstream } from '../helpers/upstream.js'

const RUNS = 50
// A body shorter than most suffixes asked for, and one long enough for every shape of range.
const SIZES = [7, 3000]

t.test('property: random Range headers on cached objects get the model\'s answer', async (t) => {
  const upstream = await startUpstream()
  const bodies = SIZES.map((size, i) => makeBytes(size, 40 + i))
  SIZES.forEach((size, i) => { upstream.set(`/range/${size}.bin`, { body: bodies[i] as Buffer }) })
  const proxy = await startProxy({ allowHosts: [upstream.host] })
  t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })
  const urls = SIZES.map((size) => proxy.mirrorUrl(upstream.host, `/range/${size}.bin`))
  for (const url of urls) equal((await request(url)).status, 200)
  await proxy.idle()

  const input = fc.nat(SIZES.length - 1).chain((i) => fc.tuple(fc.constant(i), rangeHeader(SIZES[i] as number)))
  await fc.assert(fc.asyncProperty(input, async ([i, header]) => {
    const size = SIZES[i] as number
    const body = bodies[i] as Buffer
    const res = await request(urls[i] as string, { headers: { range: header } })
    ok(res.complete, 'the response ended cleanly')
    equal(res.headers['cache-status']?.toString().startsWith('dsmirror; hit'), true, 'served from the cache')
    const verdict = modelRange(size, header)
    switch (verdict.kind) {
      case 'ignore':
        equal(res.status, 200)
        equal(res.headers['content-range'], undefined)
        ok(res.body.equals(body), 'the whole body')
        return
      case 'unsatisfiable':
        equal(res.status, 416)
        equal(res.headers['content-range'], `bytes */${size}`)
        return
      case 'partial': {
        equal(res.status, 206)
        equal(Number(res.headers['content-length']), res.body.length, 'Content-Length is exact')
        const [only, ...more] = verdict.ranges
        if (only !== undefined && more.length === 0) {
          equal(res.headers['content-range'], `bytes ${only.start}-${only.end}/${size}`)
          ok(res.body.equals(body.subarray(only.start, only.end + 1)), 'the bytes of the range')
          return
        }
        equal(res.headers['content-range'], undefined)
        ok(/^multipart\/byteranges; boundary=/.test(String(res.headers['content-type'])))
        const parts = parseMultipart(res.body, String(res.headers['content-type']))
        deepStrictEqual(parts.map((p) => p.range), verdict.ranges.map((r) => `bytes ${r.start}-${r.end}/${size}`))
        verdict.ranges.forEach((r, n) => { ok(parts[n]?.bytes.equals(body.subarray(r.start, r.end + 1)), `part ${n}`) })
      }
    }
  }), { numRuns: RUNS })
  t.equal(SIZES.reduce((n, size) => n + upstream.count(`/range/${size}.bin`, 'GET'), 0), SIZES.length, 'one upstream GET per object, every range from the cache')
  t.pass(`${RUNS} runs`)
})
