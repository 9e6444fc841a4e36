// Host presets for allowHosts: `@name` in the config expands to every host of the list.
//
// @torchvision is the union of the hosts in torchvision 0.14.1 (Debian bookworm's
// python3-torchvision, the build the e2e tests run) and pytorch/vision main, read from
// torchvision/datasets/*.py and torchvision/models/*.py. Hosts that only appear in docstrings
// (project pages, papers) are left out; so are the Flickr photo URLs that SBU reads from inside its
// own tarball. Datasets without a download (ImageNet, COCO, Cityscapes, LSUN, Flickr8k/30k,
// HMDB51, UCF101, FER2013, the optical-flow sets and most stereo sets) need no host.
//
// A redirect target must be allowed too (redirects are followed server-side, each hop checked),
// which is why the Google Drive and Hugging Face CDN hosts are listed as well.

// Model weights: every `url=` of a Weights enum in torchvision/models/**/*.py, loaded by
// models/_api.py via torch.hub.load_state_dict_from_url.
const TORCHVISION_WEIGHTS = ['download.pytorch.org']

// datasets/mnist.py: MNIST mirrors (tried in order), FashionMNIST, KMNIST, EMNIST, QMNIST.
const TORCHVISION_MNIST = [
  'codh.rois.ac.jp',
  'fashion-mnist.s3-website.eu-central-1.amazonaws.com',
  'ossci-datasets.s3.amazonaws.com',
  'raw.githubusercontent.com',
  'www.itl.nist.gov',
  'yann.lecun.com'
]

// datasets/utils.py download_file_from_google_drive (0.14: requests to drive.google.com/uc;
// main: gdown, whose confirmation step uses docs.google.com and whose download form posts to
// drive.usercontent.google.com), used by caltech.py (Caltech101/256), celeba.py, pcam.py and
// widerface.py (images).
const TORCHVISION_GOOGLE_DRIVE = ['docs.google.com', 'drive.google.com', 'drive.usercontent.google.com']

// Amazon S3: inaturalist.py, kinetics.py (path-style bucket `kinetics`, its video lists point at
// the same host), imagenette.py (bucket `fast-ai-imageclas`), kitti.py (bucket `avg-kitti`).
const TORCHVISION_S3 = [
  'ml-inat-competition-datasets.s3.amazonaws.com',
  's3.amazonaws.com',
  's3.eu-central-1.amazonaws.com'
]

// datasets/eurosat.py on main fetches a pinned Hugging Face `resolve/` URL, which redirects to
// the Hugging Face LFS/Xet CDN (0.14 used madm.dfki.de, listed below).
const TORCHVISION_HUGGINGFACE = ['*.hf.co', 'huggingface.co']

// One host each: cifar.py + moving_mnist.py (www.cs.toronto.edu), svhn.py, stl10.py (and
// stanford_cars.py up to 0.16: ai.stanford.edu), voc.py, dtd.py + fgvc_aircraft.py +
// flowers102.py + oxford_iiit_pet.py (www.robots.ox.ac.uk), sbd.py (two hosts), sbu.py (0.14:
// cs.rice.edu, earlier: cs.virginia.edu), semeion.py, usps.py, lfw.py, phototour.py (two hosts),
// places365.py, food101.py, sun397.py, gtsrb.py, clevr.py, country211.py + rendered_sst2.py
// (openaipublic.azureedge.net), eurosat.py 0.14, widerface.py annotations, _stereo_matching.py
// (Middlebury2014Stereo).
const TORCHVISION_DATASET_SITES = [
  'ai.stanford.edu',
  'archive.ics.uci.edu',
  'data.csail.mit.edu',
  'data.vision.ee.ethz.ch',
  'dl.fbaipublicfiles.com',
  'home.bharathh.info',
  'host.robots.ox.ac.uk',
  'icvl.ee.ic.ac.uk',
  'madm.dfki.de',
  'matthewalunbrown.com',
  'openaipublic.azureedge.net',
  'shuoyang1213.me',
  'sid.erda.dk',
  'ufldl.stanford.edu',
  'vis-www.cs.umass.edu',
  'vision.middlebury.edu',
  'vision.princeton.edu',
  'www.cs.rice.edu',
  'www.cs.toronto.edu',
  'www.cs.virginia.edu',
  'www.csie.ntu.edu.tw',
  'www.robots.ox.ac.uk',
  'www2.eecs.berkeley.edu'
]

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
  '@pytorch': sortedUnique(TORCHVISION_WEIGHTS),
  '@torchvision': sortedUnique(
    TORCHVISION_WEIGHTS,
    TORCHVISION_MNIST,
    TORCHVISION_GOOGLE_DRIVE,
    TORCHVISION_S3,
    TORCHVISION_HUGGINGFACE,
    TORCHVISION_DATASET_SITES
  )
})

/** The allowHosts used when the config sets none. */
export const DEFAULT_ALLOW_HOSTS: readonly string[] = Object.freeze(['@torchvision', '@huggingface'])
