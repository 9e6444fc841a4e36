// The image's HEALTHCHECK: GET /_/healthz on the plain HTTP listener, no curl needed.
// Exit 0 when it answers 2xx within the timeout, 1 otherwise (Docker's contract).
const port = process.env.DSMIRROR_LISTEN_HTTP_PORT ?? '8080'
const TIMEOUT_MS = 4000
try {
  const res = await fetch(`http://127.0.0.1:${port}/_/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  // 503 { status: 'unhealthy', reason } when the cache directory cannot be written: say why.
  if (!res.ok) process.stderr.write(`healthcheck: ${res.status} ${await res.text()}\n`)
  process.exit(res.ok ? 0 : 1)
} catch (err) {
  process.stderr.write(`healthcheck: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}
