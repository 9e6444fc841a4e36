// Every section of the conformance table, in the order (items 1..12).
import { fields } from './01-fields.js'
import { forwarding } from './02-forwarding.js'
import { freshness } from './03-freshness.js'
import { requestDirectives } from './04-request-directives.js'
import { conditionals } from './05-conditionals.js'
import { notModified } from './06-not-modified.js'
import { invalidation } from './07-invalidation.js'
import { negativeCaching } from './08-negative.js'
import { headers } from './09-headers.js'
import { partial } from './10-partial.js'
import { immutable } from './11-immutable.js'
import { targeted } from './12-targeted.js'
import type { Section } from './table.js'

export const SECTIONS: readonly Section[] = [
  fields, forwarding, freshness, requestDirectives, conditionals, notModified,
  invalidation, negativeCaching, headers, partial, immutable, targeted
]
