// The md5s torchvision itself checks for its dataset files, as a `checksums` preset: dsmirror
// verifies them server-side, so a corrupted or changed archive is quarantined before any client
// gets the last byte (docs/design.md "Cache"), instead of torchvision failing after the download.
//
// Derived by `npm run derive:torchvision` (scripts/derive-torchvision-presets.py) from the URL and
// md5 torchvision passes to its download helpers, in the current release and in Debian's 0.14.1
// (config/torchvision-source.generated.ts): both are kept, since an older torchvision still asks
// for its own URLs (VOC on host.robots.ox.ac.uk, EMNIST on www.itl.nist.gov, ...). Google Drive
// files (CelebA, PCAM, WIDERFace images, 0.14's Caltech) are fetched by a file id, not a URL, and
// are left out.
//
// Keys are the URLs dsmirror fetches: the mirror form /<host>/<path> always goes to
// https://<host>/<path>, so torchvision's http:// URLs are listed with https://. The md5 of a
// file does not depend on the scheme it came over.
//
// Merged under the user's `checksums` by config/schema.ts: an entry in the config wins.
import { TORCHVISION_SOURCES } from './torchvision-source.generated.js'

/** URL -> 'md5:<hex>' from every torchvision source read; the current release wins a conflict. */
export const TORCHVISION_CHECKSUMS: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(
  [...TORCHVISION_SOURCES].reverse().flatMap((source) => Object.entries(source.checksums)).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
))
