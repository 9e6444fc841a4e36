// Reads the shape of the config schema, so the keys known at each level come from the schema
// itself: the env-override mapper walks it, and unknown-key errors suggest its keys.
// Defaults, pre-processing and transforms are looked through; they do not change the keys.
import { z } from 'zod'

export type SchemaNode =
  | { kind: 'object'; keys: Readonly<Record<string, z.ZodType>> }
  | { kind: 'record'; value: z.ZodType }
  | { kind: 'list'; schema: z.ZodType }
  | { kind: 'value'; schema: z.ZodType }

/** The structural type under defaults, optionals, pipes and unions (an object option wins). */
function unwrap (schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema
  for (;;) {
    if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault ||
        current instanceof z.ZodOptional || current instanceof z.ZodNullable) {
      current = current.unwrap() as z.ZodType
    } else if (current instanceof z.ZodPipe) {
      // z.preprocess puts its function first; a leaf's .transform() comes after its input type.
      current = (current.in instanceof z.ZodTransform ? current.out : current.in) as z.ZodType
    } else if (current instanceof z.ZodUnion) {
      const options = current.options as readonly z.ZodType[]
      const object = options.find((option) => unwrap(option) instanceof z.ZodObject)
      if (object === undefined) return current
      current = object
    } else {
      return current
    }
  }
}

/** What kind of thing `schema` holds: a section with named keys, a record, a list or a value. */
export function describeNode (schema: z.ZodType): SchemaNode {
  const inner = unwrap(schema)
  if (inner instanceof z.ZodObject) return { kind: 'object', keys: inner.shape as Record<string, z.ZodType> }
  if (inner instanceof z.ZodRecord) return { kind: 'record', value: inner.valueType as z.ZodType }
  if (inner instanceof z.ZodArray) return { kind: 'list', schema }
  return { kind: 'value', schema }
}

/** The node at `path` (record keys match anything, list indexes are skipped), or undefined. */
export function nodeAt (schema: z.ZodType, path: readonly PropertyKey[]): SchemaNode | undefined {
  let node = describeNode(schema)
  for (const key of path) {
    if (node.kind === 'object' && typeof key === 'string' && Object.hasOwn(node.keys, key)) {
      node = describeNode(node.keys[key] as z.ZodType)
    } else if (node.kind === 'record') {
      node = describeNode(node.value)
    } else if (node.kind === 'list' && typeof key === 'number') {
      continue
    } else {
      return undefined
    }
  }
  return node
}

/** Every path to a setting (sections included), e.g. [['cache'], ['cache', 'maxSize'], ...]. */
export function settingPaths (schema: z.ZodType, prefix: string[] = []): string[][] {
  const node = describeNode(schema)
  if (node.kind !== 'object') return []
  const paths: string[][] = []
  for (const [key, child] of Object.entries(node.keys)) {
    paths.push([...prefix, key], ...settingPaths(child, [...prefix, key]))
  }
  return paths
}
