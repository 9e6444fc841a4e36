// Runs the conformance suite against one store of broken-stores.ts, named by the first argument,
// as a plain tap file in a child process (suite-catches-broken-stores.test.ts reads its TAP
// output and exit code, so the failures it expects never fail the parent run).
import t from 'tap'
import { BROKEN_STORES } from './broken-stores.js'
import { cacheStoreTests } from './cache-store.suite.js'

const name = process.argv[2] ?? ''
const makeStore = BROKEN_STORES[name]
if (makeStore === undefined) throw new Error(`no store named '${name}'; one of ${Object.keys(BROKEN_STORES).join(', ')}`)
cacheStoreTests(t, makeStore)
