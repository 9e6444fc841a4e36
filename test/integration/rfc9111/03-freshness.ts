// Issue #13 item 3: freshness (RFC 9111 §4.2): Cache-Control parsing, Expires (§5.3), Age (§4.2.3, §5.1).
import { notReused, reused, type Row, type Section } from './table.js'

const CC = (v: string): [string, string] => ['Cache-Control', v]

/** A row whose second request must be served from the cache. */
const fresh = (id: string, rfc: string, title: string, headers: Array<[string, string]>): Row => ({ id, rfc, title, origin: [{ headers }], steps: reused() })
/** A row whose second request must go to the origin. */
const stale = (id: string, rfc: string, title: string, headers: Array<[string, string]>): Row => ({ id, rfc, title, origin: [{ headers }], steps: notReused() })

export const freshness: Section = {
  name: 'freshness',
  title: 'item 3: freshness parsing, Expires, Age',
  rows: [
    fresh('max-age', 'RFC 9111 §5.2.2.1', 'max-age=3600 is fresh', [CC('max-age=3600')]),
    stale('max-age-0', 'RFC 9111 §5.2.2.1', 'max-age=0 is stale', [CC('max-age=0')]),
    stale('max-age-spaces', 'RFC 9111 §5.2', '`max-age = 3600` (spaces around =) is not a valid directive: not fresh', [CC('max-age = 3600')]),
    stale('max-age-space-before', 'RFC 9111 §5.2', '`max-age =3600` is not valid: not fresh', [CC('max-age =3600')]),
    stale('max-age-space-after', 'RFC 9111 §5.2', '`max-age= 3600` is not valid: not fresh', [CC('max-age= 3600')]),
    stale('max-age-dup-conflict', 'RFC 9111 §4.2.1', 'max-age=3600, max-age=0: conflicting duplicates are stale', [CC('max-age=3600, max-age=0')]),
    stale('max-age-dup-conflict-rev', 'RFC 9111 §4.2.1', 'max-age=0, max-age=3600: conflicting duplicates are stale', [CC('max-age=0, max-age=3600')]),
    fresh('max-age-dup-same', 'RFC 9111 §4.2.1', 'max-age=3600, max-age=3600: the same value twice is fresh', [CC('max-age=3600, max-age=3600')]),
    stale('max-age-date', 'RFC 9111 §1.2.2', 'max-age with a date is not a delta-seconds: not fresh', [CC('max-age={imf+3600}')]),
    stale('max-age-negative', 'RFC 9111 §1.2.2', 'max-age=-1 is not a delta-seconds: not fresh', [CC('max-age=-1')]),
    stale('max-age-decimal', 'RFC 9111 §1.2.2', 'max-age=3600.5 is not a delta-seconds: not fresh', [CC('max-age=3600.5')]),
    stale('max-age-trailing-junk', 'RFC 9111 §1.2.2', 'max-age=3600a is not a delta-seconds: not fresh', [CC('max-age=3600a')]),
    stale('max-age-empty', 'RFC 9111 §1.2.2', 'max-age= (empty) is not fresh', [CC('max-age=')]),
    stale('max-age-plus', 'RFC 9111 §1.2.2', 'max-age=+3600 is not a delta-seconds: not fresh', [CC('max-age=+3600')]),
    fresh('max-age-quoted', 'RFC 9111 §5.2', 'max-age="3600" (quoted-string form) is understood', [CC('max-age="3600"')]),
    fresh('max-age-huge', 'RFC 9111 §1.2.2', 'max-age=2147483648 (the cap) is fresh', [CC('max-age=2147483648')]),
    fresh('max-age-huger', 'RFC 9111 §1.2.2', 'max-age beyond 2^31 is treated as 2^31: fresh', [CC('max-age=99999999999')]),
    fresh('max-age-uppercase', 'RFC 9111 §5.2', 'directive names are case-insensitive: MAX-AGE=3600', [CC('MAX-AGE=3600')]),
    fresh('max-age-with-unknown', 'RFC 9111 §5.2.3', 'an unknown directive is ignored', [CC('max-age=3600, x-foo=bar')]),
    fresh('s-maxage-wins', 'RFC 9111 §5.2.2.10', 's-maxage=3600 beats max-age=0 for a shared cache', [CC('max-age=0, s-maxage=3600')]),
    stale('s-maxage-0', 'RFC 9111 §5.2.2.10', 's-maxage=0 beats max-age=3600', [CC('max-age=3600, s-maxage=0')]),
    stale('s-maxage-spaces', 'RFC 9111 §5.2', '`s-maxage = 3600` is not valid: not fresh', [CC('s-maxage = 3600')]),
    fresh('expires-future', 'RFC 9111 §5.3', 'Expires an hour ahead is fresh', [['Expires', '{imf+3600}']]),
    stale('expires-past', 'RFC 9111 §5.3', 'Expires in the past is stale', [['Expires', '{imf-3600}']]),
    stale('expires-zero', 'RFC 9111 §5.3', 'Expires: 0 is in the past', [['Expires', '0']]),
    stale('expires-garbage', 'RFC 9111 §5.3', 'Expires: soon is in the past', [['Expires', 'soon']]),
    stale('expires-utc', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'Expires with UTC instead of GMT is invalid: stale', [['Expires', '{utc+3600}']]),
    stale('expires-one-digit-hour', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'Expires with a one-digit hour is invalid: stale', [['Expires', '{hour1+3600}']]),
    stale('expires-dashes', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'Expires with dashes in an IMF-fixdate is invalid: stale', [['Expires', '{dashes+3600}']]),
    stale('expires-iso', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'Expires in ISO 8601 is invalid: stale', [['Expires', '{iso+3600}']]),
    stale('expires-no-weekday', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'Expires without the day name is invalid: stale', [['Expires', '{noday+3600}']]),
    fresh('expires-rfc850', 'RFC 9110 §5.6.7', 'Expires in the obsolete RFC 850 format is accepted', [['Expires', '{rfc850+3600}']]),
    fresh('expires-asctime', 'RFC 9110 §5.6.7', 'Expires in asctime format is accepted', [['Expires', '{asctime+3600}']]),
    fresh('expires-past-max-age-wins', 'RFC 9111 §5.3', 'max-age=3600 beats an Expires in the past', [CC('max-age=3600'), ['Expires', '{imf-3600}']]),
    stale('expires-future-max-age-0-wins', 'RFC 9111 §5.3', 'max-age=0 beats an Expires in the future', [CC('max-age=0'), ['Expires', '{imf+3600}']]),
    fresh('expires-invalid-max-age-wins', 'RFC 9111 §5.3', 'max-age=3600 beats an invalid Expires', [CC('max-age=3600'), ['Expires', '0']]),
    stale('expires-relative-to-date', 'RFC 9111 §4.2.1', 'Expires equal to Date is stale', [['Date', '{imf-60}'], ['Expires', '{imf-60}']]),
    stale('age-over-max-age', 'RFC 9111 §4.2.3', 'Age: 7200 with max-age=3600 is stale on arrival', [CC('max-age=3600'), ['Age', '7200']]),
    fresh('age-under-max-age', 'RFC 9111 §4.2.3', 'Age: 1800 with max-age=3600 is fresh', [CC('max-age=3600'), ['Age', '1800']]),
    stale('age-over-expires', 'RFC 9111 §4.2.3', 'Age beyond an Expires lifetime is stale', [['Expires', '{imf+600}'], ['Age', '1200']]),
    fresh('age-invalid-ignored', 'RFC 9111 §5.1', 'an invalid Age is ignored', [CC('max-age=3600'), ['Age', 'ten']]),
    fresh('heuristic-last-modified', 'RFC 9111 §4.2.2', 'no explicit freshness, Last-Modified a year ago: heuristically fresh', [['Last-Modified', '{imf-31536000}']]),
    stale('no-validator-no-freshness', 'RFC 9111 §4.2.2', 'no freshness information at all (no Last-Modified): not reused', []),
    fresh('pragma-ignored-with-cc', 'RFC 9111 §5.4', 'Pragma: no-cache in a response with Cache-Control max-age is ignored', [CC('max-age=3600'), ['Pragma', 'no-cache']]),
    stale('no-cache', 'RFC 9111 §5.2.2.4', 'no-cache is revalidated even with max-age', [CC('max-age=3600, no-cache')]),
    fresh('must-revalidate-fresh', 'RFC 9111 §5.2.2.2', 'must-revalidate while fresh is reused', [CC('max-age=3600, must-revalidate')]),
    {
      id: 'age-on-hit',
      rfc: 'RFC 9111 §5.1, §4.2.3',
      title: 'a hit carries Age, counting the upstream Age',
      origin: [{ headers: [CC('max-age=3600'), ['Age', '100']] }],
      steps: reused({ expect: { headers: { age: /^(1\d\d|[2-9]\d\d)$/ } } })
    },
    {
      id: 'age-on-first-response',
      rfc: 'RFC 9111 §5.1',
      title: 'the response that fills the cache carries the upstream Age too',
      origin: [{ headers: [CC('max-age=3600'), ['Age', '100']] }],
      steps: [{ expect: { status: 200, headers: { age: /^(1\d\d|[2-9]\d\d)$/ } } }]
    },
    {
      id: 'age-once',
      rfc: 'RFC 9111 §5.1',
      title: 'Age is sent once on a hit',
      origin: [{ headers: [CC('max-age=3600'), ['Age', '5']] }],
      steps: reused({ expect: { headers: { age: /^\d+$/ } } })
    },
    // More rows (issue #13 follow-up): each fails on the pre-#13 main (1be75b0).
    stale('expires-lowercase-gmt', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'HTTP-date is case-sensitive: `gmt` in lower case is invalid, stale', [['Expires', '{lowgmt+3600}']]),
    stale('expires-numeric-zone', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'Expires with +0000 instead of GMT is invalid: stale', [['Expires', '{numtz+3600}']]),
    stale('expires-no-seconds', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'Expires without seconds is invalid: stale', [['Expires', '{nosec+3600}']]),
    stale('expires-two-digit-year', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'an IMF-fixdate with a two-digit year is invalid: stale', [['Expires', '{yy+3600}']]),
    stale('expires-three-digit-day', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'an IMF-fixdate day is exactly 2DIGIT: a three-digit day is invalid, stale', [['Expires', '{day3+3600}']]),
    stale('expires-lowercase-month', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'month names are case-sensitive: `dec` is invalid, stale', [['Expires', '{lowmon+3600}']]),
    stale('expires-long-day-name', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'an IMF-fixdate with the full day name (RFC 850 style, spaces) is invalid: stale', [['Expires', '{longday+3600}']]),
    stale('expires-est', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'Expires in EST (right instant, wrong zone name) is invalid: stale', [['Expires', '{est+3600}']]),
    stale('expires-rfc850-four-digit-year', 'RFC 9111 §5.3, RFC 9110 §5.6.7', 'an RFC 850 date has a two-digit year: four digits are invalid, stale', [['Expires', '{rfc850y4+3600}']]),
    stale('expires-quoted', 'RFC 9111 §5.3', 'a quoted Expires is not an HTTP-date: stale', [['Expires', '"{imf+3600}"']]),
    stale('s-maxage-dup-conflict-rev', 'RFC 9111 §4.2.1', 's-maxage=0, s-maxage=3600: conflicting duplicates are stale', [CC('s-maxage=0, s-maxage=3600')]),
    fresh('s-maxage-uppercase', 'RFC 9111 §5.2', 'S-MAXAGE=3600 is s-maxage (names are case-insensitive) and beats max-age=0', [CC('max-age=0, S-MAXAGE=3600')]),
    stale('no-cache-uppercase', 'RFC 9111 §5.2, §5.2.2.4', 'NO-CACHE is no-cache: revalidated despite max-age', [CC('max-age=3600, NO-CACHE')]),
    stale('no-store-uppercase', 'RFC 9111 §5.2, §5.2.2.5', 'No-Store is no-store: not stored', [CC('max-age=3600, No-Store')]),
    stale('private-uppercase', 'RFC 9111 §5.2, §5.2.2.7', 'PRIVATE is private: a shared cache does not store it', [CC('max-age=3600, PRIVATE')]),
    stale('max-age-inner-space', 'RFC 9111 §1.2.2', 'max-age=36 00 is not a delta-seconds: not fresh', [CC('max-age=36 00')]),
    // Passes on 1be75b0 too (h-c-s read parseInt('7200, 10')); #13's Age check had made it fresh.
    stale('age-list-first-member', 'RFC 9111 §5.1', 'Age: 7200, 10 counts by its first member: stale with max-age=3600', [CC('max-age=3600'), ['Age', '7200, 10']]),
    fresh('age-decimal-ignored', 'RFC 9111 §5.1', 'Age: 7200.5 is not a non-negative integer: ignored, so max-age=3600 is fresh', [CC('max-age=3600'), ['Age', '7200.5']])
  ]
}
