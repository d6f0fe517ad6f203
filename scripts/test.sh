#!/usr/bin/env bash
# Runs every test aikernel has, after installing what it needs (scripts/setup.sh):
# Solidity formatting and tests (forge), Rust formatting, clippy with warnings denied,
# the whole cargo test suite (unit, integration, the real model, a real anvil), and the
# engine's aarch64 (NEON) kernels under qemu (scripts/test-aarch64.sh).
# Exits non-zero as soon as any step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*" >&2; }

step "setup"
./scripts/setup.sh
export PATH="$ROOT/.tools/bin:$PATH"

step "forge fmt --check"
forge fmt --check

step "forge build"
forge build

step "forge test"
forge test

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "aarch64 (NEON) kernels under qemu"
./scripts/test-aarch64.sh

step "all tests passed"
