#!/usr/bin/env bash
# Fetches llama.cpp's tokenizer test vocabularies (models/ggml-vocab-*.gguf with .inp/.out)
# from the PyPI source distribution of llama-cpp-python, which vendors llama.cpp.
#
#   scripts/fetch-vocab.sh [OUT_DIR]      (default OUT_DIR: build/vocab in the repo)
#
# The sdist (~75 MB) is downloaded once into a cache folder and kept there:
#   MLXN_VOCAB_CACHE, else $XDG_CACHE_HOME/mlxn, else ~/.cache/mlxn.
# Only the ggml-vocab-* files are extracted into OUT_DIR. A second run with the same
# version finds OUT_DIR complete and returns at once. The version is pinned (and its
# sha256 checked) so the vectors do not move under CI; MLXN_VOCAB_VERSION overrides it
# (then MLXN_VOCAB_SHA256, if set, is checked instead). Exit status is non-zero on any
# failure (no network, bad checksum, no vocab files in the archive).
set -euo pipefail

VERSION=${MLXN_VOCAB_VERSION:-0.3.36}
if [ -n "${MLXN_VOCAB_VERSION:-}" ]; then
  SHA256=${MLXN_VOCAB_SHA256:-}
else
  SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build/vocab}
CACHE=${MLXN_VOCAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlxn}
PY=${PYTHON:-python3}
TARBALL=$CACHE/llama_cpp_python-$VERSION.tar.gz
STAMP=$OUT/.fetched-llama-cpp-python-$VERSION

say() { echo "fetch-vocab: $*" >&2; }

# Already extracted: nothing to do.
if [ -f "$STAMP" ]; then
  ok=1
  while IFS= read -r f; do [ -f "$OUT/$f" ] || ok=0; done < "$STAMP"
  if [ "$ok" = 1 ]; then
    say "$OUT is up to date (llama-cpp-python $VERSION)"
    exit 0
  fi
fi

mkdir -p "$CACHE" "$OUT"

check_sum() {
  [ -z "$SHA256" ] && return 0
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$SHA256" ]; then
    say "checksum mismatch for $1: got $got, expected $SHA256"
    return 1
  fi
}

if [ -f "$TARBALL" ] && ! check_sum "$TARBALL"; then
  say "removing the damaged cached copy"
  rm -f "$TARBALL"
fi
if [ ! -f "$TARBALL" ]; then
  say "downloading the llama-cpp-python $VERSION source distribution into $CACHE (once)"
  tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if ! "$PY" -m pip download -q --disable-pip-version-check --progress-bar off --no-deps \
      --no-binary :all: "llama-cpp-python==$VERSION" -d "$tmp" >&2; then
    say "pip download of llama-cpp-python==$VERSION failed"
    exit 1
  fi
  if [ ! -f "$tmp/llama_cpp_python-$VERSION.tar.gz" ]; then
    say "pip did not produce llama_cpp_python-$VERSION.tar.gz (got: $(ls "$tmp"))"
    exit 1
  fi
  check_sum "$tmp/llama_cpp_python-$VERSION.tar.gz"
  mv "$tmp/llama_cpp_python-$VERSION.tar.gz" "$TARBALL"
  rm -rf "$tmp"
  trap - EXIT
fi

# Extract only the vocabulary files, flat, into a staging folder, then move them in.
PREFIX=llama_cpp_python-$VERSION/vendor/llama.cpp/models
stage=$(mktemp -d "$OUT/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
tar -xzf "$TARBALL" -C "$stage" --wildcards --strip-components=4 "$PREFIX/ggml-vocab-*"
names=$(cd "$stage" && ls)
if [ -z "$names" ]; then
  say "no ggml-vocab-* files under $PREFIX in $TARBALL"
  exit 1
fi
rm -f "$OUT"/.fetched-llama-cpp-python-*
for f in $names; do mv -f "$stage/$f" "$OUT/$f"; done
printf '%s\n' $names > "$STAMP"
say "extracted $(echo "$names" | wc -w) files into $OUT"
