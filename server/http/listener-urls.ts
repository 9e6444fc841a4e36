// The URLs dsmirror really listens on, for the status page and its snippets. Fastify knows its
// own HTTP server's addresses once it listens (port 0 included); the HTTPS listener is a second
// server the app does not own (https-listener.ts), so it records its URL here when it listens.
import type { FastifyInstance } from 'fastify'

// Keyed by Fastify's server: every encapsulated context of one app shares it.
const recorded = new WeakMap<FastifyInstance['server'], string[]>()

/** Called by a listener that serves `app` from a server of its own, once it listens. */
export function recordListenerUrl (app: FastifyInstance, url: string): void {
  const urls = recorded.get(app.server) ?? []
  if (!urls.includes(url)) urls.push(url)
  recorded.set(app.server, urls)
}

/** HTTP (Fastify's own server) first, then the recorded ones; empty before anything listens. */
export function listenerUrls (app: FastifyInstance): string[] {
  const http = app.server.listening
    ? app.addresses().flatMap((a) => typeof a === 'string' ? [] : [`http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`])
    : []
  return [...http, ...(recorded.get(app.server) ?? [])]
}
