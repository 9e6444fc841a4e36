// dsmirror's Hugging Face mode in front of the stand-in Hub (test/helpers/stand-in-hub.ts), both
// on 127.0.0.1: huggingface.endpoint is the Hub's origin, its CDN host name (localhost:P) is
// allowed and answered by the test resolver, so every byte goes over real local sockets.
import type { Test } from 'tap'
import { startProxy, type StartProxyOptions, type TestProxy } from './proxy.js'
import { startStandInHub, type StandInHub, type StartStandInHubOptions } from './stand-in-hub.js'
import { createTestResolver } from './test-resolver.js'

export interface HfMode {
  hub: StandInHub
  proxy: TestProxy
  /** What HF_ENDPOINT would be: http://127.0.0.1:<port>/hf */
  base: string
}

export async function startHfMode (t: Test, opts: { hub?: StartStandInHubOptions, proxy?: StartProxyOptions, huggingface?: Record<string, unknown> } = {}): Promise<HfMode> {
  const hub = await startStandInHub(opts.hub ?? {})
  t.teardown(() => hub.close())
  const resolver = createTestResolver({ localhost: ['127.0.0.1'] })
  const proxy = await startProxy({
    lookup: resolver.lookup,
    ...opts.proxy,
    allowHosts: [hub.cdnHost, ...(opts.proxy?.allowHosts ?? [])],
    config: {
      upstream: { allowAddresses: ['127.0.0.0/8'] },
      huggingface: { endpoint: hub.origin, ...opts.huggingface },
      ...opts.proxy?.config
    }
  })
  t.teardown(() => proxy.close({ remove: true }))
  return { hub, proxy, base: `${proxy.origin}/hf` }
}
