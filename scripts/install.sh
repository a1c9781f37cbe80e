#!/usr/bin/env bash
# Install cer-desktop into a venv from a lock: the exact, hash-checked versions that CI tested,
# then the project itself (editable, without resolving again). Idempotent: a venv already
# installed from the same lock and pyproject.toml is left as it is.
#   scripts/install.sh [VENV] [all|core]      (defaults: .venv all)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
kind=${2:-all}
py=${PYTHON:-python3}
tag=$("$py" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
lock=locks/$tag-linux-$kind.txt
if [ ! -f "$lock" ]; then
  echo "no lock for $tag ($kind): cer-desktop supports Python 3.11 and 3.12 (locks/)" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
stamp=$venv/.cer-lock.sha256
want=$(cat "$lock" pyproject.toml | sha256sum | cut -c1-64)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pip==26.3
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$want" >"$stamp"
fi
