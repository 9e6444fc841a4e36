// Host presets for allowHosts: `@name` in the config expands to every host of the list.
//
// @torchvision and @pytorch are derived from torchvision's own source by
// `npm run derive:torchvision` (scripts/derive-torchvision-presets.py, issue: current runtimes):
// the hosts of every URL written in code in torchvision/datasets and torchvision/models of the
// current release (its wheel, unpacked, never imported) and of Debian's 0.14.1 (the build the e2e
// tests run), in config/torchvision-source.generated.ts. Docstring links (project pages, papers),
// error messages and weight metadata links are left out by the script; so are the Flickr photo
// URLs that SBU reads from inside its own tarball. Datasets without a download (ImageNet, COCO,
// Cityscapes, LSUN, Flickr8k/30k, HMDB51, UCF101, FER2013, the optical-flow sets and most stereo
// sets) need no host.
import { TORCHVISION_SOURCES, type TorchvisionSource } from './torchvision-source.generated.js'

/** The torchvision release the presets follow (the newest the script read). */
export const CURRENT_TORCHVISION: TorchvisionSource = TORCHVISION_SOURCES[0] ?? ((): never => { throw new Error('config/torchvision-source.generated.ts lists no torchvision source') })()

// A redirect target must be allowed too (redirects are followed server-side, each hop checked),
// and these are never written in torchvision's source: datasets/utils.py
// download_file_from_google_drive (0.14: requests to drive.google.com/uc; later: gdown, whose
// confirmation step uses docs.google.com and whose download form posts to
// drive.usercontent.google.com), used by celeba.py, pcam.py, widerface.py (images) and 0.14's
// caltech.py; eurosat.py's pinned Hugging Face `resolve/` URL redirects to the LFS/Xet CDN
// (`*.hf.co`, see HUGGINGFACE_HUB).
const TORCHVISION_REDIRECT_HOSTS = ['*.hf.co', 'docs.google.com', 'drive.google.com', 'drive.usercontent.google.com']

// Hugging Face Hub. huggingface_hub sends every download to ENDPOINT (constants.py, default
// https://huggingface.co) `/<repo>/resolve/<rev>/<file>`; large files answer with a redirect
// to the LFS/Xet CDN, whose host comes from the server (the redirect, or the X-Xet-Cas-Url header
// read by utils/_xet.py), not from the client source. Hugging Face publishes that host family in
// https://huggingface.co/.well-known/meta.json: lfsDomains cdn-lfs{,-us-1,-eu-1}.hf.co and
// transfer.xethub{,-eu}.hf.co, cdnDomains <region>.{aws,gcp}.cdn.hf.co, hubDomains
// huggingface.co and hf.co — hence `*.hf.co`. cas-bridge.xethub.hf.co (Xet downloads) is also
// matched by it and is listed so it shows in `dsmirror config`. The cdn-lfs*.huggingface.co
// names are the older LFS CDN, still in redirects cached by clients and chained mirrors.
const HUGGINGFACE_HUB = [
  '*.hf.co',
  'cas-bridge.xethub.hf.co',
  'cdn-lfs-eu-1.huggingface.co',
  'cdn-lfs-us-1.huggingface.co',
  'cdn-lfs.huggingface.co',
  'hf.co',
  'huggingface.co'
]

function sortedUnique (...lists: readonly string[][]): readonly string[] {
  return Object.freeze([...new Set(lists.flat())].sort())
}

/**
 * Preset tokens usable in allowHosts, keyed with their leading `@`. Entries use the allowHosts
 * grammar (exact names and `*.suffix` patterns).
 */
export const PRESET_HOSTS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '@huggingface': sortedUnique(HUGGINGFACE_HUB),
  '@pytorch': sortedUnique(...TORCHVISION_SOURCES.map((source) => [...source.weightHosts])),
  '@torchvision': sortedUnique(
    ...TORCHVISION_SOURCES.map((source) => [...source.weightHosts, ...source.datasetHosts]),
    TORCHVISION_REDIRECT_HOSTS
  )
})

/** The allowHosts used when the config sets none. */
export const DEFAULT_ALLOW_HOSTS: readonly string[] = Object.freeze(['@torchvision', '@huggingface'])
