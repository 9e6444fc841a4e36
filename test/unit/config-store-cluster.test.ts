// Issue 19: the store and cluster sections (docs/config.md "store" and "cluster"), from the file
// and from the variables rgw.sh prints.
import t from 'tap'
import { parseConfig } from '../../config/load-config.js'
import { configError } from '../helpers/config-error.js'

const cwd = '/srv/work'

t.test('the variables rgw.sh prints make an S3 store', async (t) => {
  const config = parseConfig(undefined, {
    cwd,
    env: {
      DSMIRROR_STORE_KIND: 's3',
      DSMIRROR_STORE_S3_ENDPOINT: 'http://127.0.0.1:7480/',
      DSMIRROR_STORE_S3_BUCKET: 'dsmirror-test',
      DSMIRROR_STORE_S3_REGION: 'us-east-1',
      DSMIRROR_CLUSTER_TOKEN: 'c0ffee',
      AWS_ACCESS_KEY_ID: 'not a setting',
      AWS_SECRET_ACCESS_KEY: 'not a setting'
    }
  })
  t.same(config.store, { kind: 's3', s3: { endpoint: 'http://127.0.0.1:7480', region: 'us-east-1', bucket: 'dsmirror-test', prefix: 'dsmirror/', maxSize: 2 ** 40, forcePathStyle: null } })
  t.equal(config.cluster.token, 'c0ffee')
})

t.test('a prefix gets its slash; sizes and durations take units', async (t) => {
  const config = parseConfig({ store: { kind: 's3', s3: { bucket: 'b-1', prefix: '/team/cache', maxSize: '500GiB' } }, cluster: { leaseTtl: '30s', advertiseUrl: 'http://10.1.2.3:8081' } }, { env: {}, cwd })
  t.equal(config.store.s3.prefix, 'team/cache/')
  t.equal(config.store.s3.maxSize, 500 * 2 ** 30)
  t.equal(config.cluster.leaseTtl, 30_000)
  t.equal(config.cluster.advertiseUrl, 'http://10.1.2.3:8081')
})

t.test('an S3 store needs a bucket', async (t) => {
  t.match(configError(t, () => parseConfig({ store: { kind: 's3' } }, { env: {}, cwd })), /store\.s3\.bucket.*is not set, but store\.kind is s3.*DSMIRROR_STORE_S3_BUCKET/s)
})

t.test('credentials never go in the endpoint; bad values name the fix', async (t) => {
  const message = configError(t, () => parseConfig({ store: { kind: 'nfs', s3: { endpoint: 'http://key:secret@rgw:7480', bucket: 'UPPER', prefix: '../x', region: 'us east' } } }, { env: {}, cwd }))
  t.match(message, /store\.kind.*is not a store kind\. Use disk or s3/s)
  t.match(message, /store\.s3\.endpoint.*no credentials: they come from AWS_ACCESS_KEY_ID/s)
  t.match(message, /store\.s3\.bucket.*is not a bucket name/s)
  t.match(message, /store\.s3\.prefix.*is not a key prefix/s)
  t.match(message, /store\.s3\.region.*is not a region/s)
})

t.test('a peer listener beyond loopback needs the cluster token', async (t) => {
  const open = { store: { kind: 's3', s3: { bucket: 'b-1' } }, cluster: { peer: { host: '0.0.0.0' } } }
  t.match(configError(t, () => parseConfig(open, { env: {}, cwd })), /cluster\.token.*is not set, but cluster\.peer listens on 0\.0\.0\.0.*DSMIRROR_CLUSTER_TOKEN/s)
  t.equal(parseConfig(open, { env: { DSMIRROR_CLUSTER_TOKEN: 'c0ffee' }, cwd }).cluster.peer !== false, true)
  // The disk store has no peers: the section is inert.
  t.equal(parseConfig({ cluster: { peer: { host: '0.0.0.0' } } }, { env: {}, cwd }).store.kind, 'disk')
})

t.test('single flight across replicas needs the peer listener', async (t) => {
  t.match(configError(t, () => parseConfig({ store: { kind: 's3', s3: { bucket: 'b-1' } }, cluster: { peer: false } }, { env: {}, cwd })), /cluster\.peer.*is false.*cluster\.singleFlight: false/s)
  t.equal(parseConfig({ store: { kind: 's3', s3: { bucket: 'b-1' } }, cluster: { peer: false, singleFlight: false } }, { env: {}, cwd }).cluster.singleFlight, false)
})
