#!/usr/bin/env bash
# Build the one-folder desktop app into dist/cer-desktop/ with PyInstaller (packaging/
# cer-desktop.spec), from a venv holding the light core only, then run the frozen smoke test.
#
#   bash scripts/bundle.sh [--no-build] [--no-smoke] [--install-desktop-entry]
#
# Environment (for CI and for builds with the LVLM):
#   CER_BUNDLE_VENV    the venv to build from (default .venv-core; created if missing)
#   CER_BUNDLE_LOCK    a lock to install it from instead of scripts/install.sh's choice
#                      (locks/py3XX-<os>-<arch>-core.txt: the light core + test + bundle, no torch)
#   CER_BUNDLE_EXTRAS  "lvlm" for a bundle that runs LVLMs (from the `all` lock; several GB)
# --install-desktop-entry (Linux): also install the desktop entry and the icon for this user
# (XDG_DATA_HOME, default ~/.local/share), pointing at dist/cer-desktop/cer-desktop.
# --no-build: use the dist/cer-desktop already built (to smoke-test it or install its entry).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# macOS builds dist/cer-desktop.app (the spec's BUNDLE); its executable is inside
APP_BIN=dist/cer-desktop/cer-desktop
if [ "$(uname -s)" = Darwin ]; then APP_BIN=dist/cer-desktop.app/Contents/MacOS/cer-desktop; fi

smoke=1
build=1
desktop_entry=0
for arg in "$@"; do
    case "$arg" in
        --no-smoke) smoke=0 ;;
        --no-build) build=0 ;;
        --install-desktop-entry) desktop_entry=1 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bundle.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

build() {
    EXTRAS=${CER_BUNDLE_EXTRAS:-}
    with_lvlm=0
    case ",$EXTRAS," in *,lvlm,* | *,train,* | *,all,*) with_lvlm=1 ;; esac
    kind=core
    [ "$with_lvlm" = 1 ] && kind=all
    VENV=${CER_BUNDLE_VENV:-.venv-$kind}
    PY="$VENV/bin/python"
    PYINSTALLER=pyinstaller==6.22.3  # the `bundle` extra's pin (in the core lock)

    t0=$(date +%s)
    echo "== installing $VENV"
    if [ -n "${CER_BUNDLE_LOCK:-}" ]; then
        [ -x "$PY" ] || python3 -m venv "$VENV"
        "$PY" -m pip install --quiet --require-hashes -r "$CER_BUNDLE_LOCK"
        "$PY" -m pip install --quiet --no-deps -e "$ROOT"
    else
        bash scripts/install.sh "$VENV" "$kind"
    fi
    # The `all` lock has no bundle tools: PyInstaller is added (by its pin) for LVLM bundles.
    "$PY" -c "import PyInstaller" 2>/dev/null || "$PY" -m pip install --quiet "$PYINSTALLER"
    if [ "$with_lvlm" = 0 ] && "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)"; then
        echo "bundle.sh: note: $VENV has torch; the core bundle leaves it out (CER_BUNDLE_EXTRAS=lvlm" \
            "keeps it)" >&2
    fi
    t1=$(date +%s)

    echo "== PyInstaller $("$PY" -c 'import PyInstaller; print(PyInstaller.__version__)')"
    rm -rf dist/cer-desktop dist/cer-desktop.app
    CER_BUNDLE_LVLM=$with_lvlm PYTHONPATH="$ROOT" "$PY" -m PyInstaller --noconfirm --clean \
        --log-level WARN --distpath dist --workpath build/pyinstaller packaging/cer-desktop.spec
    t2=$(date +%s)
    size=$(du -sh dist/cer-desktop | cut -f1)
    echo "== built dist/cer-desktop ($size) in $((t2 - t1)) s; venv set up in $((t1 - t0)) s"
}

if [ "$build" = 1 ]; then
    build
elif [ ! -x "$APP_BIN" ]; then
    echo "bundle.sh: --no-build, but $APP_BIN does not exist" >&2
    exit 2
fi

if [ "$smoke" = 1 ]; then
    echo "== smoke test: $APP_BIN --smoke"
    # From another folder and without PYTHONPATH: only what the bundle holds may be used
    # (an empty cache folder too, so the face landmarker model is the bundle's own copy).
    smoke_cache=$(mktemp -d "${TMPDIR:-/tmp}/cer-smoke-cache.XXXXXX")
    (cd /tmp && env -u PYTHONPATH -u QT_PLUGIN_PATH -u QT_QPA_PLATFORM_PLUGIN_PATH \
        -u CER_FACE_LANDMARKER XDG_CACHE_HOME="$smoke_cache" \
        "$ROOT/$APP_BIN" --smoke)
    rm -rf "$smoke_cache"
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
