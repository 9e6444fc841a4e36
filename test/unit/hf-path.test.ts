// The Hugging Face mode's URL shapes (server/routes/hf/hf-path.ts, hf-protocol.md §1.7): routed on
// the raw path, a revision is one segment, `//` collapsed, traversal refused.
import t from 'tap'
import { parseHfPath } from '../../server/routes/hf/hf-path.js'

t.test('resolve shapes: models, datasets, spaces, legacy one-segment repos, encoded revisions', async (t) => {
  t.same(parseHfPath('/acme/tiny/resolve/main/config.json'), { kind: 'resolve', repo: { type: 'models', id: 'acme/tiny' }, rev: 'main', path: 'config.json', query: '' })
  t.same(parseHfPath('/gpt2/resolve/main/config.json'), { kind: 'resolve', repo: { type: 'models', id: 'gpt2' }, rev: 'main', path: 'config.json', query: '' })
  t.same(parseHfPath('//datasets/acme/d/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet?download=true'), {
    kind: 'resolve', repo: { type: 'datasets', id: 'acme/d' }, rev: 'refs%2Fconvert%2Fparquet', path: 'default/train/0000.parquet', query: '?download=true'
  })
  t.same(parseHfPath('/spaces/acme/s/resolve/abc/app.py'), { kind: 'resolve', repo: { type: 'spaces', id: 'acme/s' }, rev: 'abc', path: 'app.py', query: '' })
})

t.test('api shapes: info with and without revision, tree with a path, paths-info, xet-read-token, others', async (t) => {
  t.same(parseHfPath('/api/models/acme/tiny'), { kind: 'info', repo: { type: 'models', id: 'acme/tiny' }, rev: null, query: '' })
  t.same(parseHfPath('/api/datasets/acme/d/revision/refs%2Fconvert%2Fparquet?expand=sha'), { kind: 'info', repo: { type: 'datasets', id: 'acme/d' }, rev: 'refs%2Fconvert%2Fparquet', query: '?expand=sha' })
  t.same(parseHfPath('/api/models/gpt2/revision/main'), { kind: 'info', repo: { type: 'models', id: 'gpt2' }, rev: 'main', query: '' })
  t.same(parseHfPath('/api/datasets/acme/d/tree/main/data?recursive=true'), { kind: 'tree', repo: { type: 'datasets', id: 'acme/d' }, rev: 'main', path: 'data', query: '?recursive=true' })
  t.same(parseHfPath('/api/models/acme/tiny/paths-info/main'), { kind: 'paths-info', repo: { type: 'models', id: 'acme/tiny' }, rev: 'main', query: '' })
  t.same(parseHfPath('/api/models/acme/tiny/xet-read-token/main'), { kind: 'xet-read-token', repo: { type: 'models', id: 'acme/tiny' }, rev: 'main' })
  t.same(parseHfPath('/api/whoami-v2'), { kind: 'other', path: 'api/whoami-v2', query: '' })
  t.same(parseHfPath('/api/models/acme/tiny/refs'), { kind: 'other', path: 'api/models/acme/tiny/refs', query: '' })
})

t.test('traversal and smuggling are refused with DSM_BAD_PATH', async (t) => {
  for (const raw of ['/acme/tiny/resolve/main/../../etc/passwd', '/acme/tiny/resolve/main/%2e%2e/x', '/acme/tiny/resolve/main/a%2Fb', '/acme/tiny/resolve/%2e%2e/x', '/ac..me/tiny/resolve/main/x', '/acme/tiny/resolve/main/a%00b', '/api/models/acme/tiny/tree/main/a%5cb']) {
    t.throws(() => parseHfPath(raw), { code: 'DSM_BAD_PATH' }, raw)
  }
})
