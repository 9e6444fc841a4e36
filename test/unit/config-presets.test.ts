import t from 'tap'

import { expandPreset, normalizeAllowHost } from '../../config/allow-hosts.js'
import { defaultConfig } from '../../config/load-config.js'
import { DEFAULT_ALLOW_HOSTS, PRESET_HOSTS } from '../../config/presets.js'

t.test('every preset entry is valid allowHosts grammar, lower-case, sorted and unique', async (t) => {
  for (const [token, hosts] of Object.entries(PRESET_HOSTS)) {
    t.match(token, /^@[a-z0-9-]+$/, `${token} is a token`)
    t.ok(hosts.length > 0, `${token} is not empty`)
    t.same(hosts, [...new Set(hosts)].sort(), `${token} is sorted and unique`)
    for (const host of hosts) t.equal(normalizeAllowHost(host), host, `${token}: ${host}`)
  }
})

t.test('@torchvision holds the hosts torchvision datasets and weights are fetched from', async (t) => {
  const hosts = expandPreset('@torchvision')
  const required = [
    'download.pytorch.org', // models/*.py weights
    'ossci-datasets.s3.amazonaws.com', // MNIST mirror
    'yann.lecun.com', // MNIST
    'www.cs.toronto.edu', // CIFAR10/100, MovingMNIST
    'ufldl.stanford.edu', // SVHN
    'ai.stanford.edu', // STL10
    'fashion-mnist.s3-website.eu-central-1.amazonaws.com', // FashionMNIST
    'raw.githubusercontent.com', // QMNIST, Omniglot
    'drive.google.com', // Caltech, CelebA, PCAM, WIDERFace
    'drive.usercontent.google.com',
    'host.robots.ox.ac.uk', // VOC
    'www.robots.ox.ac.uk', // DTD, FGVCAircraft, Flowers102, OxfordIIITPet
    's3.amazonaws.com' // Kinetics, Imagenette
  ]
  for (const host of required) t.ok(hosts.includes(host), host)
})

t.test('@huggingface covers the Hub and its LFS/Xet CDN', async (t) => {
  const hosts = expandPreset('@huggingface')
  for (const host of ['huggingface.co', 'cdn-lfs.huggingface.co', 'cdn-lfs-us-1.huggingface.co', 'cdn-lfs-eu-1.huggingface.co', 'cas-bridge.xethub.hf.co', '*.hf.co']) {
    t.ok(hosts.includes(host), host)
  }
  t.same(expandPreset('@pytorch'), ['download.pytorch.org'])
})

t.test('the default allowHosts is @torchvision and @huggingface, expanded', async (t) => {
  t.same(DEFAULT_ALLOW_HOSTS, ['@torchvision', '@huggingface'])
  const { allowHosts } = defaultConfig('/srv')
  t.same(allowHosts, [...new Set([...expandPreset('@torchvision'), ...expandPreset('@huggingface')])])
  t.notOk(allowHosts.some((host) => host.startsWith('@')), 'no token is left unexpanded')
})

t.test('an unknown preset names the known ones', async (t) => {
  t.throws(() => expandPreset('@nope'), { message: "'@nope' is not a known preset. Use one of @huggingface, @pytorch, @torchvision, or list the hosts." })
  t.same(expandPreset(' @TorchVision '), PRESET_HOSTS['@torchvision'], 'tokens are case-insensitive')
})
