// The proxy's own small endpoints: /_/healthz for orchestrators and /_/ca.pem for clients. The
// status page and the admin API are their own plugins (status-page.ts, admin-api.ts).
import type { FastifyInstance } from 'fastify'
import { readServedCaPem } from '../../certs/serving-tls.js'
import type { DsmirrorConfig } from '../../config/schema.js'
import type { CacheStore } from '../cache/cache-store.js'
import { NoCaCertificateError } from '../errors.js'

export interface OpsRoutesOptions {
  config: DsmirrorConfig
  store: CacheStore
  /** The forward proxy's interception CA certificate, null when forwardProxy.enabled is false. */
  proxyCaPem?: string | null
}

export function registerOpsRoutes (app: FastifyInstance, { config, store, proxyCaPem = null }: OpsRoutesOptions): void {
  // 503 with the reason when the cache directory cannot be written (issue 12 item 4), so an
  // orchestrator's probe (docker/healthcheck.mjs, the k8s manifests) restarts or alerts.
  app.get('/_/healthz', async (_request, reply) => {
    const health = await store.health()
    if (health.ok) return { status: 'ok' }
    return await reply.code(503).send({ status: 'unhealthy', reason: health.reason })
  })
  // The CA a client installs to trust the HTTPS listener; on every listener, so a client can
  // fetch it over plain HTTP before it trusts anything. A certificate only, never a key.
  app.get('/_/ca.pem', async (_request, reply) => {
    const pem = await readServedCaPem(config)
    return reply
      .type('application/x-pem-file')
      .header('content-disposition', 'attachment; filename="dsmirror-ca.pem"')
      // The CA can be replaced (new tls.hostnames, new files): always ask again.
      .header('cache-control', 'no-cache')
      .send(pem)
  })
  // The interception CA (issue 12 item 5): what a client of the forward proxy trusts, beside
  // /_/ca.pem. A certificate only; it names in its constraints exactly the hosts it can vouch for.
  app.get('/_/proxy-ca.pem', async (_request, reply) => {
    if (proxyCaPem === null) throw new NoCaCertificateError('forwardProxy.enabled is false, so there is no interception CA. Set forwardProxy.enabled: true to use dsmirror as HTTPS_PROXY.')
    return reply
      .type('application/x-pem-file')
      .header('content-disposition', 'attachment; filename="dsmirror-proxy-ca.pem"')
      // Re-issued when allowHosts changes: always ask again.
      .header('cache-control', 'no-cache')
      .send(proxyCaPem)
  })
}
