#!/usr/bin/env bash
# Usage: scripts/hf-clients-venv.sh [DIR]   (default /var/tmp/dsmirror-hf-clients-venv)
# Builds the two Python virtualenvs the Hugging Face e2e tests run (issue 11 "Show"), from the
# machine's LOCAL wheel index only (the public index is not reachable on these machines):
#   DIR/hub1: huggingface_hub 1.33.0 + datasets 5.0.1 + transformers 5.x + hf_xet + pyarrow
#             (datasets 5.0.1 needs huggingface_hub < 2, so the 1.x client lives here)
#   DIR/hub2: huggingface_hub 2.0.0 + hf_xet
# Prints DIR and exits 0 when both import; prints the reason and exits 1 otherwise.
#
# Idempotent: DIR/<venv>/requirements.done holds the requirement list a venv was built from and
# imported with; the same list skips the install (a few seconds instead of about a minute).
# Bounded: every pip call has --retries 0, --timeout and an outer `timeout`.
#
# pip's configured indexes are `extra-index-url` entries: pip would still ask PyPI first (and
# retry it 5 times for a package it cannot find locally, hf-protocol.md §6.1). So the first local
# file:// index becomes PIP_INDEX_URL and the others stay extra indexes.
set -uo pipefail
dir="${1:-/var/tmp/dsmirror-hf-clients-venv}"
python="${PYTHON:-python3}"
pip_timeout_s="${HF_VENV_PIP_TIMEOUT_S:-600}"
mkdir -p "$dir"

indexes=$("$python" -m pip config get global.extra-index-url 2>/dev/null || true)
first_local=""
others=""
for url in $indexes; do
  case "$url" in
    file://*) if [ -z "$first_local" ]; then first_local="$url"; else others="$others $url"; fi ;;
  esac
done
if [ -z "$first_local" ]; then
  echo "pip's configuration names no local file:// index (pip config list: extra-index-url); cannot install the Hugging Face clients offline"
  exit 1
fi
export PIP_INDEX_URL="$first_local"
export PIP_EXTRA_INDEX_URL="${others# }"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# build NAME "IMPORT CHECK" REQUIREMENT...
build () {
  local name="$1" check="$2"; shift 2
  local venv="$dir/$name" want
  want=$(printf '%s\n' "$@")
  if [ -f "$venv/requirements.done" ] && [ "$(cat "$venv/requirements.done")" = "$want" ] \
     && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
    return 0
  fi
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" >/dev/null 2>&1; then echo "$python -m venv $venv failed"; return 1; fi
  local log="$dir/$name-install.log"
  if ! timeout "$pip_timeout_s" "$venv/bin/pip" install --retries 0 --timeout 20 -q "$@" >"$log" 2>&1; then
    echo "pip install $* into $venv failed: $(grep -E 'ERROR' "$log" | tail -n 1) (full log: $log)"
    return 1
  fi
  local err
  if ! err=$("$venv/bin/python" -c "$check" 2>&1 >/dev/null); then
    echo "$venv does not import: $(tail -n 1 <<<"$err")"
    return 1
  fi
  printf '%s\n' "$want" > "$venv/requirements.done"
}

build hub1 'import huggingface_hub, datasets, transformers, hf_xet, pyarrow; assert huggingface_hub.__version__ == "1.33.0"' \
  'huggingface_hub==1.33.0' 'datasets==5.0.1' 'transformers>=5,<6' 'hf_xet' 'pyarrow' || exit 1
build hub2 'import huggingface_hub, hf_xet; assert huggingface_hub.__version__ == "2.0.0"' \
  'huggingface_hub==2.0.0' 'hf_xet' || exit 1
echo "$dir"
