// A committed body on local disk is pumped with reused 1 MiB buffers (file-pump.ts); an S3 body
// (StoredBody.remote) is streamed in 8 MiB ranged GETs instead, since every `read` of it is a
// signed request: bench:s3 measured the pump at one GET per MiB (64 MB/s, 9.6 CPU s/GiB).
import { Readable } from 'node:stream'
import t from 'tap'
import type { EntryMeta, StoredBody } from '../../server/cache/cache-store.js'
import { storedObject } from '../../server/cache/serve-object.js'

function body (remote: boolean | undefined): StoredBody {
  const meta = { key: 'k', size: 3, headers: { 'content-type': 'text/plain' }, etag: '"e"', lastModified: null } as unknown as EntryMeta
  return {
    meta,
    size: 3,
    ...(remote === undefined ? {} : { remote }),
    read: async () => 0,
    stream: () => Readable.from([Buffer.from('abc')]),
    close: async () => {}
  }
}

t.test('a local body is pumped, a remote one streamed', async (t) => {
  t.ok(storedObject(body(undefined)).pump !== undefined, 'local: pumped from the file')
  t.ok(storedObject(body(false)).pump !== undefined, 'remote: false is local')
  t.equal(storedObject(body(true)).pump, undefined, 'remote: no pump, so sendObject streams it')
  t.same(storedObject(body(true), { headers: { 'x-a': '1' }, etag: null, lastModified: null }).headers, { 'x-a': '1' }, 'described as the caller says')
})
