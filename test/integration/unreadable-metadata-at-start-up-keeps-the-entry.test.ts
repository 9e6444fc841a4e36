// Issue 10 item 6: at start-up, only a missing file or a real mismatch (bad JSON, wrong size)
// drops a cache entry. A metadata file that cannot be read (EACCES after a `cp -r` as another
// user, EIO) keeps the entry's files and is reported. The read error is a real one from the fs:
// a directory in place of the .json file fails with EISDIR even as root (chmod 000 does not).
import { copyFile, mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { makeBytes, sha256 } from '../helpers/bytes.js'
import { request } from '../helpers/http-client.js'
import { captureLog } from '../helpers/log-capture.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('a start-up with an unreadable metadata file keeps the entry\'s body and reports the error', async (t) => {
  const body = makeBytes(256 * 1024, 61)
  const upstream = await startUpstream()
  upstream.set('/u/kept.bin', { body })
  t.teardown(async () => { await upstream.close() })
  const first = await startProxy({ allowHosts: [upstream.host] })
  await request(first.mirrorUrl(upstream.host, '/u/kept.bin'))
  await first.idle()
  const key = first.app.dsmirror.store.list()[0]?.key ?? ''
  const bodyPath = first.app.dsmirror.store.bodyPath(key)
  await first.close()
  // Kept outside the cache directory, where start-up would clear it away as a stray file.
  const saved = join(first.dataDir, 'saved-meta.json')
  await copyFile(`${bodyPath}.json`, saved)
  await rm(`${bodyPath}.json`)
  await mkdir(`${bodyPath}.json`)

  const log = captureLog()
  const second = await startProxy({ allowHosts: [upstream.host], dataDir: first.dataDir, logStream: log.stream, config: { log: { level: 'info' } } })
  const warning = log.lines().find((l) => l.level === 40 && l.key === key)
  t.match(warning, { key, err: { code: 'EISDIR' } }, 'the unreadable metadata is reported with its key and error')
  t.equal((await stat(bodyPath)).size, body.length, "the entry's body is still on disk")
  t.ok((await stat(`${bodyPath}.json`)).isDirectory(), 'the unreadable file is left as it is')
  t.equal(second.app.dsmirror.store.list().length, 0, 'an entry without readable metadata is not served')
  await second.close()

  // Once the file is readable again, the entry is back: nothing was lost.
  await rm(`${bodyPath}.json`, { recursive: true })
  await copyFile(saved, `${bodyPath}.json`)
  const third = await startProxy({ allowHosts: [upstream.host], dataDir: first.dataDir })
  t.teardown(async () => { await third.close({ remove: true }) })
  const hit = await request(third.mirrorUrl(upstream.host, '/u/kept.bin'))
  t.equal(hit.headers['cache-status'], 'dsmirror; hit')
  t.equal(hit.sha256, sha256(body))
  t.equal(upstream.count('/u/kept.bin', 'GET'), 1, 'fetched from upstream once only')
})
