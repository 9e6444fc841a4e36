// Issue 11 "Show": each real client through dsmirror (HF_ENDPOINT=http://127.0.0.1:P/hf), with
// hf_xet installed, HF_HUB_DISABLE_XET unset and the stand-in Hub's Xet headers ON, ends with the
// same client cache (`blobs/`, `snapshots/{sha}/`, `refs/main`, `.no_exist/`, `trees/`) as the same
// client run straight against the stand-in (Xet off there: a direct run with Xet on cannot finish,
// see hf-clients-direct-against-stand-in.test.ts), and sends nothing to the CDN host or to
// xet-read-token. A second client on a warm mirror costs the Hub no byte.
import { join } from 'node:path'
import t from 'tap'
import { downloadFile, snapshotDownload } from '@huggingface/hub'
import { sha256 } from '../helpers/bytes.js'
import { cacheLayout, clientRequestsToCdnOrXet, freshHfHome, hfCli, hfClient, hfSkip, HUB1_PYTHON, HUB2_PYTHON, startHfMirror } from '../helpers/hf-e2e.js'
import { GATED_MODEL, GATED_TOKEN, TINY_CSV, TINY_MODEL, TINY_PARQUET, allFixtureRepos } from '../helpers/hub-fixtures.js'
import { startStandInHub } from '../helpers/stand-in-hub.js'

const skip = await hfSkip(t, { mirror: true })
// 22 Python client runs: about 70 s alone on this machine, over 100 s while other suites share its
// 2 cores, which comes close to .taprc's 180 s per file.
t.setTimeout(6 * 60_000)

interface Case {
  name: string
  /** Runs the client against `endpoint` with its cache under `home`; returns what it produced. */
  run: (endpoint: string, home: string) => Promise<{ code: number, output: unknown, stderr: string }>
  /** Where the client keeps its Hub cache. */
  cache: (home: string) => string
  /** What the direct run must produce, when the case has a known answer. */
  expect?: Record<string, unknown>
}

const ROWS = [{ text: 'alpha', label: 0 }, { text: 'beta', label: 1 }, { text: 'gamma', label: 0 }, { text: 'delta', label: 1 }]

const python = (py: string, args: string[]): Case['run'] => async (endpoint, home) => {
  const r = await hfClient(py, args, { endpoint, hfHome: home })
  // Paths differ by HF_HOME and timings by run; what the client produced is compared without them.
  const { elapsed, ...result } = r.result ?? {}
  const output = r.result === undefined ? undefined : JSON.parse(JSON.stringify(result).replaceAll(home, '<home>'))
  return { code: r.code, output, stderr: r.stderr }
}
const hubCache = (home: string): string => join(home, 'hub')

const CASES: Case[] = [
  { name: 'hub 1.33.0 hf_hub_download config.json', run: python(HUB1_PYTHON, ['hf_hub_download', TINY_MODEL, '--file', 'config.json']), cache: hubCache },
  { name: 'hub 1.33.0 hf_hub_download model.safetensors (LFS)', run: python(HUB1_PYTHON, ['hf_hub_download', TINY_MODEL, '--file', 'model.safetensors']), cache: hubCache },
  { name: 'hub 1.33.0 snapshot_download', run: python(HUB1_PYTHON, ['snapshot_download', TINY_MODEL]), cache: hubCache },
  { name: 'hub 2.0.0 snapshot_download', run: python(HUB2_PYTHON, ['snapshot_download', TINY_MODEL]), cache: hubCache },
  {
    name: 'hf download (CLI)',
    run: async (endpoint, home) => {
      const r = await hfCli(['download', TINY_MODEL], { endpoint, hfHome: home })
      return { code: r.code, output: r.stdout.replaceAll(home, '<home>').trim(), stderr: r.stderr }
    },
    cache: hubCache
  },
  { name: 'load_dataset parquet', run: python(HUB1_PYTHON, ['load_dataset', TINY_PARQUET]), cache: hubCache, expect: { rows: ROWS } },
  { name: 'load_dataset CSV', run: python(HUB1_PYTHON, ['load_dataset', TINY_CSV]), cache: hubCache, expect: { rows: ROWS } },
  { name: 'load_dataset revision=refs/convert/parquet', run: python(HUB1_PYTHON, ['load_dataset', TINY_CSV, '--revision', 'refs/convert/parquet']), cache: hubCache, expect: { rows: ROWS } },
  { name: 'load_dataset streaming=True', run: python(HUB1_PYTHON, ['load_dataset', TINY_PARQUET, '--streaming']), cache: hubCache, expect: { rows: ROWS } },
  { name: 'transformers AutoConfig + AutoTokenizer', run: python(HUB1_PYTHON, ['auto', TINY_MODEL]), cache: hubCache, expect: { model_type: 'bert', ids: [4, 7, 8, 9] } },
  {
    name: '@huggingface/hub downloadFile + snapshotDownload',
    run: async (endpoint, home) => {
      const blob = await downloadFile({ repo: TINY_MODEL, path: 'model.safetensors', hubUrl: endpoint })
      const bytes = blob === null ? '' : sha256(Buffer.from(await blob.arrayBuffer()))
      const path = await snapshotDownload({ repo: TINY_MODEL, hubUrl: endpoint, cacheDir: home })
      return { code: 0, output: { bytes, path: path.replaceAll(home, '<home>') }, stderr: '' }
    },
    cache: (home) => home
  }
]

t.test('each client through dsmirror matches its direct run, with no request to the CDN or Xet', { skip }, async (t) => {
  const hub = await startStandInHub({ repos: allFixtureRepos() })
  t.teardown(() => hub.close())
  const mirror = await startHfMirror(t, hub)

  for (const c of CASES) {
    await t.test(c.name, async (t) => {
      hub.xet = false
      const directHome = await freshHfHome(t, 'direct')
      const direct = await c.run(hub.origin, directHome)
      t.equal(direct.code, 0, 'the direct run works', { stderr: direct.stderr.slice(-2000) })
      if (c.expect !== undefined) t.match(direct.output, c.expect, 'with the right answer')

      hub.xet = true
      hub.clearLog()
      const home = await freshHfHome(t, 'mirror')
      const through = await c.run(mirror.endpoint, home)
      t.equal(through.code, 0, 'through dsmirror it works, with Xet on at the Hub', { stderr: through.stderr.slice(-2000) })
      t.same(through.output, direct.output, 'the same result')
      const layout = await cacheLayout(c.cache(home))
      t.ok(Object.values(layout).some((lines) => lines.some((l) => l.startsWith('blobs/'))), 'the client cached blobs')
      t.same(layout, await cacheLayout(c.cache(directHome)), 'the same client cache layout')
      t.same(clientRequestsToCdnOrXet(hub), [], 'no client request reached the CDN host or xet-read-token')
      t.equal(hub.count({ kind: 'xet-read-token' }), 0, 'nobody asked xet-read-token')
    })
  }

  await t.test('a second client on the warm mirror: the Hub sends no file byte', async (t) => {
    hub.clearLog()
    const home = await freshHfHome(t, 'warm')
    const r = await hfClient(HUB2_PYTHON, ['snapshot_download', TINY_MODEL], { endpoint: mirror.endpoint, hfHome: home })
    t.equal(r.code, 0, 'exit 0', { stderr: r.stderr.slice(-2000) })
    t.equal(hub.count({ kind: 'cdn' }), 0, 'no CDN request at all')
    t.equal(hub.count({ kind: 'resolve-cache', method: 'GET' }), 0, 'no regular file fetched again')
  })

  await t.test('a gated repo through dsmirror: GatedRepoError without a token, the file with it', async (t) => {
    const home = await freshHfHome(t, 'gated')
    const none = await hfClient(HUB1_PYTHON, ['hf_hub_download', GATED_MODEL, '--file', 'model.safetensors'], { endpoint: mirror.endpoint, hfHome: home })
    t.equal(none.error, 'GatedRepoError', 'the Hub\'s 401 GatedRepo reached the client', { stdout: none.stdout.slice(-500) })
    const right = await hfClient(HUB1_PYTHON, ['hf_hub_download', GATED_MODEL, '--file', 'model.safetensors', '--token', GATED_TOKEN], { endpoint: mirror.endpoint, hfHome: home })
    t.equal(right.code, 0, 'exit 0', { stderr: right.stderr.slice(-2000) })
    t.equal(right.result?.sha256, hub.file(GATED_MODEL, 'model.safetensors').sha256)
    const again = await hfClient(HUB1_PYTHON, ['hf_hub_download', GATED_MODEL, '--file', 'model.safetensors'], { endpoint: mirror.endpoint, hfHome: await freshHfHome(t, 'gated-again') })
    t.equal(again.error, 'GatedRepoError', 'the cached bytes are not served to a caller without the token')
    t.notOk(hub.requests.some((r) => r.kind === 'cdn' && r.authorization), 'no token went to the CDN host')
  })
})
