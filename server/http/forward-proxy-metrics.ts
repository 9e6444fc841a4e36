// The forward proxy's metrics (issue 12 item 7), in the app's prom-client registry beside the
// cache's (server/metrics.ts): CONNECTs by result, tunnels open by kind, leaves minted, and client
// TLS failures inside tunnels by reason. A client that does not trust the interception CA is also
// recorded as DSM_PROXY_CLIENT_UNTRUSTED in the recent errors, so /_/ shows it with the fix.
import { Counter, Gauge, type Registry } from 'prom-client'
import { ProxyClientUntrustedError } from '../errors.js'
import type { RecentErrors } from '../recent-errors.js'
import type { ConnectResult, ForwardProxyObserver, TlsFailureReason } from '../routes/forward-proxy.js'

const CONNECT_RESULTS: readonly ConnectResult[] = ['intercepted', 'tunnelled', 'refused', 'auth']
const TLS_FAILURE_REASONS: readonly TlsFailureReason[] = ['unknown CA', 'SNI mismatch', 'no common protocol', 'TLS version', 'other']

export interface ForwardProxyMetricsOptions {
  registry: Registry
  recentErrors: RecentErrors
  countError: (code: string) => void
}

export function createForwardProxyMetrics (opts: ForwardProxyMetricsOptions): Required<Pick<ForwardProxyObserver, 'countConnect' | 'tunnelOpened' | 'tunnelClosed' | 'countTlsFailure'>> & { countMint: () => void } {
  const registers = [opts.registry]
  const connects = new Counter({ name: 'dsmirror_forward_connects_total', help: 'CONNECT requests to the forward proxy by result: intercepted, tunnelled (blind), refused, auth (407).', labelNames: ['result'], registers })
  const open = new Gauge({ name: 'dsmirror_forward_tunnels_open', help: 'Forward-proxy tunnels open, by kind (intercepted, tunnelled).', labelNames: ['kind'], registers })
  const minted = new Counter({ name: 'dsmirror_forward_leaves_minted_total', help: 'Leaf certificates the interception CA minted.', registers })
  const tlsFailures = new Counter({ name: 'dsmirror_forward_tls_failures_total', help: 'Client TLS handshakes inside tunnels that failed, by reason ("unknown CA": the client does not trust the interception CA).', labelNames: ['reason'], registers })
  // Every label starts at 0, so rate() and absent() work from the first scrape.
  for (const result of CONNECT_RESULTS) connects.inc({ result }, 0)
  for (const kind of ['intercepted', 'tunnelled']) open.set({ kind }, 0)
  for (const reason of TLS_FAILURE_REASONS) tlsFailures.inc({ reason }, 0)
  return {
    countConnect: (result) => { connects.inc({ result }) },
    tunnelOpened: (kind) => { open.inc({ kind }) },
    tunnelClosed: (kind) => { open.dec({ kind }) },
    countMint: () => { minted.inc() },
    countTlsFailure: (reason, host) => {
      tlsFailures.inc({ reason })
      if (reason !== 'unknown CA') return
      const error = new ProxyClientUntrustedError(host)
      opts.countError(error.code)
      opts.recentErrors.record({ code: error.code, status: error.statusCode, method: 'CONNECT', url: host, message: error.message, reqId: null })
    }
  }
}
