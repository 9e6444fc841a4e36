// docker/k8s/ and docker/compose.yaml checked offline: every Kubernetes object against the
// vendored schemas (ajv), the references between objects (volumes, probe ports, selectors,
// ConfigMap and Secret names), and every dsmirror config they carry through dsmirror's own
// config validation, so an example that a user copies starts instead of failing on a bad key.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import t from 'tap'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { parseConfig } from '../../config/load-config.js'
import { K8S_SCHEMAS } from './k8s-schemas.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const K8S_DIR = join(ROOT, 'docker/k8s')
/** Secrets docs/deployment.md has the user create with kubectl (a TLS key or token is never committed). */
const CREATED_BY_USER = new Set(['dsmirror-tls', 'dsmirror-admin', 'dsmirror-cluster', 'dsmirror-s3'])
/** What the kubelet would put in a fieldRef variable. */
const POD_IP = '10.0.0.7'
/** The DSMIRROR_* variables the image's Dockerfile sets (ENV), which a container's env overrides. */
const IMAGE_ENV: Record<string, string> = Object.fromEntries(
  [...readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8').matchAll(/\b(DSMIRROR_[A-Z_]+)=(\S+)/g)].map((m) => [m[1] ?? '', m[2] ?? ''])
)

interface Container {
  name: string
  env?: Array<{ name: string, value?: string, valueFrom?: { secretKeyRef?: { name: string, key: string }, fieldRef?: { fieldPath: string } } }>
  ports?: Array<{ name?: string, containerPort: number }>
  readinessProbe?: { httpGet?: { path?: string, port: number | string }, exec?: { command: string[] } }
  livenessProbe?: { httpGet?: { path?: string, port: number | string }, exec?: { command: string[] } }
  volumeMounts?: Array<{ name: string, mountPath: string }>
  restartPolicy?: string
}
interface PodSpec {
  initContainers?: Container[]
  containers: Container[]
  volumes?: Array<{ name: string, configMap?: { name: string }, secret?: { secretName: string } }>
}
interface K8sObject {
  kind: string
  metadata: { name: string, labels?: Record<string, string> }
  spec?: { clusterIP?: string, ports?: Array<{ name?: string, port: number, targetPort?: number | string }>, selector?: { matchLabels?: Record<string, string> } & Record<string, string>, template?: { metadata: { labels?: Record<string, string> }, spec: PodSpec } } & Partial<PodSpec>
  data?: Record<string, string>
  stringData?: Record<string, string>
}

const ajv = new Ajv({ allErrors: true, strict: true })
const validators = new Map(Object.entries(K8S_SCHEMAS).map(([kind, schema]) => [kind, ajv.compile(schema)]))

const objects: Array<{ file: string, obj: K8sObject }> = []
for (const file of readdirSync(K8S_DIR).filter((name) => name.endsWith('.yaml')).sort()) {
  for (const doc of parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'))) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map(String).join('; ')}`)
    objects.push({ file, obj: doc.toJS() as K8sObject })
  }
}

function podSpecOf (obj: K8sObject): PodSpec | undefined {
  if (obj.kind === 'Pod') return obj.spec as PodSpec
  return obj.spec?.template?.spec
}

function dsmirrorContainers (spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...spec.containers].filter((c) => c.name === 'dsmirror')
}

/**
 * A container's env as the kubelet makes it: a value from a Secret reads as a stand-in token
 * naming it, status.podIP as POD_IP, and $(NAME) expands variables defined above it.
 */
function envOf (container: Container): Record<string, string> {
  const env: Record<string, string> = {}
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef
    const field = e.valueFrom?.fieldRef?.fieldPath
    env[e.name] = ref !== undefined
      ? `from-secret-${ref.name}-${ref.key}`
      : field === 'status.podIP' ? POD_IP : (e.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole)
  }
  return env
}

function deploymentNamed (name: string): K8sObject | undefined {
  return objects.find(({ obj }) => obj.kind === 'Deployment' && obj.metadata.name === name)?.obj
}

t.test('every object matches its schema', async (t) => {
  t.ok(objects.length >= 6, `${objects.length} objects`)
  for (const { file, obj } of objects) {
    const validate = validators.get(obj.kind)
    if (validate === undefined) {
      t.fail(`${file}: no schema for kind ${obj.kind}`)
      continue
    }
    const ok = validate(obj)
    t.ok(ok, `${file}: ${obj.kind}/${obj.metadata.name}${ok ? '' : ' ' + ajv.errorsText(validate.errors)}`)
  }
})

t.test('the schemas reject what they should', async (t) => {
  const pod = objects.find(({ obj }) => obj.kind === 'Pod')?.obj
  if (pod === undefined) throw new Error('no Pod in docker/k8s')
  const validate = validators.get('Pod')
  const copy = structuredClone(pod) as unknown as { spec: { containers: Array<Record<string, unknown>> } }
  const trainer = copy.spec.containers[0]
  if (trainer === undefined) throw new Error('Pod has no container')
  trainer.restartPolicy = 'Always'
  t.notOk(validate?.(copy), 'restartPolicy on a regular container is refused')
})

t.test('dsmirror runs as a native sidecar beside the trainer', async (t) => {
  const pod = objects.find(({ obj }) => obj.kind === 'Pod')?.obj
  const spec = pod === undefined ? undefined : podSpecOf(pod)
  const sidecar = spec?.initContainers?.find((c) => c.name === 'dsmirror')
  t.equal(sidecar?.restartPolicy, 'Always', 'init container with restartPolicy: Always')
  t.ok((spec?.containers.length ?? 0) >= 1, 'a trainer container beside it')
  const configMap = objects.find(({ obj }) => obj.kind === 'ConfigMap')?.obj
  const config = parseConfig(parseYaml(configMap?.data?.['config.yaml'] ?? '') as unknown, { env: { ...IMAGE_ENV, ...envOf(sidecar ?? { name: '' }) }, cwd: '/app' })
  t.equal(config.listen.http === false ? '' : config.listen.http.host, '127.0.0.1', 'the sidecar listens on loopback only')
  t.equal(config.listen.https, false, 'and has no HTTPS listener')
  for (const probe of [sidecar?.readinessProbe, sidecar?.livenessProbe]) {
    // The kubelet's httpGet probes come to the pod IP, which a loopback listener does not answer.
    t.same(probe?.exec?.command, ['node', '/app/docker/healthcheck.mjs'], 'probed from inside the pod (exec), not through the pod IP')
  }
})

t.test('the team server opens its listeners with an admin token from a Secret', async (t) => {
  const deployment = deploymentNamed('dsmirror')
  const container = deployment === undefined ? undefined : podSpecOf(deployment)?.containers.find((c) => c.name === 'dsmirror')
  const configMap = objects.find(({ obj }) => obj.kind === 'ConfigMap')?.obj
  const env = { ...IMAGE_ENV, ...envOf(container ?? { name: '' }) }
  const config = parseConfig(parseYaml(configMap?.data?.['config.yaml'] ?? '') as unknown, { env, cwd: '/app' })
  t.equal(config.listen.https === false ? '' : config.listen.https.host, '0.0.0.0', 'HTTPS open to the cluster')
  t.equal(config.admin.token, 'from-secret-dsmirror-admin-token', 'admin.token from the dsmirror-admin Secret')
  t.equal(config.admin.openOnNetwork, false, 'no opt-out of the token')
  t.throws(() => parseConfig(parseYaml(configMap?.data?.['config.yaml'] ?? '') as unknown, { env: { ...env, DSMIRROR_ADMIN_TOKEN: '' }, cwd: '/app' }),
    /reachable from other machines/, 'without the token it would not start')
})

t.test('the replicas share one bucket and stream from each other on an authenticated peer listener', async (t) => {
  const deployment = deploymentNamed('dsmirror-replicas')
  const container = deployment === undefined ? undefined : podSpecOf(deployment)?.containers.find((c) => c.name === 'dsmirror')
  t.ok((deployment?.spec as { replicas?: number } | undefined)?.replicas !== undefined && ((deployment?.spec as { replicas: number }).replicas > 1), 'more than one replica')
  const configMap = objects.find(({ obj }) => obj.kind === 'ConfigMap')?.obj
  const env = { ...IMAGE_ENV, ...envOf(container ?? { name: '' }) }
  const config = parseConfig(parseYaml(configMap?.data?.['config.yaml'] ?? '') as unknown, { env, cwd: '/app' })
  t.equal(config.store.kind, 's3')
  t.ok(config.store.s3.bucket !== null && config.store.s3.endpoint !== null, 'a bucket on an endpoint')
  t.equal(env.AWS_SECRET_ACCESS_KEY, 'from-secret-dsmirror-s3-secret-access-key', 'S3 credentials from a Secret, not the config')
  t.equal(config.cluster.peer === false ? '' : config.cluster.peer.host, '0.0.0.0', 'the peer listener is open to the pod network')
  t.equal(config.cluster.token, 'from-secret-dsmirror-cluster-token', 'with the shared token from a Secret')
  t.equal(config.cluster.advertiseUrl, `http://${POD_IP}:8081`, 'advertising the pod IP')
  t.ok(container?.ports?.some((p) => p.name === 'peer' && p.containerPort === (config.cluster.peer === false ? 0 : config.cluster.peer.port)), 'the peer port is declared')
  const volumes = podSpecOf(deployment ?? { kind: '', metadata: { name: '' } })?.volumes ?? []
  t.ok(volumes.some((v) => v.name === 'cache' && (v as { emptyDir?: unknown }).emptyDir !== undefined), 'the L1 is an emptyDir: replicas keep no state of their own')
  const headless = objects.find(({ obj }) => obj.kind === 'Service' && obj.spec?.clusterIP === 'None')?.obj
  t.same(headless?.spec?.ports?.map((p) => p.targetPort), ['peer'], 'a headless Service for the peers')
  t.throws(() => parseConfig(parseYaml(configMap?.data?.['config.yaml'] ?? '') as unknown, { env: { ...env, DSMIRROR_CLUSTER_TOKEN: '' }, cwd: '/app' }),
    /cluster\.token/, 'without the cluster token it would not start')
})

t.test('references resolve: volumes, probe ports, ConfigMaps, Secrets, selectors', async (t) => {
  const names = (kind: string): Set<string> => new Set(objects.filter(({ obj }) => obj.kind === kind).map(({ obj }) => obj.metadata.name))
  const configMaps = names('ConfigMap')
  const secrets = names('Secret')
  const claims = names('PersistentVolumeClaim')
  for (const { file, obj } of objects) {
    const spec = podSpecOf(obj)
    if (spec === undefined) continue
    const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]))
    for (const v of volumes.values()) {
      if (v.configMap !== undefined) t.ok(configMaps.has(v.configMap.name), `${file}: ConfigMap ${v.configMap.name} exists`)
      if (v.secret !== undefined) t.ok(secrets.has(v.secret.secretName) || CREATED_BY_USER.has(v.secret.secretName), `${file}: Secret ${v.secret.secretName} exists`)
      const claim = (v as { persistentVolumeClaim?: { claimName: string } }).persistentVolumeClaim
      if (claim !== undefined) t.ok(claims.has(claim.claimName), `${file}: PVC ${claim.claimName} exists`)
    }
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      for (const m of c.volumeMounts ?? []) t.ok(volumes.has(m.name), `${file}: ${c.name} mounts declared volume ${m.name}`)
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef
        if (ref !== undefined) t.ok(secrets.has(ref.name) || CREATED_BY_USER.has(ref.name), `${file}: Secret ${ref.name} exists`)
      }
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        if (probe?.httpGet === undefined) continue
        t.equal(probe.httpGet.path, '/_/healthz', `${file}: ${c.name} probes /_/healthz`)
        const port = probe.httpGet.port
        t.ok((c.ports ?? []).some((p) => p.containerPort === port || p.name === port), `${file}: ${c.name} probe port ${port} is declared`)
      }
    }
    for (const c of dsmirrorContainers(spec)) {
      t.ok((c.volumeMounts ?? []).some((m) => m.mountPath === '/data'), `${file}: dsmirror keeps its cache on a /data volume`)
    }
    if (obj.kind === 'Deployment') {
      const labels = obj.spec?.template?.metadata.labels ?? {}
      t.same({ ...labels, ...obj.spec?.selector?.matchLabels }, labels, `${file}: Deployment selector matches its template`)
      for (const { obj: svc } of objects.filter((other) => other.obj.kind === 'Service' && other.file === file)) {
        const selector = svc.spec?.selector ?? {}
        t.same({ ...labels, ...selector }, labels, `${file}: Service ${svc.metadata.name} selects the Deployment's pods`)
      }
    }
  }
})

t.test('every dsmirror config they carry is valid', async (t) => {
  const configMap = objects.find(({ obj }) => obj.kind === 'ConfigMap')?.obj
  const file = parseYaml(configMap?.data?.['config.yaml'] ?? '') as unknown
  for (const { file: name, obj } of objects) {
    const spec = podSpecOf(obj)
    if (spec === undefined) continue
    for (const c of dsmirrorContainers(spec)) {
      // The image's own ENV, then the container's.
      const env = { ...IMAGE_ENV, ...envOf(c) }
      t.doesNotThrow(() => parseConfig(file, { env, cwd: '/app' }), `${name}: ${c.name}'s config + env`)
    }
  }
  const imageConfig = parseYaml(readFileSync(join(ROOT, 'docker/config.yaml'), 'utf8')) as unknown
  const config = parseConfig(imageConfig, { env: IMAGE_ENV, cwd: '/app' })
  t.equal(config.dataDir, '/data', 'the image config keeps state under /data')
  t.same([config.listen.http, config.listen.https].map((l) => l === false ? null : l.host), ['127.0.0.1', '127.0.0.1'], 'the image listens on loopback unless a deployment opens it')
})

/** What a user exports for the compose variables whose values must parse as more than a token. */
const USER_VALUES: Record<string, string> = { DSMIRROR_STORE_S3_ENDPOINT: 'http://rgw.example:7480', DSMIRROR_STORE_S3_BUCKET: 'dsmirror-cache' }

t.test('compose profiles: sidecar shares the network namespace, team serves HTTPS with files', async (t) => {
  interface Service { profiles?: string[], network_mode?: string, environment?: Record<string, string>, volumes?: string[], ports?: string[], read_only?: boolean }
  const compose = parseYaml(readFileSync(join(ROOT, 'docker/compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service>, volumes?: Record<string, unknown> }
  const sidecar = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('sidecar') === true)
  const trainer = sidecar.find(([, s]) => s.network_mode !== undefined)
  t.equal(trainer?.[1].network_mode, 'service:dsmirror', 'the trainer joins dsmirror\'s network namespace')
  const mirror = compose.services.dsmirror
  t.ok(mirror?.volumes?.some((v) => /^[a-z-]+:\/data$/.test(v) && compose.volumes?.[v.split(':')[0] ?? ''] !== undefined), 'sidecar cache on a named volume')
  const team = Object.values(compose.services).find((s) => s.profiles?.includes('team') === true)
  t.equal(team?.environment?.DSMIRROR_TLS_MODE, 'files')
  t.ok(team?.ports?.includes('8443:8443'), 'publishes 8443')
  t.equal(team?.environment?.DSMIRROR_LISTEN_HTTPS_HOST, '0.0.0.0', 'the published listener is opened explicitly')
  t.match(team?.environment?.DSMIRROR_ADMIN_TOKEN, /^\$\{DSMIRROR_ADMIN_TOKEN:\?/, 'with a token compose insists on')
  t.equal(mirror?.environment?.DSMIRROR_LISTEN_HTTP_HOST, '127.0.0.1', 'the sidecar stays on loopback')
  const replicas = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('replicas') === true)
  t.equal(replicas.length, 3, 'three replicas')
  t.same(new Set(replicas.map(([, s]) => s.environment?.DSMIRROR_CLUSTER_ADVERTISEURL)), new Set(replicas.map(([name]) => `http://${name}:8081`)), 'each advertises its own service name')
  t.ok(replicas.every(([, s]) => s.environment?.DSMIRROR_STORE_KIND === 's3' && /^\$\{DSMIRROR_CLUSTER_TOKEN:\?/.test(s.environment.DSMIRROR_CLUSTER_TOKEN ?? '')), 'on the bucket, with a cluster token compose insists on')
  t.equal(new Set(replicas.flatMap(([, s]) => s.volumes ?? [])).size, 3, 'each with its own L1 volume')
  for (const [name, s] of Object.entries(compose.services).filter(([name]) => name.startsWith('dsmirror'))) {
    t.equal(s.read_only, true, `${name} runs with a read-only root filesystem`)
    // Compose's ${NAME:?message} stops when NAME is unset; a set value stands in here.
    const environment = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v.replace(/^\$\{([A-Z0-9_]+):\?[^}]*\}$/, (_, name: string) => USER_VALUES[name] ?? `set-by-the-user-${name}`)]))
    const env = { ...IMAGE_ENV, ...environment }
    const imageConfig = parseYaml(readFileSync(join(ROOT, 'docker/config.yaml'), 'utf8')) as unknown
    t.doesNotThrow(() => parseConfig(imageConfig, { env, cwd: '/app' }), `${name}: environment is a valid config`)
  }
})
