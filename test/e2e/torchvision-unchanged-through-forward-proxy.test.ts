// Issue 12 "Show", unchanged programs: Debian's /usr/bin/python3 runs torchvision's GTSRB with
// download=True (its URL is hard-coded in download(): https://sid.erda.dk/...) and torch.hub
// load_state_dict_from_url on an https://download.pytorch.org URL, with nothing but https_proxy
// and SSL_CERT_FILE set. Each file reaches the upstream once, a second run is served from cache,
// and the mirror form then hits the same entries.
// The only change to the program: GTSRB's md5 argument is pointed at the generated zip (the real
// one is 263 MB), and dsmirror's checksums entry for that URL likewise. The hosts stay the hard-coded ones: the clients CONNECT to sid.erda.dk:443 and
// download.pytorch.org:443, and dsmirror's own upstream connections go through a test egress
// proxy (upstream.proxy) that sends exactly those two host:port pairs to a loopback stand-in, so
// no packet leaves the machine and nothing binds port 443.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { sha256 } from '../helpers/bytes.js'
import { startConnectProxy } from '../helpers/connect-proxy.js'
import { freshPythonRuns, pythonHas, skipUnless } from '../helpers/e2e-clients.js'
import { request } from '../helpers/http-client.js'
import { issueTestLeaf } from '../helpers/pki.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

const skip = skipUnless(t, await pythonHas('torchvision') ? [] : ['Debian\'s torchvision (apt-get install python3-torchvision; it imports only with /usr/bin/python3)'])

const GTSRB_HOST = 'sid.erda.dk'
const GTSRB_PATH = '/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/GTSRB-Training_fixed.zip'
const WEIGHTS_HOST = 'download.pytorch.org'
/** GTSRB/Training/<class>/<image>.ppm, as the real archive lays it out; two classes of three. */
const GENERATE = `
import hashlib, io, json, os, sys, zipfile
import torch
from PIL import Image
out = '.'
buf = io.BytesIO()
with zipfile.ZipFile(buf, 'w') as z:
    for label in range(2):
        for i in range(3):
            img = Image.new('RGB', (30 + i, 32), (40 * label, 10 * i, 200))
            ppm = io.BytesIO()
            img.save(ppm, format='PPM')
            z.writestr('GTSRB/Training/%05d/%05d_%05d.ppm' % (label, i, 0), ppm.getvalue())
zip_bytes = buf.getvalue()
open(os.path.join(out, 'gtsrb.zip'), 'wb').write(zip_bytes)
ckpt = io.BytesIO()
torch.save({'fc.weight': torch.arange(12.0).reshape(3, 4), 'fc.bias': torch.zeros(3)}, ckpt)
data = ckpt.getvalue()
name = 'tinynet-%s.pth' % hashlib.sha256(data).hexdigest()[:8]
open(os.path.join(out, name), 'wb').write(data)
print(json.dumps({'md5': hashlib.md5(zip_bytes).hexdigest(), 'weights': name}))
`

t.test('GTSRB(download=True) and torch.hub through https_proxy: upstream once, then cache, then the mirror form hits', { skip }, async (t) => {
  const python = await freshPythonRuns(t, 'dsmirror-e2e-fp-torchvision-')
  const made = await python(GENERATE)
  t.equal(made.code, 0, 'fixtures generated', { stderr: made.stderr.slice(-2000) })
  const fixture = JSON.parse(made.stdout) as { md5: string, weights: string }
  const zip = await readFile(join(made.cwd, 'gtsrb.zip'))
  const weights = await readFile(join(made.cwd, fixture.weights))
  const weightsPath = `/models/${fixture.weights}`

  const upstream = await startUpstream({ tls: await issueTestLeaf({ names: [GTSRB_HOST, WEIGHTS_HOST] }) })
  t.teardown(() => upstream.close())
  upstream.set(GTSRB_PATH, { body: zip })
  upstream.set(weightsPath, { body: weights })
  const egress = await startConnectProxy(t, { map: { [`${GTSRB_HOST}:443`]: upstream.port, [`${WEIGHTS_HOST}:443`]: upstream.port } })
  const proxy = await startProxy({
    allowHosts: [GTSRB_HOST, WEIGHTS_HOST],
    // dsmirror knows the real archive's md5 (config/torchvision-source.generated.ts) and would
    // refuse the generated one, as it should: the generated file's digest is given instead.
    config: { forwardProxy: { enabled: true }, upstream: { proxy: egress.url }, checksums: { [`https://${GTSRB_HOST}${GTSRB_PATH}`]: `md5:${fixture.md5}` } }
  })
  t.teardown(() => proxy.close({ remove: true }))
  const caFile = join(proxy.dataDir, 'interception-ca', 'ca.pem')

  // Test-only: the generated zip's md5 in place of the real archive's; URL and code path untouched.
  const preamble = [
    'import torchvision.datasets.gtsrb as _gtsrb',
    '_download = _gtsrb.download_and_extract_archive',
    `_gtsrb.download_and_extract_archive = lambda url, download_root, md5=None, **kw: _download(url, download_root, md5=${JSON.stringify(fixture.md5)}, **kw)`,
    ''
  ].join('\n')
  const program = preamble + [
    'import torch',
    'from torchvision import datasets',
    'ds = datasets.GTSRB("data", split="train", download=True)',
    'print("GTSRB", len(ds), sorted({label for _, label in ds}))',
    `state = torch.hub.load_state_dict_from_url(${JSON.stringify(`https://${WEIGHTS_HOST}${weightsPath}`)}, check_hash=True)`,
    'print("weights", sorted(state), float(state["fc.weight"].sum()))',
    ''
  ].join('\n')
  const proxyEnv = { https_proxy: proxy.origin, no_proxy: '' }

  await t.test('with https_proxy but no CA variable, python refuses the minted leaf and nothing is fetched', async (t) => {
    const r = await python(program, proxyEnv)
    t.not(r.code, 0, 'python fails')
    t.match(r.stdout + r.stderr, /CERTIFICATE_VERIFY_FAILED/, 'on the certificate')
    t.equal(upstream.count(GTSRB_PATH), 0)
  })

  for (const run of ['first', 'second']) {
    await t.test(`${run} run with https_proxy and SSL_CERT_FILE only`, async (t) => {
      const r = await python(program, { ...proxyEnv, SSL_CERT_FILE: caFile })
      t.equal(r.code, 0, 'python exits 0', { stderr: r.stderr.slice(-3000) })
      t.match(r.stdout, /^GTSRB 6 \[0, 1\]$/m, 'the dataset loads: six images, two classes')
      t.match(r.stdout, /^weights \['fc\.bias', 'fc\.weight'\] 66\.0$/m, 'the state dict loads, hash checked')
      await proxy.idle()
      t.equal(upstream.count(GTSRB_PATH, 'GET'), 1, 'the zip left the upstream once')
      t.equal(upstream.count(weightsPath, 'GET'), 1, 'the weights left the upstream once')
    })
  }

  for (const [host, path, body] of [[GTSRB_HOST, GTSRB_PATH, zip], [WEIGHTS_HOST, weightsPath, weights]] as const) {
    const mirror = await request(proxy.mirrorUrl(host, path))
    t.equal(mirror.status, 200)
    t.match(mirror.headers['cache-status'], /; hit/, `the mirror form hits ${host}${path}`)
    t.equal(mirror.sha256, sha256(body))
  }
  t.equal(upstream.count(GTSRB_PATH, 'GET') + upstream.count(weightsPath, 'GET'), 2, 'still once each')
  t.ok(egress.connects.every((c) => c === `${GTSRB_HOST}:443` || c === `${WEIGHTS_HOST}:443`), `dsmirror connected to the hard-coded hosts only: ${egress.connects.join(', ')}`)
})
