#!/usr/bin/env bash
# Where one batch decode step's GPU time goes, launch by launch: runs `aikernel model bench
# --kernel cuda` on MODEL at batch BATCH (one prompt token, two decode steps, CUDA graphs off
# so that every kernel is a launch of its own) under Nsight Compute (ncu), skipping every
# launch before the last batch step, and writes:
#   OUT_DIR/bench.json   the bench run without ncu (its launchesPerStep sizes the skip)
#   OUT_DIR/step.ncu-rep ncu's report of that step's launches (ncu.log: its run's output)
#   OUT_DIR/ncu.csv      the report's raw page: one row per launch
#   OUT_DIR/step.json    {"model", "batch", "launches", "kernel_us" (the step's kernel time),
#                        "by_kernel": [{"kernel", "launches", "us", "mean_us"}] largest first,
#                        "launches_in_order": [{"i", "kernel", "grid", "us"}]}
# Usage: scripts/gpu-profile.sh MODEL BATCH OUT_DIR
#        scripts/gpu-profile.sh --summarize NCU_CSV MODEL BATCH LAUNCHES OUT_JSON
#   (the summary alone, from a saved ncu.csv)
# Env: AK_GPU_BUNDLE  the prebuilt bundle whose aikernel runs (else aikernel on PATH)
#      NCU            ncu to use (else ncu on PATH, else /usr/local/cuda/bin/ncu)
#      AK_PROFILE_TILE the matmul tile the bench runs (`--cuda-tile`: auto, the default; mma;
#                     mma-warp; 1 to 8)
# Exit: 0 written, 2 bad arguments or no ncu or no aikernel, 3 a run failed.
set -euo pipefail

# summarize CSV MODEL BATCH LAUNCHES OUT_JSON: ncu's `--csv --page raw --print-units base`
# rows (a header, a units row, then one row per launch) to the step summary.
summarize() {
    python3 - "$@" <<'PY'
import csv, json, sys
path, model, batch, launches, out = sys.argv[1:6]
rows = list(csv.reader(open(path, newline="")))
# ncu prints its own log lines (==PROF==) before the table: the header starts with "ID".
start = next((i for i, r in enumerate(rows) if r and r[0] == "ID"), None)
if start is None:
    sys.exit(f"{path}: no ncu table (no header row starting with ID)")
head = rows[start]
need = ["Kernel Name", "Grid Size", "gpu__time_duration.sum"]
missing = [c for c in need if c not in head]
if missing:
    sys.exit(f"{path}: ncu table without {missing}")
col = {c: head.index(c) for c in need}
table = []
for r in rows[start + 1:]:
    if len(r) < len(head) or not r[0].strip().isdigit():
        continue  # the units row, blank lines
    ns = float(r[col["gpu__time_duration.sum"]].replace(",", ""))
    table.append({"kernel": r[col["Kernel Name"]], "grid": r[col["Grid Size"]], "us": ns / 1000.0})
if not table:
    sys.exit(f"{path}: no launches in the ncu table")
by = {}
for t in table:
    k = by.setdefault(t["kernel"], {"kernel": t["kernel"], "launches": 0, "us": 0.0})
    k["launches"] += 1
    k["us"] += t["us"]
for k in by.values():
    k["mean_us"] = k["us"] / k["launches"]
summary = {
    "model": model,
    "batch": int(batch),
    "launches": len(table),
    "launches_per_step": int(launches),
    "kernel_us": sum(t["us"] for t in table),
    "by_kernel": sorted(by.values(), key=lambda k: -k["us"]),
    "launches_in_order": [dict(i=i, **t) for i, t in enumerate(table)],
}
json.dump(summary, open(out, "w"), indent=1)
print(f"{model} batch {batch}: {len(table)} launches, {summary['kernel_us']:.0f} us of kernel time")
for k in summary["by_kernel"]:
    print(f"  {k['kernel']:<24} {k['launches']:>4} x {k['mean_us']:8.2f} us = {k['us']:9.1f} us")
PY
}

if [[ "${1:-}" == --summarize ]]; then
    if [[ $# -ne 6 ]]; then
        echo "usage: $0 --summarize NCU_CSV MODEL BATCH LAUNCHES OUT_JSON" >&2
        exit 2
    fi
    summarize "${@:2}" || exit 3
    exit 0
fi
if [[ $# -ne 3 ]]; then
    echo "usage: $0 MODEL BATCH OUT_DIR" >&2
    exit 2
fi
model="$1"
batch="$2"
out="$3"
[[ -f $model ]] || { echo "gpu-profile: no model file $model" >&2; exit 2; }
[[ $batch =~ ^[1-9][0-9]*$ ]] || { echo "gpu-profile: BATCH must be a positive integer, not '$batch'" >&2; exit 2; }
ncu="${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}"
[[ -x $ncu ]] || { echo "gpu-profile: no Nsight Compute ($ncu): set NCU" >&2; exit 2; }
cli="aikernel"
[[ -n ${AK_GPU_BUNDLE:-} ]] && cli="$AK_GPU_BUNDLE/aikernel"
command -v "$cli" >/dev/null || { echo "gpu-profile: no aikernel ($cli)" >&2; exit 2; }
mkdir -p "$out"

bench=("$cli" --json model bench --model-file "$model" --kernel cuda --batch "$batch"
    --n-prompt 1 --n-gen 2 --cuda-graphs off --cuda-tile "${AK_PROFILE_TILE:-auto}" --no-llama)
"${bench[@]}" >"$out/bench.json" || { echo "gpu-profile: the bench failed" >&2; exit 3; }
launches="$(python3 -c '
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["results"] if r.get("kernel") == "cuda"]
print(rows[-1]["launchesPerStep"])' "$out/bench.json")"
# Steps before the one profiled (every step of a model launches the same kernels): the bench's
# warm-up (a prompt step, then one stream's first and 2 decode steps), then the measurement's
# prompt step, one stream's 3 steps, the BATCH streams' first steps, and the first batch step.
before=$((4 + 1 + 3 + batch + 1))
rm -f "$out/step.ncu-rep"
"$ncu" --clock-control none --metrics gpu__time_duration.sum --launch-skip $((before * launches)) \
    --launch-count "$launches" --export "$out/step" "${bench[@]}" >"$out/ncu.log" 2>&1 &&
    "$ncu" --import "$out/step.ncu-rep" --csv --page raw --print-units base >"$out/ncu.csv" || {
    echo "gpu-profile: ncu failed (see $out/ncu.log)" >&2
    exit 3
}
summarize "$out/ncu.csv" "$(basename "$model")" "$batch" "$launches" "$out/step.json" || exit 3
