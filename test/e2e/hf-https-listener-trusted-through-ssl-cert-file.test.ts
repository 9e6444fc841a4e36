// Issue 11 docs (docs/huggingface.md "HTTPS"), hf-protocol.md §6.3 (8): over dsmirror's HTTPS
// listener, huggingface_hub 1.x (httpx) and 2.0 (httpx2) trust dsmirror's CA through
// SSL_CERT_FILE; REQUESTS_CA_BUNDLE alone, which the 0.x (requests) clients read, is ignored by
// both, so the download fails on the certificate instead of silently trusting anything.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { readLocalCaCertificate } from '../../certs/local-ca-store.js'
import { freshHfHome, hfClient, hfSkip, HUB1_PYTHON, HUB2_PYTHON, HF_MOUNT, startHfMirror } from '../helpers/hf-e2e.js'
import { TINY_MODEL, tinyModelRepo } from '../helpers/hub-fixtures.js'
import { startStandInHub } from '../helpers/stand-in-hub.js'

const skip = await hfSkip(t, { mirror: true })

t.test('the Python clients over the HTTPS listener: SSL_CERT_FILE yes, REQUESTS_CA_BUNDLE alone no', { skip }, async (t) => {
  const hub = await startStandInHub({ repos: [tinyModelRepo()] })
  t.teardown(() => hub.close())
  const mirror = await startHfMirror(t, hub, { https: true })
  const httpsOrigin = mirror.proxy.httpsOrigin
  if (httpsOrigin === undefined) throw new Error('the HTTPS listener did not start')
  const endpoint = `${httpsOrigin}/${HF_MOUNT}`
  const ca = await readLocalCaCertificate(mirror.proxy.dataDir)
  if (ca === null) throw new Error('dsmirror made no local CA')
  const work = await freshHfHome(t, 'https-ca')
  const caFile = join(work, 'dsmirror-ca.pem')
  await writeFile(caFile, ca.certPem)
  const model = hub.file(TINY_MODEL, 'model.safetensors')

  for (const [name, python] of [['huggingface_hub 1.33.0', HUB1_PYTHON], ['huggingface_hub 2.0.0', HUB2_PYTHON]] as const) {
    await t.test(name, async (t) => {
      const refused = await hfClient(python, ['snapshot_download', TINY_MODEL], { endpoint, hfHome: await freshHfHome(t, 'https-no'), env: { REQUESTS_CA_BUNDLE: caFile } })
      t.not(refused.code, 0, 'REQUESTS_CA_BUNDLE alone: the download fails')
      t.match(refused.stdout + refused.stderr, /CERTIFICATE_VERIFY_FAILED|certificate verify failed/, 'on the certificate')
      const trusted = await hfClient(python, ['hf_hub_download', TINY_MODEL, '--file', 'model.safetensors'], { endpoint, hfHome: await freshHfHome(t, 'https-yes'), env: { SSL_CERT_FILE: caFile } })
      t.equal(trusted.code, 0, 'SSL_CERT_FILE: exit 0', { stderr: trusted.stderr.slice(-2000) })
      t.equal(trusted.result?.sha256, model.sha256)
    })
  }
})
