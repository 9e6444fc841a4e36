// Collects the proxy's JSON log lines in memory (startProxy({ logStream })), for tests that
// assert what was logged: a client whose transfer is aborted after the headers has no response
// body to carry a DSM code, so the code it was aborted with is proved from the log.
import type { DestinationStream } from 'pino'

export interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

export interface LogCapture {
  stream: DestinationStream
  lines: () => LogLine[]
}

export function captureLog (): LogCapture {
  const lines: LogLine[] = []
  return {
    stream: {
      write: (text: string) => {
        for (const line of text.split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine)
      }
    },
    lines: () => lines
  }
}
