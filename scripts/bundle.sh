#!/usr/bin/env bash
# Build the one-folder desktop app into dist/cer-desktop/ with PyInstaller (packaging/
# cer-desktop.spec), from a venv holding the light core only, then run the frozen smoke test.
#
#   bash scripts/bundle.sh [--no-smoke] [--install-desktop-entry]
#
# Environment (for CI and for builds with the LVLM):
#   CER_BUNDLE_VENV    the venv to build from (default .venv-bundle; created if missing)
#   CER_BUNDLE_LOCK    the lock to install it from (default locks/py311-linux-core.txt; without
#                      a lock file, the pyproject ranges are installed instead, with a warning)
#   CER_BUNDLE_EXTRAS  extras to add, e.g. "lvlm" for a bundle that runs LVLMs (several GB)
#   PYINSTALLER_SPEC   PyInstaller's requirement when the lock does not bring it
#                      (default pyinstaller==6.22.3, the `bundle` extra's pin)
# --install-desktop-entry (Linux): also install the desktop entry and the icon for this user
# (XDG_DATA_HOME, default ~/.local/share), pointing at dist/cer-desktop/cer-desktop.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

smoke=1
desktop_entry=0
for arg in "$@"; do
    case "$arg" in
        --no-smoke) smoke=0 ;;
        --install-desktop-entry) desktop_entry=1 ;;
        -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bundle.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

VENV=${CER_BUNDLE_VENV:-.venv-bundle}
LOCK=${CER_BUNDLE_LOCK:-locks/py311-linux-core.txt}
EXTRAS=${CER_BUNDLE_EXTRAS:-}
PYINSTALLER_SPEC=${PYINSTALLER_SPEC:-pyinstaller==6.22.3}
PY="$VENV/bin/python"

t0=$(date +%s)
if [ ! -x "$PY" ]; then
    echo "== creating $VENV"
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
fi
echo "== installing into $VENV"
if [ -f "$LOCK" ]; then
    "$PY" -m pip install --quiet -r "$LOCK"
else
    echo "bundle.sh: warning: no lock at $LOCK; installing pyproject.toml's ranges" >&2
    "$PY" -m pip install --quiet -e "$ROOT"
fi
if [ -n "$EXTRAS" ]; then
    "$PY" -m pip install --quiet -e "$ROOT[$EXTRAS]"
fi
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    "$PY" -m pip install --quiet "$PYINSTALLER_SPEC"
fi
with_lvlm=0
case ",$EXTRAS," in *,lvlm,* | *,train,* | *,all,*) with_lvlm=1 ;; esac
if [ "$with_lvlm" = 0 ] && "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)"; then
    echo "bundle.sh: $VENV has torch but CER_BUNDLE_EXTRAS has no lvlm: the core bundle" \
        "leaves torch out (use a venv from the core lock, or CER_BUNDLE_EXTRAS=lvlm)" >&2
fi
t1=$(date +%s)

echo "== PyInstaller $("$PY" -c 'import PyInstaller; print(PyInstaller.__version__)')"
rm -rf dist/cer-desktop
CER_BUNDLE_LVLM=$with_lvlm PYTHONPATH="$ROOT" "$PY" -m PyInstaller --noconfirm --clean \
    --log-level WARN --distpath dist --workpath build/pyinstaller packaging/cer-desktop.spec
t2=$(date +%s)
size=$(du -sh dist/cer-desktop | cut -f1)
echo "== built dist/cer-desktop ($size) in $((t2 - t1)) s; venv set up in $((t1 - t0)) s"

if [ "$smoke" = 1 ]; then
    echo "== smoke test: dist/cer-desktop/cer-desktop --smoke"
    # From another folder and without PYTHONPATH: only what the bundle holds may be used.
    (cd /tmp && env -u PYTHONPATH -u QT_PLUGIN_PATH -u QT_QPA_PLATFORM_PLUGIN_PATH \
        "$ROOT/dist/cer-desktop/cer-desktop" --smoke)
fi

if [ "$desktop_entry" = 1 ]; then
    case "$(uname -s)" in
        Linux) ;;
        *) echo "bundle.sh: --install-desktop-entry is for Linux desktops" >&2; exit 2 ;;
    esac
    data=${XDG_DATA_HOME:-$HOME/.local/share}
    mkdir -p "$data/applications" "$data/icons/hicolor/256x256/apps"
    cp cer_desktop/resources/icons/cer-desktop.png "$data/icons/hicolor/256x256/apps/cer-desktop.png"
    sed "s|^Exec=.*|Exec=\"$ROOT/dist/cer-desktop/cer-desktop\"|" packaging/cer-desktop.desktop \
        > "$data/applications/cer-desktop.desktop"
    if command -v update-desktop-database >/dev/null; then
        update-desktop-database "$data/applications" || true
    fi
    echo "== installed $data/applications/cer-desktop.desktop and its icon"
fi
