// Issue #13 item 2: end-to-end request headers reach the origin on a miss (RFC 9110 §7.6.1);
// Vary-selected values are stored with the entry (RFC 9111 §4.1).
import type { Section } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]
const FRESH = [{ headers: [CC('max-age=3600')] }]

export const forwarding: Section = {
  name: 'forwarding',
  title: 'item 2: end-to-end request headers on a miss, Vary',
  rows: [
    { id: 'custom-header', rfc: 'RFC 9110 §7.6', title: 'a custom end-to-end request header reaches the origin', origin: FRESH, steps: [{ headers: { 'x-dataset-client': 'abc' }, expect: { status: 200 }, originSaw: { 'x-dataset-client': 'abc' } }] },
    { id: 'accept-language', rfc: 'RFC 9110 §12.5.4', title: 'Accept-Language reaches the origin', origin: FRESH, steps: [{ headers: { 'accept-language': 'fr' }, expect: { status: 200 }, originSaw: { 'accept-language': 'fr' } }] },
    { id: 'accept', rfc: 'RFC 9110 §12.5.1', title: 'Accept reaches the origin', origin: FRESH, steps: [{ headers: { accept: 'application/json' }, expect: { status: 200 }, originSaw: { accept: 'application/json' } }] },
    { id: 'user-agent', rfc: 'RFC 9110 §10.1.5', title: 'User-Agent reaches the origin', origin: FRESH, steps: [{ headers: { 'user-agent': 'torchvision/0.29' }, expect: { status: 200 }, originSaw: { 'user-agent': 'torchvision/0.29' } }] },
    { id: 'authorization', rfc: 'RFC 9110 §11.6.2', title: 'Authorization reaches the origin', origin: FRESH, steps: [{ headers: { authorization: 'Bearer t' }, expect: { status: 200 }, originSaw: { authorization: 'Bearer t' } }] },
    { id: 'accept-charset', rfc: 'RFC 9110 §12.5.2', title: 'Accept-Charset reaches the origin', origin: FRESH, steps: [{ headers: { 'accept-charset': 'utf-8' }, expect: { status: 200 }, originSaw: { 'accept-charset': 'utf-8' } }] },
    { id: 'referer', rfc: 'RFC 9110 §10.1.3', title: 'Referer reaches the origin', origin: FRESH, steps: [{ headers: { referer: 'https://example.org/' }, expect: { status: 200 }, originSaw: { referer: 'https://example.org/' } }] },
    { id: 'from', rfc: 'RFC 9110 §10.1.2', title: 'From reaches the origin', origin: FRESH, steps: [{ headers: { from: 'ops@example.org' }, expect: { status: 200 }, originSaw: { from: 'ops@example.org' } }] },
    { id: 'x-hf-header', rfc: 'RFC 9110 §7.6', title: 'a client library header (X-Amz-Content-Sha256 style) reaches the origin', origin: FRESH, steps: [{ headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, expect: { status: 200 }, originSaw: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }] },
    { id: 'connection-listed-not-forwarded', rfc: 'RFC 9110 §7.6.1', title: 'a field the client names in Connection is not forwarded', origin: FRESH, steps: [{ headers: { connection: 'close, x-hop', 'x-hop': '1', 'x-end': '2' }, expect: { status: 200 }, originSaw: { 'x-hop': null, 'x-end': '2' } }] },
    { id: 'keep-alive-not-forwarded', rfc: 'RFC 9110 §7.6.1', title: 'Keep-Alive is not forwarded', origin: FRESH, steps: [{ headers: { 'keep-alive': 'timeout=5' }, expect: { status: 200 }, originSaw: { 'keep-alive': null } }] },
    { id: 'proxy-authorization-not-forwarded', rfc: 'RFC 9110 §11.7.2', title: 'Proxy-Authorization is not forwarded', origin: FRESH, steps: [{ headers: { 'proxy-authorization': 'Basic eDp5' }, expect: { status: 200 }, originSaw: { 'proxy-authorization': null } }] },
    { id: 'te-not-forwarded', rfc: 'RFC 9110 §10.1.4', title: 'TE is not forwarded', origin: FRESH, steps: [{ headers: { te: 'trailers', connection: 'te' }, expect: { status: 200 }, originSaw: { te: null } }] },
    { id: 'range-not-forwarded', rfc: 'RFC 9110 §14.2', title: "the client's Range is the cache's to serve: the origin is asked for the whole body", origin: FRESH, steps: [{ headers: { range: 'bytes=0-0' }, expect: { status: 206, body: 'r' }, originSaw: { range: null } }] },
    { id: 'client-cache-control-not-forwarded', rfc: 'RFC 9111 §5.2.1', title: "the client's Cache-Control is the cache's to act on, not forwarded", origin: FRESH, steps: [{ headers: { 'cache-control': 'max-age=5' }, expect: { status: 200 }, originSaw: { 'cache-control': null } }] },
    { id: 'host-is-the-origins', rfc: 'RFC 9110 §7.2', title: 'the origin sees its own Host, not the client-facing one', origin: FRESH, steps: [{ headers: { host: 'mirror.example' }, expect: { status: 200 }, originSaw: { host: /^127\.0\.0\.1:\d+$/ } }] },
    { id: 'accept-encoding-identity', rfc: 'RFC 9110 §12.5.3', title: 'the cache asks for identity bytes whatever the client accepts', origin: FRESH, steps: [{ headers: { 'accept-encoding': 'gzip, br' }, expect: { status: 200 }, originSaw: { 'accept-encoding': 'identity' } }] },
    { id: 'cookie-not-forwarded', rfc: 'RFC 9111 §3.5 (credentials policy)', title: 'Cookie is not sent to the origin on the shared path', origin: FRESH, steps: [{ headers: { cookie: 'session=1' }, expect: { status: 200 }, originSaw: { cookie: null } }] },
    {
      id: 'vary-custom-hit',
      rfc: 'RFC 9111 §4.1',
      title: 'Vary: X-Shard: the same value is a hit',
      origin: [{ headers: [CC('max-age=3600'), ['Vary', 'X-Shard']] }],
      steps: [{ headers: { 'x-shard': 'a' }, expect: { body: 'r0' }, originCount: 1, originSaw: { 'x-shard': 'a' } }, { headers: { 'x-shard': 'a' }, expect: { body: 'r0' }, originCount: 1 }]
    },
    {
      id: 'vary-custom-other-value',
      rfc: 'RFC 9111 §4.1',
      title: 'Vary: X-Shard: another value goes to the origin with that value',
      origin: [{ headers: [CC('max-age=3600'), ['Vary', 'X-Shard']] }],
      steps: [{ headers: { 'x-shard': 'a' }, expect: { body: 'r0' }, originCount: 1 }, { headers: { 'x-shard': 'b' }, expect: { body: 'r1' }, originCount: 2, originSaw: { 'x-shard': 'b' } }]
    },
    {
      id: 'vary-custom-absent',
      rfc: 'RFC 9111 §4.1',
      title: 'Vary: X-Shard: a request without it is not served the one stored for a value',
      origin: [{ headers: [CC('max-age=3600'), ['Vary', 'X-Shard']] }],
      steps: [{ headers: { 'x-shard': 'a' }, expect: { body: 'r0' }, originCount: 1 }, { expect: { body: 'r1' }, originCount: 2, originSaw: { 'x-shard': null } }]
    },
    {
      id: 'vary-accept-language',
      rfc: 'RFC 9111 §4.1',
      title: 'Vary: Accept-Language: another language goes to the origin with it',
      origin: [{ headers: [CC('max-age=3600'), ['Vary', 'Accept-Language']] }],
      steps: [{ headers: { 'accept-language': 'en' }, expect: { body: 'r0' } }, { headers: { 'accept-language': 'de' }, expect: { body: 'r1' }, originCount: 2, originSaw: { 'accept-language': 'de' } }]
    },
    {
      id: 'vary-star',
      rfc: 'RFC 9111 §4.1',
      title: 'Vary: * is never reused',
      origin: [{ headers: [CC('max-age=3600'), ['Vary', '*']] }],
      steps: [{ expect: { body: 'r0' } }, { expect: { body: 'r1' }, originCount: 2 }]
    },
    {
      id: 'vary-case-insensitive-name',
      rfc: 'RFC 9111 §4.1',
      title: 'Vary names are case-insensitive',
      origin: [{ headers: [CC('max-age=3600'), ['Vary', 'x-SHARD']] }],
      steps: [{ headers: { 'x-shard': 'a' }, expect: { body: 'r0' } }, { headers: { 'x-shard': 'a' }, expect: { body: 'r0' }, originCount: 1 }]
    },
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    { id: 'prefer', rfc: 'RFC 7240 §2, RFC 9110 §7.6', title: 'Prefer reaches the origin', origin: FRESH, steps: [{ headers: { prefer: 'return=minimal' }, expect: { status: 200 }, originSaw: { prefer: 'return=minimal' } }] },
    { id: 'origin-header', rfc: 'RFC 6454 §7, RFC 9110 §7.6', title: 'Origin reaches the origin server (CORS-aware origins answer by it)', origin: FRESH, steps: [{ headers: { origin: 'https://app.example' }, expect: { status: 200 }, originSaw: { origin: 'https://app.example' } }] },
    { id: 'accept-datetime', rfc: 'RFC 7089 §2.1.1', title: 'Accept-Datetime (a Memento request) reaches the origin', origin: FRESH, steps: [{ headers: { 'accept-datetime': 'Thu, 31 May 2007 20:35:00 GMT' }, expect: { status: 200 }, originSaw: { 'accept-datetime': 'Thu, 31 May 2007 20:35:00 GMT' } }] },
    { id: 'connection-listed-two-not-forwarded', rfc: 'RFC 9110 §7.6.1', title: 'every field the client names in Connection is dropped; the rest are forwarded', origin: FRESH, steps: [{ headers: { connection: 'x-a, X-B', 'x-a': '1', 'x-b': '2', 'x-c': '3' }, expect: { status: 200 }, originSaw: { 'x-a': null, 'x-b': null, 'x-c': '3' } }] },
    { id: 'connection-listed-known-field', rfc: 'RFC 9110 §7.6.1', title: 'an end-to-end field (Accept-Language) named in Connection is hop-by-hop for this message: not forwarded', origin: FRESH, steps: [{ headers: { connection: 'accept-language', 'accept-language': 'fr' }, expect: { status: 200 }, originSaw: { 'accept-language': null } }] },
    {
      id: 'vary-two-custom',
      rfc: 'RFC 9111 §4.1',
      title: 'Vary: X-A, X-B: the same X-A but another X-B goes to the origin with both',
      origin: [{ headers: [CC('max-age=3600'), ['Vary', 'X-A, X-B']] }],
      steps: [{ headers: { 'x-a': '1', 'x-b': '1' }, expect: { body: 'r0' }, originCount: 1 }, { headers: { 'x-a': '1', 'x-b': '2' }, expect: { body: 'r1' }, originCount: 2, originSaw: { 'x-a': '1', 'x-b': '2' } }]
    },
    {
      id: 'vary-custom-revalidation',
      rfc: 'RFC 9111 §4.1, §4.3.1',
      title: 'a stale entry varying on X-Shard is revalidated with the X-Shard value and its ETag',
      origin: [{ headers: [CC('max-age=0'), ['Vary', 'X-Shard'], ['ETag', '"s1"']] }, { status: 304, headers: [CC('max-age=0'), ['Vary', 'X-Shard'], ['ETag', '"s1"']] }],
      steps: [{ headers: { 'x-shard': 'a' }, expect: { body: 'r0' }, originCount: 1 }, { headers: { 'x-shard': 'a' }, expect: { status: 200, body: 'r0' }, originCount: 2, originSaw: { 'x-shard': 'a', 'if-none-match': '"s1"' } }]
    },
    {
      id: 'custom-header-on-revalidation',
      rfc: 'RFC 9110 §7.6, RFC 9111 §4.3.1',
      title: "the client's end-to-end header reaches the origin on a revalidation too",
      origin: [{ headers: [CC('max-age=0'), ['ETag', '"c1"']] }, { status: 304, headers: [CC('max-age=0'), ['ETag', '"c1"']] }],
      steps: [{ expect: { body: 'r0' }, originCount: 1 }, { headers: { 'x-dataset-client': 'abc' }, expect: { status: 200, body: 'r0' }, originCount: 2, originSaw: { 'x-dataset-client': 'abc', 'if-none-match': '"c1"' } }]
    },
    { id: 'custom-header-head', rfc: 'RFC 9110 §9.3.2, §7.6', title: 'a HEAD miss forwards the client end-to-end header', origin: FRESH, steps: [{ method: 'HEAD', headers: { 'x-dataset-client': 'abc' }, expect: { status: 200 }, originSaw: { 'x-dataset-client': 'abc' } }] }
  ]
}
