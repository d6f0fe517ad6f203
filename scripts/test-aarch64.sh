#!/usr/bin/env bash
# Cross-tests the engine's aarch64 (NEON) code on an x86-64 Linux machine: builds
# aikernel-engine for aarch64-unknown-linux-gnu and runs its unit tests, the kernel and
# synthetic-model tests and the golden logits of the real model (the hashes committed from
# x86-64) under qemu user-mode emulation, twice: on qemu's default CPU
# (`max`, which has the dot-product extension: the `sdot` path) and on a Cortex-A53 (no
# dot-product extension: the widening-multiply path). Also runs clippy for that target.
# Timings under emulation mean nothing; this checks results only.
#
# Idempotent: installs the rust target and, through apt, qemu-user, gcc-aarch64-linux-gnu and
# libc6-dev-arm64-cross when they are missing. Exits non-zero as soon as a step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*" >&2; }

TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu

step "toolchain"
if ! rustup target list --installed | grep -qx "$TARGET"; then
    # rustup fetches the target's standard library from the Rust project's own server, not
    # a package registry; where that is unreachable the NEON tests cannot be built here.
    if ! rustup target add "$TARGET"; then
        printf '\n\033[1;31mSKIPPED: the %s standard library could not be installed (rustup target add failed); the NEON kernels were NOT tested\033[0m\n' "$TARGET" >&2
        exit 0
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

step "aarch64 tests passed"
