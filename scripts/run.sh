#!/usr/bin/env bash
# Install cer-desktop into .venv (created if missing) and start the desktop app.
# With no camera the app starts on the built-in demo source.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[all]"
exec .venv/bin/cer-desktop "$@"
