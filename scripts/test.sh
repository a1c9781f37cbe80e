#!/usr/bin/env bash
# Install cer-desktop with its test tools into .venv (created if missing) and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[all,test]"
QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q "$@"
