#!/usr/bin/env bash
# Runs every test aikernel has, after installing what it needs (scripts/setup.sh):
# Solidity formatting, code size, tests (forge, CI profile) and gas (snapshot check, the k=3
# lifecycle measured from anvil receipts), Rust formatting, clippy with warnings denied,
# the whole cargo test suite (unit, integration, the real model, a real anvil, agreement with
# the committed llama.cpp fixtures), and the engine's aarch64 (NEON) kernels under qemu
# (scripts/test-aarch64.sh).
#
# Skips fail the run (docs/testing.md): a test that cannot run here fails unless its reason
# is one of the documented keys allowed below; every allowed skip is recorded. At the end,
# also after a failure, it prints `N passed, N failed, N skipped` (from cargo's `test result:`
# lines and forge's summary) and every skip with its reason. Logs: target/test-logs/.
# Exits non-zero as soon as any step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Each step's name and start (seconds since the run began), for the timing table at the end.
STEP_NAMES=()
STEP_STARTS=()
step() {
  STEP_NAMES+=("$1")
  STEP_STARTS+=("$SECONDS")
  printf '\n\033[1;34m==> %s\033[0m\n' "$*" >&2
}

# How long each step took (the last one up to now), longest first, and the total: CI has a
# time limit (docs/testing.md), so where the time goes is part of every run's report.
timings() {
  local i end n=${#STEP_NAMES[@]}
  [ "$n" -gt 0 ] || return 0
  printf '\nTime by step (%d s in all):\n' "$SECONDS" >&2
  for ((i = 0; i < n; i++)); do
    end=$SECONDS
    [ $((i + 1)) -lt "$n" ] && end=${STEP_STARTS[$((i + 1))]}
    printf '%6d s  %s\n' $((end - STEP_STARTS[i])) "${STEP_NAMES[i]%% (*}"
  done | sort -rn >&2
}

LOGS="$ROOT/target/test-logs"
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log
# The documented skips (docs/testing.md, aikernel_testkit::KEYS); nothing else may skip.
export AIKERNEL_ALLOWED_SKIPS="llama-cpp,cpu-feature,gpu,aarch64"
export AIKERNEL_SKIP_LOG="$LOGS/skips.log"
: >"$AIKERNEL_SKIP_LOG"

# Sums field $1 ("passed", "failed", "ignored") of cargo's `test result:` lines in the logs.
# (A missing log or a grep that matches nothing must not end the run under pipefail: each
# step of these pipelines ends in `|| true`.)
cargo_count() {
  { cat "$LOGS"/cargo-*.log 2>/dev/null || true; } | { grep -o "test result: [A-Za-z]*\. .*" || true; } |
    { grep -o "[0-9]* $1" || true; } | awk '{ n += $1 } END { print n + 0 }'
}

# Sums field $1 ("passed", "failed", "skipped") of forge's `Ran N test suites` lines.
forge_count() {
  { cat "$LOGS"/forge-*.log 2>/dev/null || true; } | { grep "^Ran [0-9]* test suites\? in" || true; } |
    { grep -o "[0-9]* \(tests \)\?$1" || true; } | awk '{ n += $1 } END { print n + 0 }'
}

# Sums field $1 ("pass", "fail") of node --test's `# pass N` lines (the SDK).
sdk_count() {
  { cat "$LOGS"/sdk-*.log 2>/dev/null || true; } | { grep "^# $1 [0-9]*$" || true; } |
    awk '{ n += $3 } END { print n + 0 }'
}

summary() {
  local rc=$? skips rust_skips passed failed skipped ignored
  skips=$(grep -c . "$AIKERNEL_SKIP_LOG" || true)
  # A skipped Rust test returns and counts as passed in cargo's line; script skips do not.
  rust_skips=$(grep -vc "^SKIPPED \[[a-z0-9-]*\] scripts/" "$AIKERNEL_SKIP_LOG" || true)
  passed=$(($(cargo_count passed) + $(forge_count passed) + $(sdk_count pass) - rust_skips))
  failed=$(($(cargo_count failed) + $(forge_count failed) + $(sdk_count fail)))
  skipped=$((skips + $(forge_count skipped)))
  ignored=$(cargo_count ignored)
  timings
  printf '\n%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped" >&2
  [ "$ignored" -eq 0 ] || printf '(%d ignored: benchmarks, run on demand)\n' "$ignored" >&2
  cat "$AIKERNEL_SKIP_LOG" >&2
  if [ "$rc" -ne 0 ]; then
    printf '\033[1;31mFAILED (exit %d); logs in %s\033[0m\n' "$rc" "$LOGS" >&2
  fi
}
trap summary EXIT

step "skip policy: #[ignore] only for benchmarks"
if grep -rn --include='*.rs' '#\[ignore' crates | grep -v '#\[ignore = "benchmark'; then
  echo 'an #[ignore] without a "benchmark..." reason hides a test (docs/testing.md)' >&2
  exit 1
fi

step "setup"
./scripts/setup.sh
export PATH="$ROOT/.tools/bin:$PATH"

step "forge fmt --check"
forge fmt --check

step "forge build (fails when a contract exceeds the 24,576-byte code limit)"
forge build --sizes >/dev/null

step "forge test (CI profile: 512 fuzz runs, invariants 256 runs x depth 128)"
FOUNDRY_PROFILE=ci forge test 2>&1 | tee "$LOGS/forge-test.log"
if [ "$(forge_count skipped)" -ne 0 ]; then
  echo "forge skipped tests: no Solidity skip is on the allowed list (docs/testing.md)" >&2
  exit 1
fi

step "gas: forge snapshot --check (1% tolerance) and the k=3 lifecycle from anvil receipts"
# Fuzz tests are left out: their median gas moves with the bytecode's metadata hash (docs/contracts.md).
forge snapshot --isolate --match-path "contracts/test/kernel/*" --no-match-contract KernelInvariant \
  --no-match-test "^testFuzz" --check --tolerance 1
contracts/script/lifecycle-gas.sh

step "cargo fmt --check"
cargo fmt --all --check

# The node tests need `node run --byzantine` / `--pause-after-commit`, which only builds with
# the `test-hooks` feature have (the operator's binary does not): clippy and the tests use
# the same feature set, so they share one build.
FEATURES=(--features aikernel/test-hooks)

step "cargo clippy (warnings denied; the test build, then the operator's build of the node)"
cargo clippy --workspace --all-targets --locked "${FEATURES[@]}" -- -D warnings
cargo clippy -p aikernel-node -p aikernel --no-deps --all-targets --locked -- -D warnings

step "cargo test: build"
cargo test --workspace --locked "${FEATURES[@]}" --no-run --message-format=json-render-diagnostics \
  >"$LOGS/test-artifacts.json" 2> >(tee "$LOGS/build.log" >&2)

# cargo would run the binaries one after another (and hold its build lock meanwhile), while
# the CLI's node tests mostly wait on blocks and deadlines: they run in one lane, the other
# binaries, the doc tests and the NEON kernels under qemu (scripts/test-aarch64.sh, its own
# target folder) in another, at the same time (scripts/run-test-binaries.py).
step "cargo test: run (the node tests beside the rest, then the doc tests and the aarch64 NEON kernels under qemu)"
python3 scripts/run-test-binaries.py "$LOGS/test-artifacts.json" "$LOGS" \
  --then "doc tests" cargo-doc.log "cargo test --workspace --locked --doc ${FEATURES[*]}" \
  --then "aarch64 (NEON) kernels under qemu" cargo-aarch64.log ./scripts/test-aarch64.sh

# The SDK's dependencies come from setup (sdk/package-lock.json); its tests run the aikernel
# binary the cargo test step built (AIKERNEL_BIN; cargo's target folder, CARGO_TARGET_DIR or
# target/).
step "TypeScript SDK (build: ABIs from the forge artifacts, ESM + CJS; node --test against a devnet)"
AIKERNEL_BIN="$(realpath -m "${CARGO_TARGET_DIR:-target}")/debug/aikernel"
export AIKERNEL_BIN
(cd sdk && npm run build && npm test) 2>&1 | tee "$LOGS/sdk-test.log"

step "all tests passed"
