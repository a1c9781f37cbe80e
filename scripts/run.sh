#!/usr/bin/env bash
# Install cer-desktop into .venv from the lock (scripts/install.sh) and start the desktop app.
# With no camera the app starts on the built-in demo source.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh .venv all
exec .venv/bin/cer-desktop "$@"
