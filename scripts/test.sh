#!/usr/bin/env bash
# Install cer-desktop with its test tools into .venv from the lock (scripts/install.sh) and run
# the tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh .venv all
QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q "$@"
