// Reads multipart/byteranges answers (RFC 9110 §14.6) in tests, independently of the server code.

/** Splits a multipart/byteranges body into its parts' Content-Range and bytes. */
export function parseMultipart (body: Buffer, contentType: string): Array<{ range: string; bytes: Buffer }> {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1] ?? ''
  const parts: Array<{ range: string; bytes: Buffer }> = []
  let at = body.indexOf(`--${boundary}\r\n`)
  while (at !== -1) {
    const headEnd = body.indexOf('\r\n\r\n', at)
    const head = body.subarray(at, headEnd).toString()
    const next = body.indexOf(`\r\n--${boundary}`, headEnd)
    parts.push({ range: /content-range: (.*)/i.exec(head)?.[1]?.trim() ?? '', bytes: body.subarray(headEnd + 4, next) })
    at = body.indexOf(`--${boundary}\r\n`, next + 2)
  }
  return parts
}
