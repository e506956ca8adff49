# Sourced by the GPU scripts (gpu-check.sh, gpu-run.sh) with SRC set to the tree: makes
# libcjson / libpcre2-8 visible to pkg-config, unpacking the .debs carried in debs/ when the GPU
# image lacks the -dev packages.
# ---- dependencies -----------------------------------------------------------------------------
if [ "${FORCE_DEBS:-0}" = 1 ] || ! pkg-config --exists libcjson libpcre2-8 2>/dev/null; then
  if ls "$SRC"/debs/*.deb >/dev/null 2>&1; then
    PFX=/tmp/mlxn-deps
    rm -rf $PFX && mkdir -p $PFX
    for d in "$SRC"/debs/*.deb; do dpkg -x "$d" $PFX; done
    # the .pc files hard-code /usr: point every path at the unpacked tree
    for pc in $(find $PFX -name "*.pc"); do sed -i "s#=/usr#=$PFX/usr#g; s#-I/usr#-I$PFX/usr#g; s#-L/usr#-L$PFX/usr#g" "$pc"; done
    export PKG_CONFIG_PATH=$(find $PFX -type d -name pkgconfig | tr '\n' ':')${PKG_CONFIG_PATH:-}
    LIBD=$(dirname "$(find $PFX -name 'libcjson.so*' | head -1)")
    export LD_LIBRARY_PATH=$LIBD:${LD_LIBRARY_PATH:-}
    export LIBRARY_PATH=$LIBD:${LIBRARY_PATH:-}
    echo "deps: unpacked $(ls "$SRC"/debs/*.deb | wc -l) debs into $PFX"
  else
    echo "deps: libcjson/libpcre2-8 not found and no debs/ folder"
  fi
fi
pkg-config --cflags --libs libcjson libpcre2-8 || echo "deps: pkg-config still cannot find them"

# The Python tests that write GGUF files need PyPI `gguf` (pure Python; numpy, PyYAML and tqdm come
# with the image's transformers): a wheel carried in debs/ is unpacked into /tmp/mlxn-pylib.
if ! python3 -c "import gguf" 2>/dev/null; then
  if ls "$SRC"/debs/gguf-*.whl >/dev/null 2>&1; then
    rm -rf /tmp/mlxn-pylib && python3 -m pip install -q --no-deps --target /tmp/mlxn-pylib "$SRC"/debs/gguf-*.whl >/dev/null 2>&1
    export PYTHONPATH=/tmp/mlxn-pylib${PYTHONPATH:+:$PYTHONPATH}
    python3 -c "import gguf" 2>/dev/null && echo "deps: gguf from the carried wheel" || echo "deps: gguf wheel did not import"
  else
    echo "deps: no PyPI gguf (the Python tests that write GGUF files cannot run)"
  fi
fi
