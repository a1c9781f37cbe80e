#!/usr/bin/env bash
# Fetch Qwen2's real tokenizer vocabulary (no model hub): the source distribution of
# llama-cpp-python on PyPI carries llama.cpp's test vocabulary `ggml-vocab-qwen2.gguf`
# (151,936 tokens). Download that sdist with pip at a pinned version and checksum, extract
# that one file into a cache folder outside the repository, and check it. Idempotent: a
# cached file with the right checksum is kept and nothing is downloaded.
#
#   scripts/fetch-qwen2-vocab.sh [PYTHON]    (default: python3; prints the file's path)
#
# The tests and `cer bench lvlm` find the file at $CER_QWEN2_VOCAB or, by default, at
# ${XDG_CACHE_HOME:-~/.cache}/cer-desktop/vocab/ggml-vocab-qwen2.gguf.
set -euo pipefail

PYTHON="${1:-python3}"
SDIST_VERSION="0.3.36"
SDIST_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
MEMBER="llama_cpp_python-${SDIST_VERSION}/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf"
VOCAB_SHA256="44c2f46b715f585c6ab513970e8a006bfa5badd6108560054921cf598d154d8c"

DEST="${CER_QWEN2_VOCAB:-${XDG_CACHE_HOME:-$HOME/.cache}/cer-desktop/vocab/ggml-vocab-qwen2.gguf}"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$DEST" ] && [ "$(sha256_of "$DEST")" = "$VOCAB_SHA256" ]; then
  echo "$DEST"
  exit 0
fi

mkdir -p "$(dirname "$DEST")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cer-qwen2-vocab.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# --require-hashes: pip refuses an sdist whose checksum differs before building anything
echo "llama-cpp-python==${SDIST_VERSION} --hash=sha256:${SDIST_SHA256}" >"$WORK/req.txt"
"$PYTHON" -m pip download --quiet --no-deps --no-binary :all: --require-hashes \
  -r "$WORK/req.txt" -d "$WORK" >&2
SDIST="$WORK/llama_cpp_python-${SDIST_VERSION}.tar.gz"
if [ "$(sha256_of "$SDIST")" != "$SDIST_SHA256" ]; then
  echo "ERROR: $SDIST has an unexpected sha256" >&2
  exit 1
fi
tar -xzf "$SDIST" -C "$WORK" "$MEMBER"
if [ "$(sha256_of "$WORK/$MEMBER")" != "$VOCAB_SHA256" ]; then
  echo "ERROR: the extracted ggml-vocab-qwen2.gguf has an unexpected sha256" >&2
  exit 1
fi
# atomic: a reader never sees half a file
mv "$WORK/$MEMBER" "$DEST.part.$$"
mv -f "$DEST.part.$$" "$DEST"
echo "$DEST"
