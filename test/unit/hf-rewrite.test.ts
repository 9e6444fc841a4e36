// What the Hugging Face mode changes in Hub answers (server/routes/hf/hf-rewrite.ts,
// hf-protocol.md §2.5-§2.7): Links moved to the mirror, Xet rels and foreign links dropped,
// xetHash removed, ETags normalised.
import t from 'tap'
import { etagValue, relayedHeaders, rewriteLink, stripXet } from '../../server/routes/hf/hf-rewrite.js'

const HUB = 'https://huggingface.co'
const BASE = 'http://127.0.0.1:8080/hf'

t.test('Link: next moved to the mirror base, prefix and query kept; Xet rels and other origins dropped', async (t) => {
  t.equal(rewriteLink('<https://huggingface.co/api/models/a/b/tree/main?recursive=true&cursor=x>; rel="next"', HUB, BASE),
    '<http://127.0.0.1:8080/hf/api/models/a/b/tree/main?recursive=true&cursor=x>; rel="next"')
  t.equal(rewriteLink('</api/models/a/b/tree/main?cursor=y>; rel="next"', HUB, BASE), '<http://127.0.0.1:8080/hf/api/models/a/b/tree/main?cursor=y>; rel="next"', 'relative to the Hub')
  t.equal(rewriteLink('<https://huggingface.co/api/models/a/b/xet-read-token/abc>; rel="xet-auth", <https://cas-server.xethub.hf.co/v1/reconstructions/ff>; rel="xet-reconstruction-info"', HUB, BASE), null)
  t.equal(rewriteLink('<https://elsewhere.example/x>; rel="next"', HUB, BASE), null)
  t.equal(rewriteLink(undefined, HUB, BASE), null)
})

t.test('xetHash removed from arrays and siblings; other JSON and non-JSON untouched', async (t) => {
  const tree = Buffer.from(JSON.stringify([{ type: 'file', path: 'a', xetHash: 'ff', lfs: { oid: '1' } }, { type: 'directory', path: 'd' }]))
  t.same(JSON.parse(stripXet(tree).toString()), [{ type: 'file', path: 'a', lfs: { oid: '1' } }, { type: 'directory', path: 'd' }])
  const info = Buffer.from(JSON.stringify({ id: 'a/b', siblings: [{ rfilename: 'x', xetHash: 'ee' }] }))
  t.same(JSON.parse(stripXet(info).toString()), { id: 'a/b', siblings: [{ rfilename: 'x' }] })
  const plain = Buffer.from('{"id":"a/b"}')
  t.equal(stripXet(plain), plain, 'unchanged bytes when there is nothing to remove')
  const text = Buffer.from('not json')
  t.equal(stripXet(text), text)
})

t.test('relayed headers and ETag values', async (t) => {
  t.same(relayedHeaders({ 'x-error-code': 'EntryNotFound', location: '/x', 'x-xet-hash': 'ff', 'set-cookie': 'a=b', 'content-encoding': 'gzip', ratelimit: ['a', 'b'] }),
    { 'x-error-code': 'EntryNotFound', ratelimit: 'a, b' })
  t.equal(etagValue('W/"abc"'), 'abc')
  t.equal(etagValue('"abc"'), 'abc')
  t.equal(etagValue(undefined), null)
})
