// Issue #13 item 1: combined field lines (RFC 9110 §5.3) and singleton fields sent twice.
import { notReused, reused, type Section } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]

export const fields: Section = {
  name: 'fields',
  title: 'item 1: combined field lines, singleton fields',
  rows: [
    { id: 'cc-two-lines', rfc: 'RFC 9110 §5.3', title: 'two Cache-Control lines (public; max-age=3600) make one fresh list', origin: [{ headers: [CC('public'), CC('max-age=3600')] }], steps: reused() },
    { id: 'cc-two-lines-no-store', rfc: 'RFC 9110 §5.3, RFC 9111 §5.2.2.5', title: 'no-store on the second Cache-Control line is honoured', origin: [{ headers: [CC('max-age=3600'), CC('no-store')] }], steps: notReused({ expect: { body: 'r1' } }) },
    { id: 'cc-two-lines-private', rfc: 'RFC 9110 §5.3, RFC 9111 §5.2.2.7', title: 'private on the second line keeps a shared cache from storing', origin: [{ headers: [CC('max-age=3600'), CC('private')] }], steps: notReused({ expect: { body: 'r1' } }) },
    { id: 'cc-two-lines-s-maxage', rfc: 'RFC 9110 §5.3, RFC 9111 §5.2.2.10', title: 's-maxage=0 on the second line beats max-age=3600 for a shared cache', origin: [{ headers: [CC('max-age=3600'), CC('s-maxage=0')] }], steps: notReused() },
    { id: 'vary-two-lines', rfc: 'RFC 9110 §5.3, RFC 9111 §4.1', title: 'Vary on two lines: a request differing on the second name is not served the stored one', origin: [{ headers: [CC('max-age=3600'), ['Vary', 'Accept'], ['Vary', 'Accept-Language']] }], steps: [{ headers: { 'accept-language': 'en' }, expect: { body: 'r0' }, originCount: 1 }, { headers: { 'accept-language': 'de' }, expect: { body: 'r1' }, originCount: 2 }] },
    { id: 'vary-two-lines-combined', rfc: 'RFC 9110 §5.3', title: 'Vary lines are forwarded combined, in order', origin: [{ headers: [CC('max-age=3600'), ['Vary', 'Accept'], ['Vary', 'Accept-Language']] }], steps: [{ expect: { headers: { vary: 'Accept, Accept-Language' } } }] },
    { id: 'vary-star-second-line', rfc: 'RFC 9110 §12.5.5, RFC 9111 §4.1', title: 'Vary: * on a second line: never reused', origin: [{ headers: [CC('max-age=3600'), ['Vary', 'Accept'], ['Vary', '*']] }], steps: notReused({ expect: { body: 'r1' } }) },
    { id: 'etag-twice-same', rfc: 'RFC 9110 §5.3, §8.8.3', title: 'the same ETag on two lines is one ETag, and the response is stored', origin: [{ headers: [CC('max-age=3600'), ['ETag', '"v1"'], ['ETag', '"v1"']] }], steps: reused({ expect: { headers: { etag: '"v1"' } } }) },
    { id: 'etag-twice-differ-not-stored', rfc: 'RFC 9110 §5.5, §8.8.3', title: 'two different ETags: the response is not stored', origin: [{ headers: [CC('max-age=3600'), ['ETag', '"v1"'], ['ETag', '"v2"']] }], steps: notReused({ expect: { body: 'r1' } }) },
    { id: 'etag-twice-differ-not-forwarded-twice', rfc: 'RFC 9110 §5.5, §8.8.3', title: 'two different ETags are never forwarded as one list', origin: [{ headers: [CC('max-age=3600'), ['ETag', '"v1"'], ['ETag', '"v2"']] }], steps: [{ expect: { status: 200, headers: { etag: null } } }] },
    { id: 'content-type-twice-same', rfc: 'RFC 9110 §5.3, §8.3', title: 'the same Content-Type on two lines is one Content-Type', origin: [{ headers: [CC('max-age=3600'), ['Content-Type', 'text/plain'], ['Content-Type', 'text/plain']] }], steps: reused({ expect: { headers: { 'content-type': 'text/plain' } } }) },
    { id: 'content-type-twice-differ', rfc: 'RFC 9110 §5.5, §8.3', title: 'two different Content-Types: not stored, and the field is dropped rather than forwarded as a list', origin: [{ headers: [CC('max-age=3600'), ['Content-Type', 'text/plain'], ['Content-Type', 'text/html']] }], steps: notReused({ expect: { body: 'r1', headers: { 'content-type': null } } }) },
    { id: 'content-length-twice-differ', rfc: 'RFC 9110 §8.6, RFC 9112 §6.3', title: 'two different Content-Lengths: refused (502), never forwarded twice', origin: [{ headers: [CC('max-age=3600'), ['Content-Length', '2'], ['Content-Length', '3']] }], steps: [{ expect: { status: 502, headers: { 'content-length': /^\d+$/ } } }] },
    { id: 'last-modified-twice-differ', rfc: 'RFC 9110 §5.5, §8.8.2', title: 'two different Last-Modified values: the field is dropped, never forwarded as a list', origin: [{ headers: [CC('max-age=3600'), ['Last-Modified', '{imf-7200}'], ['Last-Modified', '{imf-3600}']] }], steps: [{ expect: { status: 200, headers: { 'last-modified': null } } }] },
    { id: 'expires-twice', rfc: 'RFC 9111 §4.2.1, §5.3', title: 'two Expires lines (no max-age): considered stale', origin: [{ headers: [['Expires', '{imf+3600}'], ['Expires', '{imf+7200}']] }], steps: notReused() },
    { id: 'max-age-two-lines-conflict', rfc: 'RFC 9111 §4.2.1', title: 'max-age=3600 and max-age=0 on two lines: stale', origin: [{ headers: [CC('max-age=3600'), CC('max-age=0')] }], steps: notReused() },
    { id: 'set-cookie-two-lines', rfc: 'RFC 9110 §5.3 (note), RFC 6265', title: 'Set-Cookie lines stay separate, and such a response is not stored', origin: [{ headers: [CC('max-age=3600'), ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']] }], steps: [{ expect: { headers: { 'set-cookie': 'a=1\nb=2' } }, originCount: 1 }, { expect: { body: 'r1' }, originCount: 2 }] },
    { id: 'custom-two-lines', rfc: 'RFC 9110 §5.3', title: 'an unknown field on two lines is forwarded combined and stored', origin: [{ headers: [CC('max-age=3600'), ['X-Thing', 'a'], ['X-Thing', 'b']] }], steps: reused({ expect: { headers: { 'x-thing': 'a, b' } } }) }
  ]
}
