#!/usr/bin/env bash
# Re-lock: exact versions with hashes for Linux x86_64 (glibc >= 2.34), from pyproject.toml's
# ranges. Run after changing a dependency; commit the lock files with the change. Versions
# already in a lock are kept where the ranges allow (the smallest change); `--upgrade` takes
# the newest releases the ranges allow instead (then run the tests: scripts/test.sh).
#   locks/py311-linux-all.txt   the README's two commands and CI (installed and tested)
#   locks/py311-linux-core.txt  the light core + test + bundle tools (no torch): core test, bundle
#   locks/py312-linux-all.txt   Python 3.12: resolved, not tested by CI
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
tools=.cache/lock-tools
if [ "$("$tools/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet "uv==$UV_VERSION"
fi
mkdir -p locks
UPGRADE=
[ "${1:-}" = --upgrade ] && UPGRADE=1
lock() {  # lock OUT PYTHON EXTRA...
  local out=$1 py=$2
  shift 2
  "$tools/bin/uv" pip compile pyproject.toml "${@/#/--extra=}" --python-version "$py" \
    --python-platform x86_64-manylinux_2_34 --generate-hashes --no-header --quiet \
    ${UPGRADE:+--upgrade} -o "$out"
  echo "locked $out ($(grep -c '==' "$out") packages)"
}
lock locks/py311-linux-all.txt 3.11 all test
lock locks/py311-linux-core.txt 3.11 test bundle
lock locks/py312-linux-all.txt 3.12 all test
