#!/usr/bin/env bash
# Builds llama.cpp's llama-tokenize, llama-bench, llama-completion and llama-quantize (the reference for
# tokenizer fixtures and inference baselines) from the source vendored in the
# llama-cpp-python 0.3.36 sdist. Idempotent: reuses the download, the cmake venv and the
# build folder under <llama.cpp> (`$AIKERNEL_LLAMA_CACHE`, else `$AIKERNEL_CACHE/llama.cpp`,
# else ~/.cache/aikernel/llama.cpp: the library's rule, aikernel_engine::paths); re-running
# only rebuilds what changed.
#
# Binaries: <llama.cpp>/build/bin/{llama-tokenize,llama-bench,llama-completion,llama-quantize}
# Usage: scripts/build-llama-cpp.sh [target...]   (default: all four); JOBS=2 by default.
set -euo pipefail

CACHE="${AIKERNEL_LLAMA_CACHE:-${AIKERNEL_CACHE:-$HOME/.cache/aikernel}/llama.cpp}"
VERSION=0.3.36
JOBS="${JOBS:-2}"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(llama-tokenize llama-bench llama-completion llama-quantize)

mkdir -p "$CACHE"
cd "$CACHE"

# cmake from PyPI, in a private venv.
if [ ! -x venv/bin/cmake ]; then
  python3 -m venv venv
  venv/bin/pip install --quiet cmake
fi

SRC="$CACHE/llama_cpp_python-$VERSION/vendor/llama.cpp"
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  venv/bin/pip download --quiet --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$VERSION" -d sdist
  tar -xzf "sdist/llama_cpp_python-$VERSION.tar.gz"
fi

if [ ! -f build/CMakeCache.txt ]; then
  venv/bin/cmake -S "$SRC" -B build -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF
fi
venv/bin/cmake --build build -j "$JOBS" --target "${TARGETS[@]}"
ls -l "${TARGETS[@]/#/build/bin/}"
