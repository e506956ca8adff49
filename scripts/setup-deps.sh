#!/usr/bin/env bash
# Installs what building and testing mlxn needs on a Debian 12 machine:
# the C libraries we link (cJSON, PCRE2), the build tools, and the Python oracles the tests use.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

need_apt=0
for pkg in cmake ninja-build libcjson-dev libpcre2-dev python3 clang libclang-rt-14-dev libomp-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt=1
done
if [ "$need_apt" = 1 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    cmake ninja-build libcjson-dev libpcre2-dev python3 clang libclang-rt-14-dev libomp-dev >/dev/null
fi

# Independent oracles for the format tests (see docs/formats.md).
PY=${PYTHON:-python3}
$PY -m pip install -q --disable-pip-version-check -r "$(dirname "$0")/requirements-test.txt"
