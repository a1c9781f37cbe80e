#!/usr/bin/env bash
# Re-lock: exact versions with hashes for every platform, from pyproject.toml's ranges, in one
# run. Run after changing a dependency; commit the lock files with the change, then check that
# every pin has a wheel (python3 scripts/check-platform-wheels.py). Versions already in a lock
# are kept where the ranges allow (the smallest change); a new platform's lock starts from the
# Linux lock of the same kind, so the platforms share versions wherever they can. `--upgrade`
# takes the newest releases the ranges allow instead (then run the tests: scripts/test.sh).
#
# One naming scheme: locks/py<XY>-<os>-<arch>-<kind>.txt, kind "all" (every extra but the
# bundle tools: the README's commands, CI's full suite) or "core" (the light core + test +
# bundle tools, no torch: the core test and the PyInstaller bundle).
#   py311-linux-x86_64-all    installed and tested by CI (glibc >= 2.35: pylsl's wheel needs it)
#   py311-linux-x86_64-core   installed and tested by CI (core tests, bundle)
#   py312-linux-x86_64-all    Python 3.12: resolved and wheel-checked, not tested by CI
#   py311-windows-x86_64-*    Windows 10/11 x86-64 (torch from PyPI: its CPU build)
#   py311-macos-arm64-*       macOS 14+ on Apple silicon (torch's wheels need macOS 14)
#   py311-macos-x86_64-core   macOS 13+ on Intel: the core only (torch has no Intel-Mac wheel)
# The platform is uv's `--python-platform`; the oldest OS a lock serves is the tag it is
# resolved for (manylinux_2_35, MACOSX_DEPLOYMENT_TARGET); check-platform-wheels.py's PLATFORMS
# holds the same (a test keeps them equal). Takes 30-45 s here (PyPI metadata, cached in .cache/uv);
# without PyPI it fails and leaves every lock as it was.
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
t0=$SECONDS

# os-arch -> uv platform and the oldest OS release it targets (kept in step with
# scripts/check-platform-wheels.py's PLATFORMS)
uv_platform() {
  case $1 in
    linux-x86_64) echo "x86_64-manylinux_2_35 -" ;;
    windows-x86_64) echo "x86_64-pc-windows-msvc -" ;;
    macos-arm64) echo "aarch64-apple-darwin 14.0" ;;
    macos-x86_64) echo "x86_64-apple-darwin 13.0" ;;
    *) echo "unknown platform $1" >&2; return 1 ;;
  esac
}
extras_of() {  # the extras a kind of lock installs
  case $1 in
    # every extra pyproject.toml defines (one added later, say `streams`, is locked without
    # editing this script), except the bundle tools
    all) python3 -c 'import tomllib; x = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]; print(" ".join(sorted(set(x) - {"bundle"})))' ;;
    core) echo "test bundle" ;;
  esac
}
lock() {  # lock PY OS ARCH KIND: writes locks/pyXY-OS-ARCH-KIND.txt
  local py=$1 os=$2 arch=$3 kind=$4 platform macos extra
  local out="locks/py${py/./}-$os-$arch-$kind.txt"
  read -r platform macos <<<"$(uv_platform "$os-$arch")"
  local args=()
  for extra in $(extras_of "$kind"); do args+=("--extra=$extra"); done
  # uv keeps the pins of the file it writes: the lock itself, or for a new lock the Linux pins
  # of its kind. Written to a temporary file and moved into place only when uv succeeded, so
  # a failed run (PyPI unreachable) leaves every lock as it was.
  local tmp="$work/${out#locks/}" seed="locks/py311-linux-x86_64-$kind.txt"
  if [ -f "$out" ]; then cp "$out" "$tmp"; elif [ -f "$seed" ]; then cp "$seed" "$tmp"; fi
  local envs=()
  [ "$macos" = - ] || envs=("MACOSX_DEPLOYMENT_TARGET=$macos")
  # --no-config and PyPI named: no local uv.toml, mirror or wheel folder gets into a lock
  env "${envs[@]}" UV_CACHE_DIR=.cache/uv "$tools/bin/uv" pip compile pyproject.toml \
    "${args[@]}" --python-version "$py" --python-platform "$platform" --no-config \
    --index-url https://pypi.org/simple --generate-hashes --no-header --quiet \
    ${UPGRADE:+--upgrade} -o "$tmp"
  mv "$tmp" "$out"
  echo "locked $out ($(grep -c '==' "$out") packages)"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lock 3.11 linux x86_64 all
lock 3.11 linux x86_64 core
lock 3.12 linux x86_64 all
lock 3.11 windows x86_64 all
lock 3.11 windows x86_64 core
lock 3.11 macos arm64 all
lock 3.11 macos arm64 core
lock 3.11 macos x86_64 core
echo "all locks written in $((SECONDS - t0)) s; now: python3 scripts/check-platform-wheels.py"
