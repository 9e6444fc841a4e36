// Issue #13 item 10: partial responses (RFC 9110 §14; RFC 9111 §3.3, §3.4).
import type { OriginRequest, Scripted, Section } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]
const BODY = '0123456789'

/** An origin that only ever answers 206 for the first five bytes (a scripted partial answer). */
const always206 = (): Scripted => ({ status: 206, headers: [CC('max-age=3600'), ['Content-Range', 'bytes 0-4/10'], ['ETag', '"p"']], body: '01234' })
/** 206 to the first request, then 200s. */
const first206 = (_req: OriginRequest, i: number): Scripted => i === 0 ? always206() : { headers: [CC('max-age=3600'), ['ETag', '"p"']], body: BODY }

export const partial: Section = {
  name: 'partial',
  title: 'item 10: partial responses',
  rows: [
    {
      id: 'miss-206-passed-through',
      rfc: 'RFC 9110 §15.3.7, RFC 9111 §3.4',
      title: 'a ranged miss answered 206 by the origin is passed through, not a 502',
      origin: always206,
      steps: [{ headers: { range: 'bytes=0-4' }, expect: { status: 206, body: '01234', headers: { 'content-range': 'bytes 0-4/10' } }, originCount: 1 }]
    },
    {
      id: 'miss-206-not-stored',
      rfc: 'RFC 9111 §3.3',
      title: 'a 206 passed through is never stored as the whole object',
      origin: first206,
      steps: [{ headers: { range: 'bytes=0-4' }, expect: { status: 206, body: '01234' }, originCount: 1 }, { expect: { status: 200, body: BODY }, originCount: 2 }]
    },
    {
      id: 'miss-206-content-length',
      rfc: 'RFC 9110 §14.4',
      title: 'the 206 passed through carries its Content-Length',
      origin: always206,
      steps: [{ headers: { range: 'bytes=0-4' }, expect: { status: 206, headers: { 'content-length': '5' } } }]
    },
    {
      id: 'miss-206-other-range',
      rfc: 'RFC 9110 §15.3.7',
      title: 'a 206 for another range than asked is passed through as the origin sent it',
      origin: always206,
      steps: [{ headers: { range: 'bytes=2-3' }, expect: { status: 206, headers: { 'content-range': 'bytes 0-4/10' } } }]
    },
    {
      id: 'plain-get-206',
      rfc: 'RFC 9110 §15.3.7',
      title: 'a 206 to a request without Range is a bad response (502), as before',
      origin: always206,
      steps: [{ expect: { status: 502 } }]
    },
    {
      id: 'miss-range-200',
      rfc: 'RFC 9110 §14.2',
      title: 'a ranged miss answered 200 is stored and the range served from it',
      origin: [{ headers: [CC('max-age=3600')], body: BODY }],
      steps: [{ headers: { range: 'bytes=2-3' }, expect: { status: 206, body: '23', headers: { 'content-range': 'bytes 2-3/10' } }, originCount: 1 }, { expect: { status: 200, body: BODY }, originCount: 1 }]
    },
    {
      id: 'hit-range',
      rfc: 'RFC 9110 §14.2',
      title: 'a range on a stored response is served from it',
      origin: [{ headers: [CC('max-age=3600')], body: BODY }],
      steps: [{ expect: { status: 200 } }, { headers: { range: 'bytes=5-' }, expect: { status: 206, body: '56789', headers: { 'content-range': 'bytes 5-9/10' } }, originCount: 1 }]
    },
    {
      id: 'hit-suffix-range',
      rfc: 'RFC 9110 §14.1.1',
      title: 'a suffix range on a stored response',
      origin: [{ headers: [CC('max-age=3600')], body: BODY }],
      steps: [{ expect: { status: 200 } }, { headers: { range: 'bytes=-3' }, expect: { status: 206, body: '789' }, originCount: 1 }]
    },
    {
      id: 'hit-unsatisfiable',
      rfc: 'RFC 9110 §15.5.17',
      title: 'an unsatisfiable range on a stored response: 416 with bytes */10',
      origin: [{ headers: [CC('max-age=3600')], body: BODY }],
      steps: [{ expect: { status: 200 } }, { headers: { range: 'bytes=20-' }, expect: { status: 416, headers: { 'content-range': 'bytes */10' } }, originCount: 1 }]
    },
    {
      id: 'hit-multi-range',
      rfc: 'RFC 9110 §14.6',
      title: 'two ranges on a stored response: multipart/byteranges',
      origin: [{ headers: [CC('max-age=3600')], body: BODY }],
      steps: [{ expect: { status: 200 } }, { headers: { range: 'bytes=0-0,5-5' }, expect: { status: 206, headers: { 'content-type': /^multipart\/byteranges/ } }, originCount: 1 }]
    },
    {
      id: 'hit-bad-range-ignored',
      rfc: 'RFC 9110 §14.2',
      title: 'an invalid Range is ignored: 200',
      origin: [{ headers: [CC('max-age=3600')], body: BODY }],
      steps: [{ expect: { status: 200 } }, { headers: { range: 'bits=0-1' }, expect: { status: 200, body: BODY }, originCount: 1 }]
    },
    {
      id: 'hit-accept-ranges',
      rfc: 'RFC 9110 §14.3',
      title: 'a stored response says Accept-Ranges: bytes',
      origin: [{ headers: [CC('max-age=3600')], body: BODY }],
      steps: [{ expect: { status: 200 } }, { expect: { status: 200, headers: { 'accept-ranges': 'bytes' } }, originCount: 1 }]
    },
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    {
      id: 'miss-206-multipart',
      rfc: 'RFC 9110 §14.6, §15.3.7',
      title: 'a multipart/byteranges 206 to a ranged miss is passed through with its Content-Type',
      origin: () => ({ status: 206, headers: [CC('max-age=3600'), ['Content-Type', 'multipart/byteranges; boundary=XB']], body: '--XB\r\nContent-Range: bytes 0-0/10\r\n\r\n0\r\n--XB\r\nContent-Range: bytes 5-5/10\r\n\r\n5\r\n--XB--\r\n' }),
      steps: [{ headers: { range: 'bytes=0-0,5-5' }, expect: { status: 206, headers: { 'content-type': 'multipart/byteranges; boundary=XB' } }, originCount: 1 }]
    },
    {
      id: 'miss-206-suffix',
      rfc: 'RFC 9110 §14.1.1, §15.3.7',
      title: 'a suffix-range miss answered 206 is passed through',
      origin: () => ({ status: 206, headers: [CC('max-age=3600'), ['Content-Range', 'bytes 7-9/10']], body: '789' }),
      steps: [{ headers: { range: 'bytes=-3' }, expect: { status: 206, body: '789', headers: { 'content-range': 'bytes 7-9/10' } }, originCount: 1 }]
    },
    {
      id: 'miss-206-unknown-length',
      rfc: 'RFC 9110 §14.4',
      title: 'a 206 whose complete length is unknown (bytes 0-4/*) is passed through',
      origin: () => ({ status: 206, headers: [['Content-Range', 'bytes 0-4/*']], body: '01234' }),
      steps: [{ headers: { range: 'bytes=0-4' }, expect: { status: 206, body: '01234', headers: { 'content-range': 'bytes 0-4/*' } }, originCount: 1 }]
    },
    {
      id: 'miss-206-twice',
      rfc: 'RFC 9111 §3.3, §3.4',
      title: 'nothing is stored from a 206 passed through: the same range again goes to the origin',
      origin: always206,
      steps: [{ headers: { range: 'bytes=0-4' }, expect: { status: 206, body: '01234' }, originCount: 1 }, { headers: { range: 'bytes=0-4' }, expect: { status: 206, body: '01234' }, originCount: 2 }]
    },
    {
      id: 'miss-206-connection-listed',
      rfc: 'RFC 9110 §7.6.1',
      title: 'a field named in Connection is stripped from a 206 passed through',
      origin: () => ({ status: 206, headers: [['Content-Range', 'bytes 0-4/10'], ['Connection', 'x-hop'], ['X-Hop', '1']], body: '01234' }),
      steps: [{ headers: { range: 'bytes=0-4' }, expect: { status: 206, headers: { 'x-hop': null } } }]
    },
    {
      id: 'miss-206-etag-kept',
      rfc: 'RFC 9110 §15.3.7',
      title: 'the validators of a 206 passed through reach the client',
      origin: always206,
      steps: [{ headers: { range: 'bytes=0-4' }, expect: { status: 206, headers: { etag: '"p"' } } }]
    }
  ]
}
