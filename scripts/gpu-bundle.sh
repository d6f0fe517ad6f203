#!/usr/bin/env bash
# Prepares, on a development machine, what scripts/gpu-check.sh needs on a GPU machine that
# has nvcc and the NVIDIA driver but no Rust toolchain, no crate registry and no network (the
# reference H200 machine), and that receives at most 64 MiB of files per call, the working
# tree included:
#   .gpu/bin/      stripped release builds of the GPU tests (every test target of
#                  aikernel-cuda except toolkit and ptx, which need setup's CUDA compilers,
#                  and gpu_path, which needs the build folder's CPU stand-ins of the driver;
#                  and aikernel-accel's generation, and the CLI's node_gpu: the committee of
#                  CPU and GPU nodes) named <crate>-<target>, the aikernel CLI (the benchmark
#                  and the committee's nodes), and manifest.txt (the commit they were built
#                  from, one line per file with its sha256)
#   .gpu/smollm2/  one pack: .gpu/bin as bundle/, anvil as bin/anvil (the committee's chain)
#                  and the default model (SmolLM2-135M-Instruct Q4_1) as cache/models/, in one
#                  xz-compressed tar split into parts of one call each (part-00, part-01, ...)
#                  and PACK (the number of parts and the SHA-256 of the whole)
#   .gpu/gemma/    one pack: Gemma 3 270M Q4_K_M (253 MB, the largest model the engine runs)
#                  as cache/models/, likewise
#   .gpu/CALLS.md  the calls that carry them, each with its carry list and command
# scripts/gpu-stage.sh receives a pack on the GPU machine (parts kept in /tmp while the machine
# is warm, then joined, checked and unpacked into /tmp/ak). .gpu/ is ignored by git. The
# calls are in docs/engine.md, "A GPU machine without Rust".
# Usage: scripts/gpu-bundle.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/.gpu/bin"
cache="${AIKERNEL_CACHE:-${HOME:+$HOME/}.cache/aikernel}"
model="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
gemma="$cache/models/gemma-3-270m-q4_k_m.gguf"
# A call carries at most 64 MiB: the working tree that travels with every call (tracked and
# untracked files git does not ignore), PACK, and one part. 2 MiB are kept in hand.
tree_bytes="$( (git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null || true) \
    | awk '{ s += $1 } END { print s + 0 }')"
max_part=$((64 * 1024 * 1024 - tree_bytes - 2 * 1024 * 1024))

log() { printf 'gpu-bundle: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ "$(uname -m)" == x86_64 ]] || die "the GPU machine is x86-64; build the bundle on x86-64"
[[ -f "$model" ]] || die "$model is missing: run scripts/setup.sh"
[[ -f "$gemma" ]] || die "$gemma is missing: run scripts/setup.sh"
command -v strip >/dev/null || die "strip (binutils) is needed"

anvil="$(command -v anvil || true)"
[[ -z "$anvil" && -x "$root/.tools/bin/anvil" ]] && anvil="$root/.tools/bin/anvil"
[[ -n "$anvil" ]] || die "anvil is missing: run scripts/setup.sh"

command -v xz >/dev/null || die "xz is needed"
(( max_part > 16 * 1024 * 1024 )) || die "the working tree is $tree_bytes bytes: too little room left for parts"
rm -rf "$root/.gpu"
mkdir -p "$bin"

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

{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- crates Cargo.lock || echo '-dirty')"
    (cd "$bin" && sha256sum -- * | grep -v ' manifest.txt$')
} >"$bin/manifest.txt"

stage="$(mktemp -d)"
trap 'rm -f "$json"; rm -rf "$stage"' EXIT
# pack NAME PATH...: the paths (relative to $stage) as .gpu/NAME/part-NN and PACK.
pack() {
    local name="$1" dir="$root/.gpu/$1" whole size n
    shift
    mkdir -p "$dir"
    whole="$stage/$name.tar.xz"
    log "compressing $name ($*)"
    tar -C "$stage" -chf - "$@" | xz -9 -T2 >"$whole"
    size=$(stat -c %s "$whole")
    n=$(( (size + max_part - 1) / max_part ))
    split -n "$n" -d -a 2 "$whole" "$dir/part-"
    printf 'parts %d\nsha256 %s\nbytes %d\n' "$n" "$(sha256sum "$whole" | cut -d' ' -f1)" \
        "$size" >"$dir/PACK"
    for p in "$dir"/part-*; do
        [[ $(stat -c %s "$p") -le $max_part ]] || die "$p is over $max_part bytes"
    done
    rm -f "$whole"
    log "$name: $size bytes in $n parts"
}
ln -s "$bin" "$stage/bundle"
mkdir -p "$stage/bin" "$stage/cache/models"
ln -s "$(readlink -f "$anvil")" "$stage/bin/anvil"
ln -s "$model" "$stage/cache/models/$(basename "$model")"
pack smollm2 bundle bin cache
rm "$stage/cache/models/$(basename "$model")"
ln -s "$gemma" "$stage/cache/models/$(basename "$gemma")"
pack gemma cache

# The calls, written out for this bundle's number of parts.
calls="$root/.gpu/CALLS.md"
check='AK_GPU_BUNDLE=/tmp/ak/bundle AIKERNEL_CACHE=/tmp/ak/cache AIKERNEL_FOUNDRY_BIN=/tmp/ak/bin timeout 570 scripts/gpu-check.sh'
results='tar -czf "$OUT/out.tgz" -C /tmp/ak'
{
    echo "# GPU calls for $(head -n 1 "$bin/manifest.txt")"
    echo
    echo "One call per line, in a row (a machine keeps /tmp only while warm, about 30 s after a call)."
    echo "The last SmolLM2 call runs the whole check; a lease too short for it in one call splits it:"
    echo "\`--steps kernels,cargo,golden,generate\` there, then a call carrying nothing with"
    echo "\`--steps bench,committee\`. gpu-check writes more than the 8 files a call brings back:"
    echo "the commands bring back out.tgz and summary.json."
    echo
    i=1
    for pk in smollm2 gemma; do
        n=$(awk '$1 == "parts" { print $2 }' "$root/.gpu/$pk/PACK")
        for ((k = 0; k < n; k++)); do
            part="$(printf 'part-%02d' "$k")"
            carry="[\".gpu/$pk/$part\", \".gpu/$pk/PACK\"]"
            if ((k < n - 1)); then
                cmd="scripts/gpu-stage.sh .gpu/$pk /tmp/ak"
            elif [[ $pk == smollm2 ]]; then
                cmd="scripts/gpu-stage.sh --require .gpu/$pk /tmp/ak && { $check /tmp/ak/out; $results out; cp /tmp/ak/out/summary.json \"\$OUT/\"; }"
            else
                cmd="scripts/gpu-stage.sh --require .gpu/$pk /tmp/ak && { $check --gemma /tmp/ak/out-gemma; $results out-gemma; cp /tmp/ak/out-gemma/summary.json \"\$OUT/\"; }"
            fi
            printf '%d. carry %s\n   %s\n' "$i" "$carry" "$cmd"
            i=$((i + 1))
        done
    done
    echo
    echo "Where a batch step's time goes, once a pack is staged (a call carrying nothing; ncu"
    echo "replays each of the step's launches, about a minute a model):"
    echo "   AK_GPU_BUNDLE=/tmp/ak/bundle timeout 300 scripts/gpu-profile.sh /tmp/ak/cache/models/MODEL.gguf 32 /tmp/ak/prof-MODEL; tar -czf \"\$OUT/prof.tgz\" -C /tmp/ak prof-MODEL"
} >"$calls"
du -sh "$bin" "$root/.gpu/smollm2"/* "$root/.gpu/gemma"/* >&2
log "ready: .gpu/bin ($(ls "$bin" | wc -l) files), .gpu/smollm2, .gpu/gemma; the calls are in $calls"
