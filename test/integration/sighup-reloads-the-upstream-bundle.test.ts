// SIGHUP makes the running CLI rebuild its upstream CA bundle: a corporate root added to a
// caFiles file is trusted afterwards, without a restart, and the process keeps serving.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startChildProxy } from '../helpers/child-proxy.js'
import { request } from '../helpers/http-client.js'
import { getTestPki } from '../helpers/pki.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('SIGHUP reloads the bundle and the process keeps running', async (t) => {
  const pki = await getTestPki()
  const corporate = await startUpstream({ tls: pki.otherLeaf })
  corporate.set('/data.bin', { body: Buffer.from('behind the corporate proxy') })
  const dataDir = await mkdtemp(join(tmpdir(), 'dsmirror-hup-'))
  const caFile = join(dataDir, 'extra-ca.pem')
  await copyFile(pki.files.rootCa, caFile)
  const proxy = await startChildProxy(dataDir, { allowHosts: [corporate.host], config: { upstream: { caFiles: [caFile] } } })
  t.teardown(async () => {
    proxy.child.kill('SIGTERM')
    await proxy.exited
    await corporate.close()
    await rm(dataDir, { recursive: true, force: true })
  })
  const url = `${proxy.origin}/${corporate.host}/data.bin`

  const before = await request(url)
  t.equal(before.status, 502)
  t.match(before.body.toString(), /DSM_UPSTREAM_TLS/)

  await writeFile(caFile, `${await readFile(pki.files.rootCa, 'utf8')}${await readFile(pki.files.otherCa, 'utf8')}`)
  proxy.child.kill('SIGHUP')
  let after = await request(url)
  for (let i = 0; i < 50 && after.status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    after = await request(url)
  }
  t.equal(after.status, 200, 'the corporate root is trusted after SIGHUP')
  t.equal(after.body.toString(), 'behind the corporate proxy')
  t.match(proxy.output(), /"reason":"(SIGHUP|change)".*upstream CA bundle reloaded/, 'the reload was logged')
  t.equal(proxy.child.exitCode, null, 'SIGHUP did not end the process')
})
