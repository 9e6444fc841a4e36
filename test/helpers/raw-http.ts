// Sends a request exactly as written, byte for byte, over a plain TCP socket to 127.0.0.1.
// Clients like node:http and fetch normalise targets (`..`, `%2e`, absolute-form), which would
// hide precisely the attacks the path parser must refuse.
import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  raw: string
}

/** Writes `head` (CRLF line ends added) and reads until the server closes or `timeoutMs` passes. */
export async function rawRequest (port: number, lines: string[], opts: { timeoutMs?: number; body?: string } = {}): Promise<RawResponse> {
  const socket = connect({ host: '127.0.0.1', port })
  const chunks: Buffer[] = []
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write(`${lines.join('\r\n')}\r\nconnection: close\r\n\r\n${opts.body ?? ''}`)
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => { socket.destroy(); resolve() }, opts.timeoutMs ?? 5000)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => {})
    socket.once('close', () => { clearTimeout(timer); resolve() })
  })
  const raw = Buffer.concat(chunks).toString('latin1')
  const [head = '', ...rest] = raw.split('\r\n\r\n')
  const [statusLine = '', ...headerLines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const at = line.indexOf(':')
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), raw }
}
