#!/usr/bin/env bash
# Cross-tests the engine's aarch64 (NEON) code on an x86-64 Linux machine: builds
# aikernel-engine for aarch64-unknown-linux-gnu and runs its unit tests, the kernel and
# synthetic-model tests and the golden logits of the real model and of its K-quant
# requantization (the hashes committed from x86-64) under qemu user-mode emulation, twice: on qemu's default CPU
# (`max`, which has the dot-product extension: the `sdot` path) and on a Cortex-A53 (no
# dot-product extension: the widening-multiply path). Also runs clippy for that target.
# Timings under emulation mean nothing; this checks results only.
#
# Idempotent: installs the rust target and, through apt, qemu-user, gcc-aarch64-linux-gnu and
# libc6-dev-arm64-cross when they are missing. Exits non-zero as soon as a step fails, and
# when the aarch64 standard library cannot be installed, unless the run allows the skip key
# `aarch64` (AIKERNEL_ALLOWED_SKIPS, docs/testing.md): then it records the skip in
# $AIKERNEL_SKIP_LOG and exits 0.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*" >&2; }

# The skip policy (docs/testing.md): skipping fails unless the run allows the key `aarch64`.
skip_or_fail() {
    local list=",${AIKERNEL_ALLOWED_SKIPS:-},"
    if [[ "${list// /}" == *",aarch64,"* ]]; then
        printf '\n\033[1;33mSKIPPED [aarch64]: %s\033[0m\n' "$1" >&2
        if [ -n "${AIKERNEL_SKIP_LOG:-}" ]; then
            printf 'SKIPPED [aarch64] scripts/test-aarch64.sh: %s\n' "$1" >>"$AIKERNEL_SKIP_LOG"
        fi
        exit 0
    fi
    printf '\n\033[1;31mFAILED: %s (not skipped: add aarch64 to AIKERNEL_ALLOWED_SKIPS to allow it; docs/testing.md)\033[0m\n' "$1" >&2
    exit 1
}

TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu

step "toolchain"
if ! rustup target list --installed | grep -qx "$TARGET"; then
    # rustup fetches the target's standard library from the Rust project's own server, not
    # a package registry; where that is unreachable the NEON tests cannot be built here.
    if ! rustup target add "$TARGET"; then
        skip_or_fail "the $TARGET standard library could not be installed (rustup target add failed); the NEON kernels were NOT tested"
    fi
fi
missing=()
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] || missing+=(libc6-dev-arm64-cross)
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Beside the host build folder (CI points CARGO_TARGET_DIR outside the clone to reuse it).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}-aarch64"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $SYSROOT"
# golden_logits: the real model under emulation must give the hashes committed from x86-64.
TESTS=(--lib --test forward_kernels --test forward_synthetic --test golden_logits)

step "cargo clippy --target $TARGET (warnings denied)"
cargo clippy --target "$TARGET" -p aikernel-engine --all-targets --no-deps --locked -- -D warnings

for cpu in max cortex-a53; do
    step "cargo test --target $TARGET under qemu (cpu $cpu)"
    QEMU_CPU="$cpu" cargo test --target "$TARGET" -p aikernel-engine --locked "${TESTS[@]}"
done
# The K-quant model (requantized by our quantizer) must give its x86-64 golden hashes on
# aarch64 too. Once, on the `max` CPU (the `sdot` path): the NEON K-quant and Q5 kernels'
# other path (no `sdot`, Cortex-A53) is checked bit for bit against the scalar reference by
# the unit tests of the loop above, so running the whole model again there would add only
# minutes of emulation.
step "K-quant golden under qemu (cpu max)"
QEMU_CPU=max cargo test --target "$TARGET" -p aikernel-engine --locked \
    --test kquant_model -- requantized_q4_k_m_golden new_quantizers_round_trip

step "aarch64 tests passed"
