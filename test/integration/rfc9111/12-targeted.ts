// Issue #13 item 12: CDN-Cache-Control (RFC 9213), behind cache.cdnCacheControl.
import type { Row, Scripted, Section } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]
const CDN = (v: string): [string, string] => ['CDN-Cache-Control', v]
const ON = { cache: { cdnCacheControl: true } }
const OFF = { cache: { cdnCacheControl: false } }

function twice (id: string, rfc: string, title: string, origin: Scripted[], reused: boolean, config: Record<string, unknown>): Row {
  return {
    id,
    rfc,
    title,
    config,
    origin,
    steps: [
      { expect: { status: 200, body: 'r0' }, originCount: 1 },
      { expect: { status: 200, ...(reused ? { body: 'r0' } : {}) }, originCount: reused ? 1 : 2 }
    ]
  }
}

export const targeted: Section = {
  name: 'targeted',
  title: 'item 12: CDN-Cache-Control',
  rows: [
    twice('on-max-age-beats-no-cache', 'RFC 9213 §2.1', 'on: CDN-Cache-Control max-age=3600 beats Cache-Control no-cache', [{ headers: [CC('no-cache'), CDN('max-age=3600')] }], true, ON),
    twice('on-max-age-alone', 'RFC 9213 §2.1', 'on: CDN-Cache-Control max-age=3600 without Cache-Control is fresh', [{ headers: [CDN('max-age=3600')] }], true, ON),
    twice('on-no-store-beats-max-age', 'RFC 9213 §2.1', 'on: CDN-Cache-Control no-store beats Cache-Control max-age', [{ headers: [CC('max-age=3600'), CDN('no-store')] }], false, ON),
    twice('on-max-age-0', 'RFC 9213 §2.1', 'on: CDN-Cache-Control max-age=0 beats Cache-Control max-age=3600', [{ headers: [CC('max-age=3600'), CDN('max-age=0')] }], false, ON),
    twice('on-beats-expires', 'RFC 9213 §2.1', 'on: CDN-Cache-Control max-age=3600 beats an Expires in the past', [{ headers: [['Expires', '{imf-60}'], CDN('max-age=3600')] }], true, ON),
    twice('on-invalid-ignored', 'RFC 9213 §2.1, RFC 8941 §4.2', 'on: a CDN-Cache-Control that is not a valid Dictionary is ignored (Cache-Control applies)', [{ headers: [CC('max-age=3600'), CDN('max-age=0,,')] }], true, ON),
    twice('on-must-revalidate-stale', 'RFC 9213 §2.1', 'on: CDN-Cache-Control max-age=0, must-revalidate is revalidated', [{ headers: [CC('max-age=3600'), CDN('max-age=0, must-revalidate')] }], false, ON),
    twice('on-without-field', 'RFC 9213 §2.1', 'on: without the field, Cache-Control applies', [{ headers: [CC('max-age=3600')] }], true, ON),
    twice('on-private-cc', 'RFC 9213 §2.1', 'on: CDN-Cache-Control max-age=3600 beats Cache-Control private', [{ headers: [CC('private'), CDN('max-age=3600')] }], true, ON),
    twice('off-max-age-ignored', 'RFC 9213 §2.1', 'off: CDN-Cache-Control is ignored, Cache-Control no-cache applies', [{ headers: [CC('no-cache'), CDN('max-age=3600')] }], false, OFF),
    twice('off-no-store-ignored', 'RFC 9213 §2.1', 'off: CDN-Cache-Control no-store is ignored', [{ headers: [CC('max-age=3600'), CDN('no-store')] }], true, OFF),
    twice('default-is-off', 'RFC 9213 §2.1', 'by default the field is not honoured (dsmirror is the clients\' cache, not the origin\'s CDN)', [{ headers: [CC('no-cache'), CDN('max-age=3600')] }], false, {}),
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    twice('on-no-cache-beats-max-age', 'RFC 9213 §2.1', 'on: CDN-Cache-Control no-cache beats Cache-Control max-age=3600', [{ headers: [CC('max-age=3600'), CDN('no-cache')] }], false, ON),
    twice('on-private', 'RFC 9213 §2.1, RFC 9111 §5.2.2.7', 'on: CDN-Cache-Control private keeps the response out of this cache', [{ headers: [CC('max-age=3600'), CDN('private')] }], false, ON),
    twice('on-two-lines', 'RFC 9213 §2.1, RFC 8941 §4.2', 'on: CDN-Cache-Control on two lines is one Dictionary (max-age=3600 from the first)', [{ headers: [CC('no-cache'), CDN('max-age=3600'), CDN('must-revalidate')] }], true, ON),
    twice('on-uppercase-key-invalid', 'RFC 9213 §2.1, RFC 8941 §3.2', 'on: MAX-AGE is not a valid Dictionary key: the field is ignored, Cache-Control no-cache applies', [{ headers: [CC('no-cache'), CDN('MAX-AGE=3600')] }], false, ON),
    twice('on-age-over', 'RFC 9213 §2.1, RFC 9111 §4.2.3', 'on: CDN-Cache-Control max-age=3600 with Age: 7200 is stale', [{ headers: [CC('no-cache'), CDN('max-age=3600'), ['Age', '7200']] }], false, ON),
    twice('on-other-target-ignored', 'RFC 9213 §2.1', "on: another CDN's targeted field (Other-CDN-Cache-Control) is not this cache's: Cache-Control no-cache applies", [{ headers: [CC('no-cache'), ['Other-CDN-Cache-Control', 'max-age=3600']] }], false, ON),
    {
      id: 'on-negative-max-age-0',
      rfc: 'RFC 9213 §2.1',
      title: 'on: a 404 with CDN-Cache-Control max-age=0 is not reused despite Cache-Control max-age=3600',
      config: ON,
      origin: [{ status: 404, headers: [CC('max-age=3600'), CDN('max-age=0')] }],
      steps: [{ expect: { status: 404, body: 'r0' }, originCount: 1 }, { expect: { status: 404, body: 'r1' }, originCount: 2 }]
    },
    {
      id: 'on-bin-max-age-0',
      rfc: 'RFC 9213 §2.1, RFC 9111 §4.2.2',
      title: 'on: a *.bin with CDN-Cache-Control max-age=0 is revalidated (the pattern does not beat it)',
      config: ON,
      ext: '.bin',
      origin: [{ headers: [CDN('max-age=0'), ['ETag', '"v1"']] }],
      steps: [{ expect: { status: 200, body: 'r0' }, originCount: 1 }, { expect: { status: 200 }, originCount: 2 }]
    }
  ]
}
