#!/usr/bin/env bash
# Interleaved speed rounds of the engine (every SIMD kernel this CPU has) and llama.cpp on
# the same model file, pp128/tg128, then the median of each and the ratio to llama.cpp.
# Interleaving rounds (rather than one long run each) keeps a noisy machine fair to both.
#
# Usage: scripts/bench-rounds.sh [ROUNDS] [THREADS...]   (default: 3 rounds, threads 1 2)
# MODEL=path overrides the default model; LLAMA_BENCH=path another llama-bench build;
# DEPTH=N measures from N positions deep (filled untimed first: llama-bench's -d).
# llama.cpp comes from scripts/build-llama-cpp.sh (GGML_NATIVE: on an AVX-512 VNNI machine
# it uses VNNI too); it is built on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"; shift || true
THREADS=("$@"); [ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2)
CACHE="${AIKERNEL_CACHE:-$HOME/.cache/aikernel}"
MODEL="${MODEL:-$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
DEPTH="${DEPTH:-0}"
[[ "$DEPTH" =~ ^[0-9]+$ ]] || { echo "DEPTH must be a number of positions, not '$DEPTH'" >&2; exit 1; }
LLAMA_BENCH="${LLAMA_BENCH:-${AIKERNEL_LLAMA_CACHE:-$CACHE/llama.cpp}/build/bin/llama-bench}"
[ -f "$MODEL" ] || { echo "no model at $MODEL (run ./scripts/setup.sh)" >&2; exit 1; }
[ -x "$LLAMA_BENCH" ] || scripts/build-llama-cpp.sh llama-bench >&2
cargo build --release -q -p aikernel-engine --example bench
BENCH=target/release/examples/bench
KERNELS=()
for k in avx2 avx512 neon; do
  AIKERNEL_KERNEL=$k "$BENCH" "$MODEL" 1 1 0 1 >/dev/null 2>&1 && KERNELS+=("$k")
done
[ ${#KERNELS[@]} -gt 0 ] || KERNELS=(scalar)
LOG=$(mktemp)
for ((round = 1; round <= ROUNDS; round++)); do
  for t in "${THREADS[@]}"; do
    for k in "${KERNELS[@]}"; do
      AIKERNEL_KERNEL=$k "$BENCH" "$MODEL" "$t" 128 128 1 "$DEPTH" 2>&1 | grep threads >>"$LOG"
    done
    "$LLAMA_BENCH" -m "$MODEL" -p 128 -n 128 -d "$DEPTH" -t "$t" -r 1 -o jsonl 2>/dev/null | sed 's/^/llama /' >>"$LOG"
  done
done
echo "model $MODEL, depth $DEPTH, $ROUNDS rounds (median, then each run)"
python3 - "$LOG" <<'PY'
import json, re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("llama "):
        r = json.loads(line[6:])
        rows.setdefault(("llama.cpp", r["n_threads"], "pp" if r["n_prompt"] else "tg"), []).append(r["avg_ts"])
    m = re.match(r"(\w+) threads (\d+)(?: depth \d+)? pp\d+ ([\d.]+) t/s\s+tg\d+ ([\d.]+) t/s", line)
    if m:
        rows.setdefault((m[1], int(m[2]), "pp"), []).append(float(m[3]))
        rows.setdefault((m[1], int(m[2]), "tg"), []).append(float(m[4]))
med = {k: statistics.median(v) for k, v in rows.items()}
engines = sorted({k[0] for k in med if k[0] != "llama.cpp"}) + ["llama.cpp"]
print("| threads | engine | pp128 t/s (runs) | tg128 t/s (runs) | pp / llama.cpp | tg / llama.cpp |")
print("|---|---|---|---|---|---|")
for t in sorted({k[1] for k in med}):
    for e in engines:
        if (e, t, "pp") not in med:
            continue
        runs = lambda p: "/".join(f"{x:.0f}" for x in rows[(e, t, p)])
        ratio = lambda p: f"{med[(e, t, p)] / med[('llama.cpp', t, p)]:.2f}" if ("llama.cpp", t, p) in med else "-"
        print(f"| {t} | {e} | {med[(e, t, 'pp')]:.0f} ({runs('pp')}) | {med[(e, t, 'tg')]:.0f} ({runs('tg')}) | {ratio('pp')} | {ratio('tg')} |")
PY
rm -f "$LOG"
