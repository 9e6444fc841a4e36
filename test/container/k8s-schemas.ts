// Minimal JSON schemas (draft-07, as ajv takes them) for the parts of the Kubernetes API that
// docker/k8s/ uses, vendored so the check runs offline. Field names and types follow the
// Kubernetes v1.29+ API reference; `additionalProperties: false` makes a misspelt or misplaced
// key (restartPolicy on a regular container, `readonly` for `readOnly`) fail the test instead
// of being ignored by the API server's pruning.
const str = { type: 'string', minLength: 1 }
const int = { type: 'integer' }
const bool = { type: 'boolean' }
const strList = { type: 'array', items: { type: 'string' } }
const strMap = { type: 'object', additionalProperties: { type: 'string' } }
const quantity = { anyOf: [{ type: 'string', pattern: '^[0-9.]+(m|Ki|Mi|Gi|Ti|k|M|G|T)?$' }, { type: 'number' }] }
const portRef = { anyOf: [{ type: 'integer', minimum: 1, maximum: 65535 }, { type: 'string', pattern: '^[a-z0-9-]{1,15}$' }] }

function closed (properties: Record<string, unknown>, required: string[] = []): Record<string, unknown> {
  return { type: 'object', properties, required, additionalProperties: false }
}

const metadata = closed({ name: str, namespace: str, labels: strMap, annotations: strMap }, ['name'])

const probe = closed({
  httpGet: closed({ path: str, port: portRef, scheme: { enum: ['HTTP', 'HTTPS'] } }, ['port']),
  exec: closed({ command: strList }, ['command']),
  initialDelaySeconds: int,
  periodSeconds: int,
  timeoutSeconds: int,
  failureThreshold: int,
  successThreshold: int
})

const securityContext = closed({
  readOnlyRootFilesystem: bool,
  allowPrivilegeEscalation: bool,
  runAsNonRoot: bool,
  runAsUser: int,
  runAsGroup: int,
  capabilities: closed({ drop: strList, add: strList })
})

const containerProperties = {
  name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
  image: str,
  imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
  command: strList,
  args: strList,
  env: {
    type: 'array',
    items: closed({
      name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
      value: { type: 'string' },
      valueFrom: closed({
        secretKeyRef: closed({ name: str, key: str, optional: bool }, ['name', 'key']),
        fieldRef: closed({ fieldPath: { enum: ['metadata.name', 'metadata.namespace', 'status.podIP', 'spec.nodeName'] } }, ['fieldPath'])
      })
    }, ['name'])
  },
  ports: { type: 'array', items: closed({ name: { type: 'string', pattern: '^[a-z0-9-]{1,15}$' }, containerPort: { type: 'integer', minimum: 1, maximum: 65535 }, protocol: { enum: ['TCP', 'UDP'] } }, ['containerPort']) },
  readinessProbe: probe,
  livenessProbe: probe,
  startupProbe: probe,
  resources: closed({ requests: { type: 'object', additionalProperties: quantity }, limits: { type: 'object', additionalProperties: quantity } }),
  securityContext,
  volumeMounts: { type: 'array', items: closed({ name: str, mountPath: { type: 'string', pattern: '^/' }, subPath: str, readOnly: bool }, ['name', 'mountPath']) }
}

const container = closed(containerProperties, ['name', 'image'])
/** A native sidecar is an init container with restartPolicy: Always (KEP-753, Kubernetes 1.29+). */
const initContainer = closed({ ...containerProperties, restartPolicy: { const: 'Always' } }, ['name', 'image'])

const volume = {
  type: 'object',
  properties: {
    name: str,
    emptyDir: closed({ medium: { enum: ['', 'Memory'] }, sizeLimit: quantity }),
    configMap: closed({ name: str, defaultMode: int }, ['name']),
    secret: closed({ secretName: str, defaultMode: int }, ['secretName']),
    persistentVolumeClaim: closed({ claimName: str, readOnly: bool }, ['claimName'])
  },
  required: ['name'],
  additionalProperties: false,
  minProperties: 2,
  maxProperties: 2
}

const podSpec = closed({
  restartPolicy: { enum: ['Always', 'OnFailure', 'Never'] },
  terminationGracePeriodSeconds: int,
  securityContext: closed({ runAsNonRoot: bool, runAsUser: int, runAsGroup: int, fsGroup: int }),
  initContainers: { type: 'array', items: initContainer },
  containers: { type: 'array', items: container, minItems: 1 },
  volumes: { type: 'array', items: volume }
}, ['containers'])

const labelSelector = closed({ matchLabels: strMap }, ['matchLabels'])

function kind (apiVersion: string, name: string, rest: Record<string, unknown>, required: string[]): Record<string, unknown> {
  return closed({ apiVersion: { const: apiVersion }, kind: { const: name }, metadata, ...rest }, ['apiVersion', 'kind', 'metadata', ...required])
}

/** Schemas by `kind`. */
export const K8S_SCHEMAS: Record<string, Record<string, unknown>> = {
  Pod: kind('v1', 'Pod', { spec: podSpec }, ['spec']),
  Deployment: kind('apps/v1', 'Deployment', {
    spec: closed({
      replicas: int,
      strategy: closed({ type: { enum: ['Recreate', 'RollingUpdate'] } }),
      selector: labelSelector,
      template: closed({ metadata: closed({ labels: strMap, annotations: strMap }), spec: podSpec }, ['metadata', 'spec'])
    }, ['selector', 'template'])
  }, ['spec']),
  Service: kind('v1', 'Service', {
    spec: closed({
      type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] },
      clusterIP: str,
      selector: strMap,
      ports: { type: 'array', minItems: 1, items: closed({ name: str, port: int, targetPort: portRef, protocol: { enum: ['TCP', 'UDP'] } }, ['port']) }
    }, ['selector', 'ports'])
  }, ['spec']),
  ConfigMap: kind('v1', 'ConfigMap', { data: strMap }, ['data']),
  Secret: kind('v1', 'Secret', { type: str, data: strMap, stringData: strMap }, []),
  PersistentVolumeClaim: kind('v1', 'PersistentVolumeClaim', {
    spec: closed({
      accessModes: { type: 'array', items: { enum: ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] } },
      storageClassName: str,
      resources: closed({ requests: closed({ storage: quantity }, ['storage']) }, ['requests'])
    }, ['accessModes', 'resources'])
  }, ['spec'])
}
