// Credentials in query strings (issue 12 item 12): presigned S3/GCS/Azure URLs and Hub tokens
// (`?X-Amz-Signature=...`, `?token=hf_...`) are the secret itself, and dsmirror shows URLs in many
// places: the request log line and every log field named `url`, the status page and
// /_/api/status, /_/api/entries and /_/api/downloads, recent errors, `dsmirror cache ls`. Every one
// of them shows a URL through redactUrl; the cache key and the upstream request keep the full URL.
//
// Written here rather than taken from a package: no maintained npm package redacts query
// parameters by name inside free text (error messages carry URLs too), and the rule is short.
import type { LoggerOptions } from 'pino'
import pino from 'pino'

export const REDACTED = 'REDACTED'

/**
 * Query parameter names (lower case) whose value is a credential: AWS SigV2/SigV4 presigned URLs,
 * GCS V4 signed URLs, Azure SAS (`sig`), CloudFront signed URLs, OAuth and Hub tokens, API keys.
 */
const CREDENTIAL_PARAMS = new Set([
  'token', 'access_token', 'refresh_token', 'id_token', 'auth', 'key', 'apikey', 'api_key', 'api-key',
  'password', 'passwd', 'secret', 'client_secret', 'sig', 'signature', 'policy', 'key-pair-id',
  'x-amz-signature', 'x-amz-credential', 'x-amz-security-token', 'awsaccesskeyid',
  'x-goog-signature', 'x-goog-credential', 'googleaccessid'
])
/** Names not in the list that still say what they hold (`hf_token`, `X-Custom-Signature`). */
const CREDENTIAL_WORDS = /token|secret|signature|password|credential/

/**
 * `?name=value` or `&name=value`, inside a URL or inside a message that quotes one; also with
 * `?`, `=` and `&` percent-encoded, as when a URL is itself a parameter's value
 * (`/_/api/entries?prefix=https%3A%2F%2Fhost%2Ff%3Ftoken%3D...`).
 */
const QUERY_PARAM = /([?&]|%3f|%26)((?:%(?!3d|26)[0-9a-f]{2}|[^=&#?%\s'"<>])+)(=|%3d)((?:%(?!26)|[^&#%\s'"<>])*)/gi
/** `scheme://user:password@`: the password part. */
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/[^/?#@\s:'"]*:)[^/?#@\s'"]*@/gi

function isCredential (rawName: string): boolean {
  let name = rawName
  try {
    name = decodeURIComponent(rawName.replace(/\+/g, ' '))
  } catch {}
  name = name.toLowerCase()
  return CREDENTIAL_PARAMS.has(name) || CREDENTIAL_WORDS.test(name)
}

/**
 * `text` (a URL, a request target, or a message quoting them) with the value of every credential
 * query parameter, and any userinfo password, replaced by REDACTED. Everything else is unchanged.
 */
export function redactUrl (text: string): string {
  return redactParams(text).replace(USERINFO, `$1${REDACTED}@`)
}

function redactParams (text: string): string {
  return text.replace(QUERY_PARAM, (_match, sep: string, name: string, eq: string, value: string) => {
    if (value !== '' && isCredential(name)) return `${sep}${name}${eq}${REDACTED}`
    // The value may hold an encoded URL with credentials of its own; it is shorter, so this ends.
    return `${sep}${name}${eq}${redactParams(value)}`
  })
}

function redactString (value: unknown): unknown {
  return typeof value === 'string' ? redactUrl(value) : value
}

/**
 * pino serializers for the fields that carry URLs in dsmirror's logs (`url`, `message`, and an
 * error's message and stack): given to the app's logger, so no log call can forget.
 */
export const REDACTING_SERIALIZERS: NonNullable<LoggerOptions['serializers']> = {
  url: redactString,
  message: redactString,
  err: (err: Error) => {
    const out = pino.stdSerializers.err(err) as unknown as Record<string, unknown>
    for (const field of ['message', 'stack'] as const) out[field] = redactString(out[field])
    return out
  }
}
