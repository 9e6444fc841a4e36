// Issue 12 item 13: a miss whose download fails after the headers went out carries
// `Cache-Status: dsmirror; fwd=miss; stored` (sent before anyone knew), but nothing was stored
// and the client's connection was aborted. Its request log line must say so: `aborted: true`,
// the code it was aborted with, and a cache status without `stored`.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeBytes } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { captureLog } from '../helpers/log-capture.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const SIZE = 1024 * 1024
const POLL_MS = 20

for (const [name, contentLength] of [['with Content-Length', undefined], ['chunked, without Content-Length', 'omit']] as const) {
  t.test(`the log line of a response aborted by a failed download does not say stored (${name})`, async (t) => {
    const upstream = await startUpstream()
    // Cut on every attempt: no resume can make progress, so the download fails after the headers.
    upstream.set('/cut/data.bin', { body: makeBytes(SIZE, 7), cutAt: [SIZE / 2, 0, 0, 0], ...(contentLength === undefined ? {} : { contentLength }) })
    const log = captureLog()
    const proxy = await startProxy({ allowHosts: [upstream.host], config: { upstream: { retries: 1 }, log: { level: 'info' } }, logStream: log.stream })
    t.teardown(async () => { await proxy.close({ remove: true }); await upstream.close() })

    const res = await request(proxy.mirrorUrl(upstream.host, '/cut/data.bin'))
    t.equal(res.status, 200, 'the headers went out before the failure')
    t.equal(res.complete, false, 'the body is aborted, never ended cleanly')
    await proxy.idle()
    t.equal(proxy.app.dsmirror.store.list().length, 0, 'nothing was stored')

    const path = `/${upstream.host}/cut/data.bin`
    // The server sees its side of the connection close a moment after the client does.
    for (let i = 0; i < 100 && !log.lines().some((l) => l.msg === 'request' && l.url === path); i++) await sleep(POLL_MS)
    const lines = log.lines().filter((l) => l.msg === 'request' && l.url === path)
    t.equal(lines.length, 1, 'one line for the request')
    const line = lines[0]
    t.equal(line?.aborted, true, 'the line says the response was aborted')
    t.notMatch(String(line?.cache), /stored/, 'and does not claim the body was stored')
    t.equal(line?.code, 'DSM_UPSTREAM_INCOMPLETE', 'it names the code the client was aborted with')
  })
}
