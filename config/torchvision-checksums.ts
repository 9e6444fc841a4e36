// The md5s torchvision itself checks for its dataset files, as a `checksums` preset: dsmirror
// verifies them server-side, so a corrupted or changed archive is quarantined before any client
// gets the last byte (docs/design.md "Cache"), instead of torchvision failing after the download.
//
// Read from torchvision 0.14.1 (Debian bookworm's python3-torchvision, the build the e2e tests
// run): the class attributes and module-level dicts of torchvision/datasets/*.py (mnist.py
// mirrors x resources, cifar.py url/tgz_md5, svhn.py and usps.py split_list, voc.py
// DATASET_YEAR_DICT, _URL/_MD5 pairs, ...) and the URL/md5 pairs written inside download()
// (gtsrb.py, eurosat.py, stanford_cars.py). Google Drive files (Caltech, CelebA, PCAM, WIDERFace
// images) are keyed by a file id, not a URL, and are left out.
//
// Keys are the URLs dsmirror fetches: the mirror form /<host>/<path> always goes to
// https://<host>/<path>, so torchvision's http:// URLs are listed with https://. The md5 of a
// file does not depend on the scheme it came over.
//
// Merged under the user's `checksums` by config/schema.ts: an entry in the config wins.

/** 91 URL -> 'md5:<hex>' entries from torchvision 0.14.1. */
export const TORCHVISION_CHECKSUMS: Readonly<Record<string, string>> = Object.freeze({
  // cifar.py CIFAR10
  'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz': 'md5:c58f30108f718f92721af3b95e74349a',
  // cifar.py CIFAR100
  'https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz': 'md5:eb9058c3a382ffc7106e4002c42a8d85',
  // clevr.py CLEVRClassification
  'https://dl.fbaipublicfiles.com/clevr/CLEVR_v1.0.zip': 'md5:b11922020e72d0cd9154779b2d3d07d2',
  // country211.py Country211
  'https://openaipublic.azureedge.net/clip/data/country211.tgz': 'md5:84988d7644798601126c29e9877aab6a',
  // dtd.py DTD
  'https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz': 'md5:fff73e5086ae6bdbea199a49dfb8a4c1',
  // eurosat.py EuroSAT
  'https://madm.dfki.de/files/sentinel/EuroSAT.zip': 'md5:c8fa014336c82ac7804f0398fcb19387',
  // flowers102.py Flowers102
  'https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz': 'md5:52808999861908f626f3c1f4e79d11fa',
  'https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat': 'md5:e0620be6f572b9609742df49c70aed4d',
  'https://www.robots.ox.ac.uk/~vgg/data/flowers/102/setid.mat': 'md5:a5357ecc9cb78c4bef273ce3793fc85c',
  // food101.py Food101
  'https://data.vision.ee.ethz.ch/cvl/food-101.tar.gz': 'md5:85eeb15f3717b99a5da872d97d918f87',
  // gtsrb.py GTSRB
  'https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/GTSRB-Training_fixed.zip': 'md5:513f3c79a4c5141765e10e952eaa2478',
  'https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/GTSRB_Final_Test_GT.zip': 'md5:fe31e9c9270bbcd7b84b7f21a9d9d9e5',
  'https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/GTSRB_Final_Test_Images.zip': 'md5:c7e4e6327067d32654124b0fe9e82185',
  // inaturalist.py INaturalist
  'https://ml-inat-competition-datasets.s3.amazonaws.com/2017/train_val_images.tar.gz': 'md5:7c784ea5e424efaec655bd392f87301f',
  'https://ml-inat-competition-datasets.s3.amazonaws.com/2018/train_val2018.tar.gz': 'md5:b1c6952ce38f31868cc50ea72d066cc3',
  'https://ml-inat-competition-datasets.s3.amazonaws.com/2019/train_val2019.tar.gz': 'md5:c60a6e2962c9b8ccbd458d12c8582644',
  'https://ml-inat-competition-datasets.s3.amazonaws.com/2021/train.tar.gz': 'md5:e0526d53c7f7b2e3167b2b43bb2690ed',
  'https://ml-inat-competition-datasets.s3.amazonaws.com/2021/train_mini.tar.gz': 'md5:db6ed8330e634445efc8fec83ae81442',
  'https://ml-inat-competition-datasets.s3.amazonaws.com/2021/val.tar.gz': 'md5:f6f6e0e242e3d4c9569ba56400938afc',
  // lfw.py LFWPeople/LFWPairs
  'https://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz': 'md5:68331da3eb755a505a502b5aacb3c201',
  'https://vis-www.cs.umass.edu/lfw/lfw-funneled.tgz': 'md5:1b42dfed7d15c9b2dd63d5e5840c86ad',
  'https://vis-www.cs.umass.edu/lfw/lfw.tgz': 'md5:a17d05bd522c52d84eca14327a23d494',
  // mnist.py EMNIST
  'https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/gzip.zip': 'md5:58c8d27c78d21e728a6bc7b3cc06412e',
  // mnist.py FashionMNIST
  'https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz': 'md5:bef4ecab320f06d8554ea6380940ec79',
  'https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz': 'md5:bb300cfdad3c16e7a12a480ee83cd310',
  'https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz': 'md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d',
  'https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz': 'md5:25c81989df183df01b3e8a0aad5dffbe',
  // mnist.py KMNIST
  'https://codh.rois.ac.jp/kmnist/dataset/kmnist/t10k-images-idx3-ubyte.gz': 'md5:5c965bf0a639b31b8f53240b1b52f4d7',
  'https://codh.rois.ac.jp/kmnist/dataset/kmnist/t10k-labels-idx1-ubyte.gz': 'md5:7320c461ea6c1c855c0b718fb2a4b134',
  'https://codh.rois.ac.jp/kmnist/dataset/kmnist/train-images-idx3-ubyte.gz': 'md5:bdb82020997e1d708af4cf47b453dcf7',
  'https://codh.rois.ac.jp/kmnist/dataset/kmnist/train-labels-idx1-ubyte.gz': 'md5:e144d726b3acfaa3e44228e80efcd344',
  // mnist.py MNIST
  'https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz': 'md5:9fb629c4189551a2d022fa330f9573f3',
  'https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz': 'md5:ec29112dd5afa0611ce80d1b7f02629c',
  'https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz': 'md5:f68b3c2dcbeaaa9fbdd348bbdeb94873',
  'https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz': 'md5:d53e105ee54ea40749a09fcbcd1e9432',
  'https://yann.lecun.com/exdb/mnist/t10k-images-idx3-ubyte.gz': 'md5:9fb629c4189551a2d022fa330f9573f3',
  'https://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz': 'md5:ec29112dd5afa0611ce80d1b7f02629c',
  'https://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz': 'md5:f68b3c2dcbeaaa9fbdd348bbdeb94873',
  'https://yann.lecun.com/exdb/mnist/train-labels-idx1-ubyte.gz': 'md5:d53e105ee54ea40749a09fcbcd1e9432',
  // mnist.py QMNIST
  'https://raw.githubusercontent.com/facebookresearch/qmnist/master/qmnist-test-images-idx3-ubyte.gz': 'md5:1394631089c404de565df7b7aeaf9412',
  'https://raw.githubusercontent.com/facebookresearch/qmnist/master/qmnist-test-labels-idx2-int.gz': 'md5:5b5b05890a5e13444e108efe57b788aa',
  'https://raw.githubusercontent.com/facebookresearch/qmnist/master/qmnist-train-images-idx3-ubyte.gz': 'md5:ed72d4157d28c017586c42bc6afe6370',
  'https://raw.githubusercontent.com/facebookresearch/qmnist/master/qmnist-train-labels-idx2-int.gz': 'md5:0058f8dd561b90ffdd0f734c6a30e5e4',
  'https://raw.githubusercontent.com/facebookresearch/qmnist/master/xnist-images-idx3-ubyte.xz': 'md5:7f124b3b8ab81486c9d8c2749c17f834',
  'https://raw.githubusercontent.com/facebookresearch/qmnist/master/xnist-labels-idx2-int.xz': 'md5:5ed0e788978e45d4a8bd4b7caec3d79d',
  // omniglot.py Omniglot
  'https://raw.githubusercontent.com/brendenlake/omniglot/master/python/images_background.zip': 'md5:68d2efa1b9178cc56df9314c21c6e718',
  'https://raw.githubusercontent.com/brendenlake/omniglot/master/python/images_evaluation.zip': 'md5:6b91aef0f799c5bb55b94e3f2daec811',
  // oxford_iiit_pet.py OxfordIIITPet
  'https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz': 'md5:95a8c909bbe2e81eed6a22bccdf3f68f',
  'https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz': 'md5:5c4f3ee8e5d25df40f4fd59a7f44e54c',
  // phototour.py PhotoTour
  'https://icvl.ee.ic.ac.uk/vbalnt/liberty.zip': 'md5:fdd9152f138ea5ef2091746689176414',
  'https://icvl.ee.ic.ac.uk/vbalnt/notredame.zip': 'md5:509eda8535847b8c0a90bbb210c83484',
  'https://icvl.ee.ic.ac.uk/vbalnt/yosemite.zip': 'md5:533b2e8eb7ede31be40abc317b2fd4f0',
  'https://matthewalunbrown.com/patchdata/liberty_harris.zip': 'md5:c731fcfb3abb4091110d0ae8c7ba182c',
  'https://matthewalunbrown.com/patchdata/notredame_harris.zip': 'md5:69f8c90f78e171349abdf0307afefe4d',
  'https://matthewalunbrown.com/patchdata/yosemite_harris.zip': 'md5:a73253d1c6fbd3ba2613c45065c00d46',
  // places365.py Places365
  'https://data.csail.mit.edu/places/places365/categories_places365.txt': 'md5:06c963b85866bd0649f97cb43dd16673',
  'https://data.csail.mit.edu/places/places365/filelist_places365-challenge.tar': 'md5:70a8307e459c3de41690a7c76c931734',
  'https://data.csail.mit.edu/places/places365/filelist_places365-standard.tar': 'md5:35a0585fee1fa656440f3ab298f8479c',
  'https://data.csail.mit.edu/places/places365/places365_train_challenge.txt': 'md5:b2931dc997b8c33c27e7329c073a6b57',
  'https://data.csail.mit.edu/places/places365/places365_train_standard.txt': 'md5:30f37515461640559006b8329efbed1a',
  'https://data.csail.mit.edu/places/places365/places365_val.txt': 'md5:e9f2fd57bfd9d07630173f4e8708e4b1',
  'https://data.csail.mit.edu/places/places365/train_256_places365challenge.tar': 'md5:741915038a5e3471ec7332404dfb64ef',
  'https://data.csail.mit.edu/places/places365/train_256_places365standard.tar': 'md5:53ca1c756c3d1e7809517cc47c5561c5',
  'https://data.csail.mit.edu/places/places365/train_large_places365challenge.tar': 'md5:605f18e68e510c82b958664ea134545f',
  'https://data.csail.mit.edu/places/places365/train_large_places365standard.tar': 'md5:67e186b496a84c929568076ed01a8aa1',
  'https://data.csail.mit.edu/places/places365/val_256.tar': 'md5:e27b17d8d44f4af9a78502beb927f808',
  'https://data.csail.mit.edu/places/places365/val_large.tar': 'md5:9b71c4993ad89d2d8bcbdc4aef38042f',
  // rendered_sst2.py RenderedSST2
  'https://openaipublic.azureedge.net/clip/data/rendered-sst2.tgz': 'md5:2384d08e9dcfa4bd55b324e610496ee5',
  // sbd.py SBDataset
  'https://home.bharathh.info/pubs/codes/SBD/train_noval.txt': 'md5:79bff800c5f0b1ec6b21080a3c066722',
  'https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz': 'md5:82b4d87ceb2ed10f6038a1cba92111cb',
  // sbu.py SBU
  'https://www.cs.rice.edu/~vo9/sbucaptions/SBUCaptionedPhotoDataset.tar.gz': 'md5:9aec147b3488753cf758b4d493422285',
  // semeion.py SEMEION
  'https://archive.ics.uci.edu/ml/machine-learning-databases/semeion/semeion.data': 'md5:cb545d371d2ce14ec121470795a77432',
  // stanford_cars.py StanfordCars
  'https://ai.stanford.edu/~jkrause/car196/cars_test.tgz': 'md5:4ce7ebf6a94d07f1952d94dd34c4d501',
  'https://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat': 'md5:b0a2b23655a3edd16d84508592a98d10',
  'https://ai.stanford.edu/~jkrause/car196/cars_train.tgz': 'md5:065e5b463ae28d29e77c1b4b166cfe61',
  'https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz': 'md5:c3b158d763b6e2245038c8ad08e45376',
  // stl10.py STL10
  'https://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz': 'md5:91f7769df0f17e558f3565bffb0c7dfb',
  // sun397.py SUN397
  'https://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz': 'md5:8ca2778205c41d23104230ba66911c7a',
  // svhn.py SVHN
  'https://ufldl.stanford.edu/housenumbers/extra_32x32.mat': 'md5:a93ce644f1a588dc4d68dda5feec44a7',
  'https://ufldl.stanford.edu/housenumbers/test_32x32.mat': 'md5:eb5a983be6a315427106f1b164d9cef3',
  'https://ufldl.stanford.edu/housenumbers/train_32x32.mat': 'md5:e26dedcc434d2e4c54c9b2d4a06d8373',
  // usps.py USPS
  'https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/usps.bz2': 'md5:ec16c51db3855ca6c91edd34d0e9b197',
  'https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/usps.t.bz2': 'md5:8ea070ee2aca1ac39742fdd1ef5ed118',
  // voc.py DATASET_YEAR_DICT
  'https://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar': 'md5:b6e924de25625d8de591ea690078ad9f',
  'https://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar': 'md5:c52e279531787c972589f7e41ab4ae64',
  'https://host.robots.ox.ac.uk/pascal/VOC/voc2008/VOCtrainval_14-Jul-2008.tar': 'md5:2629fa636546599198acfcfbfcf1904a',
  'https://host.robots.ox.ac.uk/pascal/VOC/voc2009/VOCtrainval_11-May-2009.tar': 'md5:a3e00b113cfcfebf17e343f59da3caa1',
  'https://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar': 'md5:da459979d0c395079b5c75ee67908abb',
  'https://host.robots.ox.ac.uk/pascal/VOC/voc2011/VOCtrainval_25-May-2011.tar': 'md5:6c3384ef61512963050cb5d687e5bf1e',
  'https://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar': 'md5:6cd6e144f989b92b3379bac3b3de84fd',
  // widerface.py WIDERFace
  'https://shuoyang1213.me/WIDERFACE/support/bbx_annotation/wider_face_split.zip': 'md5:0e3767bcf0e326556d407bf5bff5d27c'
})
