// Issue 19 item 4: `dsmirror doctor` with store.kind s3 reports the store: reachable, the bucket,
// and the conditional-write probe's answer; an engine that ignores conditional writes fails the
// check (exit 1) with DSM_STORE_CONDITIONAL_WRITES_IGNORED's message.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runDsmirror } from '../helpers/cli.js'
import { ignoringFront, useRgw, uniquePrefix } from '../helpers/rgw.js'

const rgw = await useRgw(t)

t.test('dsmirror doctor reports the S3 store and its probe', { skip: 'skip' in rgw ? rgw.skip : false }, async (t) => {
  if ('skip' in rgw) return
  const dir = await mkdtemp(join(tmpdir(), 'dsmirror-doctor-s3-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const env = { AWS_ACCESS_KEY_ID: rgw.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: rgw.env.AWS_SECRET_ACCESS_KEY }
  const doctor = async (endpoint: string): Promise<{ code: number | null, store: Record<string, unknown> }> => {
    const file = join(dir, 'config.json')
    await writeFile(file, JSON.stringify({
      dataDir: dir,
      // No upstream to check: the exit code is the store's alone.
      allowHosts: [],
      mirrors: {},
      store: { kind: 's3', s3: { endpoint, region: rgw.region, bucket: rgw.bucket, prefix: uniquePrefix('doctor') } },
      cluster: { peer: false, singleFlight: false }
    }))
    const run = await runDsmirror(['doctor', '--json', '--config', file], env)
    return { code: run.code, store: (JSON.parse(run.stdout) as { store: Record<string, unknown> }).store }
  }
  const good = await doctor(rgw.endpoint)
  t.equal(good.code, 0, 'a working store passes')
  t.match(good.store, { kind: 's3', bucket: rgw.bucket, ok: true, ifMatch: 'unquoted', problem: null }, 'reachable, probe passed, bare ETags (RGW 16)')
  const bad = await doctor(await ignoringFront(t, new URL(rgw.endpoint)))
  t.equal(bad.code, 1, 'an engine ignoring conditional writes fails the check')
  t.match(bad.store, { ok: false, problem: /does not honour conditional writes/ })
})
