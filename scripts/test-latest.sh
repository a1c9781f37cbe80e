#!/usr/bin/env bash
# Run the suite against the newest releases pyproject.toml's ranges allow (not the lock), in
# .venv-latest. Not part of CI: run it before `scripts/update-lock.sh --upgrade`, and monthly,
# to learn early what a new transformers (or any) release breaks.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .venv-latest
python3 -m venv .venv-latest
.venv-latest/bin/python -m pip install --quiet --upgrade pip
.venv-latest/bin/python -m pip install --quiet --upgrade -e ".[all,test]"
.venv-latest/bin/python -m pip list --format=freeze | grep -iE '^(torch|transformers|peft|bitsandbytes|mediapipe|pyside6)' || true
QT_QPA_PLATFORM=offscreen .venv-latest/bin/python -m pytest -q "$@"
