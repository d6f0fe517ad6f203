#!/usr/bin/env bash
# Prepares, on a development machine, what scripts/gpu-check.sh needs on a GPU machine that
# has nvcc and the NVIDIA driver but no Rust toolchain, no crate registry and no network (the
# reference H200 machine), and that receives at most 64 MiB of files per call:
#   .gpu/bin/      stripped release builds of the GPU tests (every test target of
#                  aikernel-cuda except toolkit and ptx, which need setup's CUDA compilers,
#                  and gpu_path, which needs the build folder's CPU stand-ins of the driver;
#                  and aikernel-accel's generation, and the CLI's node_gpu: the committee of
#                  CPU and GPU nodes) named <crate>-<target>, the aikernel CLI (the benchmark
#                  and the committee's nodes), and manifest.txt (the commit they were built
#                  from, one line per file with its sha256)
#   .gpu/tools/    anvil (the committee's chain; 43 MB, a call of its own)
#   .gpu/model/    the default model (SmolLM2-135M-Instruct Q4_1, 98 MB: more than one call
#                  carries) in two parts, and SHA256SUMS of the whole file
#   .gpu/gemma/    Gemma 3 270M Q4_K_M (253 MB, the largest model the engine runs; it
#                  compresses by 6% at most) in five parts, and SHA256SUMS
# .gpu/ is ignored by git. The calls, in a row (a machine stays warm about 30 s after a call;
# ignored folders and /tmp stay while it is warm), are in docs/engine.md, "A GPU machine
# without Rust":
#   1. carry .gpu/model/part-0:  mkdir -p /tmp/ak && cp .gpu/model/part-0 /tmp/ak/
#   2. carry .gpu/model/part-1 and .gpu/model/SHA256SUMS: assemble and check the model
#   3. carry .gpu/tools:         mkdir -p /tmp/ak/bin && cp .gpu/tools/anvil /tmp/ak/bin/
#   4. carry .gpu/bin:           keep a copy in /tmp/ak/bundle, then
#                                AIKERNEL_CACHE=/tmp/ak/cache AIKERNEL_FOUNDRY_BIN=/tmp/ak/bin \
#                                scripts/gpu-check.sh "$OUT"
#   5.-9. carry .gpu/gemma/part-0 .. part-4 (the last with SHA256SUMS): assemble Gemma, then
#                                scripts/gpu-check.sh --gemma "$OUT" with the kept bundle
# Usage: scripts/gpu-bundle.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/.gpu/bin"
tools="$root/.gpu/tools"
models="$root/.gpu/model"
cache="${AIKERNEL_CACHE:-${HOME:+$HOME/}.cache/aikernel}"
model="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
gemma="$cache/models/gemma-3-270m-q4_k_m.gguf"
gemma_parts="$root/.gpu/gemma"
# Each call carries the working tree too (about 5 MiB): each half must stay under 56 MiB.
max_part=$((56 * 1024 * 1024))

log() { printf 'gpu-bundle: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ "$(uname -m)" == x86_64 ]] || die "the GPU machine is x86-64; build the bundle on x86-64"
[[ -f "$model" ]] || die "$model is missing: run scripts/setup.sh"
[[ -f "$gemma" ]] || die "$gemma is missing: run scripts/setup.sh"
command -v strip >/dev/null || die "strip (binutils) is needed"

anvil="$(command -v anvil || true)"
[[ -z "$anvil" && -x "$root/.tools/bin/anvil" ]] && anvil="$root/.tools/bin/anvil"
[[ -n "$anvil" ]] || die "anvil is missing: run scripts/setup.sh"

rm -rf "$bin" "$tools" "$models" "$gemma_parts"
mkdir -p "$bin" "$tools" "$models" "$gemma_parts"

log "building the GPU tests and the committee test (release)"
json="$(mktemp)"
trap 'rm -f "$json"' EXIT
cargo test --release --locked --no-run -p aikernel-cuda -p aikernel-accel \
    --message-format=json >"$json"
# The committee of CPU and GPU nodes (cpu_and_gpu_nodes_settle_together) runs the bundled CLI
# through AIKERNEL_TEST_BIN: the path cargo compiles into the test is this machine's.
cargo test --release --locked --no-run -p aikernel --test node_gpu --message-format=json >>"$json"
python3 - "$json" "$bin" <<'PY'
import json, shutil, sys
src, dest = sys.argv[1], sys.argv[2]
# Targets that need setup's CUDA compilers (not on the GPU machine) or the CPU stand-ins of the
# driver that build.rs leaves in the build folder (gpu_path) stay behind.
leave = {("aikernel-cuda", "toolkit"), ("aikernel-cuda", "ptx"), ("aikernel-cuda", "gpu_path")}
# The bundle's name of each package's files: <short>-<target>.
short = {"aikernel-cuda": "cuda", "aikernel-accel": "accel", "aikernel": "cli"}
picked = []
for line in open(src):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    t = m["target"]
    # package_id: path+file:///.../crates/cuda#aikernel-cuda@0.1.0
    pkg = m["package_id"].split("#")[-1].split("@")[0]
    kind = t["kind"][0]
    name = "lib" if kind == "lib" else t["name"]
    if (pkg, name) in leave or kind not in ("lib", "test"):
        continue
    if pkg == "aikernel-accel" and name != "generation":
        continue
    out = f"{dest}/{short[pkg]}-{name}"
    shutil.copy2(m["executable"], out)
    picked.append(out)
needed = ["cuda-golden", "accel-generation", "cli-node_gpu"]
missing = [n for n in needed if not any(p.endswith(n) for p in picked)]
if missing:
    sys.exit(f"{', '.join(missing)} not built: {picked}")
PY

log "building the aikernel CLI (release)"
cargo build --release --locked -p aikernel
cp target/release/aikernel "$bin/aikernel"
strip "$bin"/*
cp "$(readlink -f "$anvil")" "$tools/anvil"

{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- crates Cargo.lock || echo '-dirty')"
    (cd "$bin" && sha256sum -- * | grep -v ' manifest.txt$')
} >"$bin/manifest.txt"

log "splitting the models"
split -n 2 -d -a 1 "$model" "$models/part-"
(cd "$(dirname "$model")" && sha256sum "$(basename "$model")") >"$models/SHA256SUMS"
split -n 5 -d -a 1 "$gemma" "$gemma_parts/part-"
(cd "$(dirname "$gemma")" && sha256sum "$(basename "$gemma")") >"$gemma_parts/SHA256SUMS"
for p in "$models"/part-* "$gemma_parts"/part-*; do
    [[ $(stat -c %s "$p") -lt $max_part ]] || die "$p is over $max_part bytes"
done

du -sh "$bin" "$tools" "$models"/* "$gemma_parts"/* >&2
for d in "$bin" "$tools"; do
    total=$(du -sb "$d" | cut -f1)
    [[ $total -lt $max_part ]] \
        || die "$d is $total bytes: too much to carry with the working tree in one call"
done
log "ready: .gpu/bin ($(ls "$bin" | wc -l) files), .gpu/tools (anvil), .gpu/model (2 parts), .gpu/gemma (5 parts)"
