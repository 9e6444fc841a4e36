// Turns a client's request target into the upstream URL it mirrors (docs/design.md "URL scheme"):
//   /<upstream-host[:port]>/<path>  ->  https://<upstream-host[:port]>/<path>
//   /<mirror-name>/<path>           ->  <mirrors[name].url><path>
// It works on the raw target, before any framework decoding, because traversal and smuggling
// hide in the encoded form: `%2e%2e`, `%2f`, `%5c`, `%00`, userinfo and absolute-form targets are
// refused here, so no later normalisation can turn them into another host or path.
import { type Allowlist, canonicalHost } from '../upstream/allowlist.js'
import { BadPathError, HostNotAllowedError, MirrorUnknownError } from '../errors.js'

export interface MirrorTarget {
  /** The upstream URL to fetch; also the cache key's source (keys stay on this, never a redirect). */
  url: URL
  /** Mirror name for `/<mirror>/` targets, null for the generic host form. */
  mirror: string | null
}

export interface MirrorTargetOptions {
  allowlist: Allowlist
  mirrors: Readonly<Record<string, { url: string }>>
}

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/ // eslint-disable-line no-control-regex
const HOST_CHARS = /^[A-Za-z0-9.\-:[\]]+$/

function refuse (target: string, reason: string): never {
  throw new BadPathError(target.length > 200 ? `${target.slice(0, 200)}...` : target, reason)
}

/** Parses a raw request target (`request.raw.url`); throws DSM_BAD_PATH, DSM_HOST_NOT_ALLOWED or DSM_MIRROR_UNKNOWN. */
export function parseMirrorTarget (rawTarget: string, opts: MirrorTargetOptions): MirrorTarget {
  if (!rawTarget.startsWith('/')) refuse(rawTarget, 'absolute-form and authority-form targets are not accepted')
  if (rawTarget.startsWith('//')) refuse(rawTarget, 'the path starts with an empty segment')
  const queryAt = rawTarget.indexOf('?')
  const rawPath = queryAt === -1 ? rawTarget : rawTarget.slice(0, queryAt)
  const rawQuery = queryAt === -1 ? '' : rawTarget.slice(queryAt)
  if (CONTROL_CHARS.test(rawTarget)) refuse(rawTarget, 'it contains control characters')
  if (rawPath.includes('\\')) refuse(rawTarget, 'it contains a backslash')
  if (/%(2f|5c)/i.test(rawPath)) refuse(rawTarget, 'it contains an encoded / or \\')
  if (/%00/.test(rawTarget)) refuse(rawTarget, 'it contains an encoded NUL')

  const segments = rawPath.slice(1).split('/')
  // An empty segment (`a//b`) is how protocol-relative URLs hide in paths; only a trailing
  // slash (a directory listing) may be empty.
  if (segments.slice(0, -1).includes('')) refuse(rawTarget, 'it contains an empty path segment (//)')
  for (const segment of segments) {
    let decoded: string
    try {
      decoded = decodeURIComponent(segment)
    } catch {
      refuse(rawTarget, 'it has malformed percent-encoding')
    }
    if (decoded === '.' || decoded === '..') refuse(rawTarget, 'it contains a dot-segment (. or ..)')
    if (CONTROL_CHARS.test(decoded)) refuse(rawTarget, 'it contains encoded control characters')
  }

  const first = segments[0] ?? ''
  const rest = segments.slice(1).join('/')
  if (first === '') refuse(rawTarget, 'it names no upstream host or mirror')
  if (first.includes('@')) refuse(rawTarget, 'userinfo (user@host) is not accepted in the host')
  if (first.includes('%')) refuse(rawTarget, 'the host is percent-encoded')

  if (!/[.:[]/.test(first)) {
    const mirror = opts.mirrors[first]
    if (mirror === undefined || !Object.hasOwn(opts.mirrors, first)) throw new MirrorUnknownError(first)
    // The base must name a directory, or `/files` + `-secret/x` would be the sibling
    // `/files-secret/x` (config adds the slash; this keeps the function safe on its own).
    const base = new URL(mirror.url)
    base.search = ''
    base.hash = ''
    if (!base.pathname.endsWith('/')) base.pathname += '/'
    // Concatenate, never resolve: resolving `//other.host/x` or `http://other/` against the base
    // would leave the mirror's host.
    return { url: stayWithin(rawTarget, new URL(base.href + rest + rawQuery), base), mirror: first }
  }

  if (!HOST_CHARS.test(first)) refuse(rawTarget, 'the host has characters a host name cannot have')
  const host = canonicalHost(first)
  if (host === null) refuse(rawTarget, `'${first}' is not a valid host[:port]`)
  if (!opts.allowlist.allows(host.hostname, host.port)) throw new HostNotAllowedError(first)
  const base = new URL(`https://${first}/`)
  base.hostname = host.hostname
  return { url: stayWithin(rawTarget, new URL(base.origin + '/' + rest + rawQuery), base), mirror: null }
}

/** Defence in depth: the built URL must keep the base's origin and path prefix. */
function stayWithin (rawTarget: string, url: URL, base: URL): URL {
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) refuse(rawTarget, 'it leaves its upstream')
  return url
}
