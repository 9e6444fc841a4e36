// The store contract (docs/design.md "The store contract") on DiskStore: the conformance suite
// (cache-store.suite.ts), each location a fresh directory.
import pino from 'pino'
import t from 'tap'
import { DiskStore } from '../../server/cache/disk-store.js'
import { cacheStoreTests } from './cache-store.suite.js'

const log = pino({ level: 'silent' })

cacheStoreTests(t, async ({ location, maxSize, now }) => await DiskStore.open({ dir: location, maxSize, log, now }))
