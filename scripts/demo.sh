#!/usr/bin/env bash
# Runs the whole aikernel system on this machine, installing what it needs first
# (scripts/setup.sh): `aikernel demo` starts a local anvil, deploys the kernel, registers the
# default model, starts three staked node processes, runs every example dapp against them,
# prints what happened, and keeps the network up for your own prompts until Ctrl-C.
# Extra arguments go to `aikernel demo` (e.g. --no-wait, --port 8546, --json).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*" >&2; }

step "setup"
./scripts/setup.sh

step "building the aikernel binary"
cargo build --locked -p aikernel
bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/aikernel"

step "aikernel demo (Ctrl-C stops the nodes and the chain)"
exec "$bin" demo "$@"
