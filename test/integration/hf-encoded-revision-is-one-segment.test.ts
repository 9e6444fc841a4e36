// hf-protocol.md §1.7: `refs/convert/parquet` travels as one segment, `refs%2Fconvert%2Fparquet`,
// in resolve, revision and tree URLs; it is routed and forwarded encoded as it came.
import t from 'tap'
import { request } from 'undici'
import { sha256 } from '../helpers/bytes.js'
import { TINY_CSV, tinyCsvRepo } from '../helpers/hub-fixtures.js'
import { startHfMode } from '../helpers/hf-mode.js'

t.test('refs%2Fconvert%2Fparquet: resolve, revision info and tree', async (t) => {
  const { hub, base, proxy } = await startHfMode(t, { hub: { repos: [tinyCsvRepo()] } })
  const rev = 'refs%2Fconvert%2Fparquet'
  const sha = hub.sha(TINY_CSV, 'refs/convert/parquet', 'dataset')
  const parquet = hub.file(TINY_CSV, 'default/train/0000.parquet', 'refs/convert/parquet', 'dataset')

  const head = await request(`${base}/datasets/${TINY_CSV}/resolve/${rev}/default/train/0000.parquet`, { method: 'HEAD' })
  await head.body.dump()
  t.equal(head.statusCode, 307)
  t.equal(head.headers['x-repo-commit'], sha)
  const get = await request(`${proxy.origin}${String(head.headers.location)}`)
  t.equal(sha256(Buffer.from(await get.body.arrayBuffer())), parquet.sha256)

  const info = await request(`${base}/api/datasets/${TINY_CSV}/revision/${rev}`)
  t.equal((await info.body.json() as { sha?: string }).sha, sha)
  const tree = await request(`${base}/api/datasets/${TINY_CSV}/tree/${rev}?recursive=false&expand=false`)
  t.equal(tree.statusCode, 200)
  await tree.body.dump()
  t.ok(hub.requests.some((r) => r.url.includes(`/revision/${rev}`)), 'forwarded encoded as it came')
})
