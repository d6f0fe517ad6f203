#!/usr/bin/env bash
# Runs aikernel end to end on this machine, installing what it needs first (scripts/setup.sh):
# the deterministic engine answers a prompt with the default model, then a local chain comes
# up with the kernel deployed and the model registered, and stays up until Ctrl-C.
# Extra arguments go to `aikernel devnet` (e.g. --no-wait, --port 8546).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*" >&2; }

step "setup"
./scripts/setup.sh

step "building the aikernel binary"
cargo build --locked -p aikernel
bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/aikernel"

step "the deterministic engine: one chat prompt, greedy, with its logits hash"
"$bin" model run --chat --max-tokens 48 \
  --prompt "In one sentence: why do smart contracts need verifiable AI inference?"

step "devnet: anvil + the kernel + the default model (Ctrl-C to stop)"
exec "$bin" devnet "$@"
