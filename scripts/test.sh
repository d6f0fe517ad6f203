#!/usr/bin/env bash
# Runs every test aikernel has, after installing what it needs (scripts/setup.sh):
# Solidity formatting, code size, tests (forge, CI profile) and gas (snapshot check, the k=3
# lifecycle measured from anvil receipts), Rust formatting, clippy with warnings denied,
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

step "forge build (fails when a contract exceeds the 24,576-byte code limit)"
forge build --sizes >/dev/null

step "forge test (CI profile: 512 fuzz runs, invariants 256 runs x depth 128)"
FOUNDRY_PROFILE=ci forge test

step "gas: forge snapshot --check (1% tolerance) and the k=3 lifecycle from anvil receipts"
forge snapshot --isolate --match-path "contracts/test/kernel/*" --no-match-contract KernelInvariant \
  --check --tolerance 1
contracts/script/lifecycle-gas.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "aarch64 (NEON) kernels under qemu"
./scripts/test-aarch64.sh

step "all tests passed"
