#!/usr/bin/env bash
# Usage: scripts/pip-torchvision-venv.sh DIR
# Detects whether torchvision from pip's configured index imports on this machine (issue: current
# runtimes, item 3). Installs the newest torchvision pip resolves (with its torch) into the venv
# DIR and imports it. Prints the venv's python and exits 0 when it imports; prints the reason and
# exits 1 otherwise. On the current image it does not: torchvision 0.28's _C.so needs torch's
# CUDA libraries and torch 2.14.1 needs CUDA packages the index lacks, so the e2e tests run with
# Debian's 0.14 only.
#
# Cheap on later runs: the outcome is kept in DIR/outcome with the list of torch/torchvision
# files pip's index offers; the same list gives the same answer without installing again.
set -uo pipefail
dir="${1:?usage: pip-torchvision-venv.sh DIR}"
python="${PYTHON:-python3}"
mkdir -p "$dir"

# What the index offers now (file names only; `pip index` reads the configured indexes). The public
# index is not reachable here: --retries 0 keeps pip from waiting on it.
offer=$("$python" -m pip index versions --retries 0 --timeout 10 torchvision 2>/dev/null; "$python" -m pip index versions --retries 0 --timeout 10 torch 2>/dev/null)
if [ -z "$offer" ]; then echo "pip's index offers no torchvision"; exit 1; fi
if [ -f "$dir/outcome" ] && [ "$(sed -n '2,$p' "$dir/outcome")" = "$offer" ]; then
  outcome=$(head -n 1 "$dir/outcome")
  case "$outcome" in
    ok) echo "$dir/venv/bin/python"; exit 0 ;;
    *) echo "$outcome (cached for this index)"; exit 1 ;;
  esac
fi

# A venv that does not import is removed (a torch install is about 1 GB); the outcome stays.
remember () {
  printf '%s\n%s\n' "$1" "$offer" > "$dir/outcome"
  if [ "$1" != ok ]; then rm -rf "$dir/venv"; fi
}

rm -rf "$dir/venv"
if ! "$python" -m venv "$dir/venv" >/dev/null 2>&1; then echo "python3 -m venv failed"; exit 1; fi
log="$dir/install.log"
if ! "$dir/venv/bin/pip" install --retries 0 --timeout 10 --disable-pip-version-check -q torchvision >"$log" 2>&1; then
  reason="pip install torchvision failed: $(grep -E 'ERROR' "$log" | tail -n 1)"
  remember "$reason"; echo "$reason"; exit 1
fi
if ! err=$("$dir/venv/bin/python" -c 'import torch, torchvision; torchvision.ops.nms' 2>&1 >/dev/null); then
  versions=$("$dir/venv/bin/pip" list 2>/dev/null | grep -E '^torch(vision)? ' | tr -s ' ' | paste -sd, -)
  reason="pip's ${versions} does not import here: $(tail -n 1 <<<"$err")"
  remember "$reason"; echo "$reason"; exit 1
fi
remember ok
echo "$dir/venv/bin/python"
