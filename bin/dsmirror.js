#!/usr/bin/env node
// The published entry: the compiled CLI (built by `npm ci` through the `prepare` script).
import { setFlagsFromString } from 'node:v8'

// Issue 14: a cold download receives every 16 KiB TLS record in a fresh ArrayBuffer. Node 20's
// V8 frees dead ones on a helper thread, and the next records get fresh memory rather than the
// memory just freed. Sweeping them on the main thread cut the CPU of a cold miss by about 40%
// on Node 20 in `npm run bench`. On Node 24 the same flag measured slightly worse, so it is set
// only on Node 20; bench/results.md "Issue 14" has both. It is set here, before anything else
// loads, while no sweep can be running (V8 reads it at every sweep). NODE_OPTIONS cannot carry it:
// Node refuses V8 GC flags there.
if (Number(process.versions.node.split('.')[0]) <= 20) setFlagsFromString('--no-concurrent-array-buffer-sweeping')

await import('../dist/server/cli/cli.js')
