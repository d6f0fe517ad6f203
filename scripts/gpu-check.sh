#!/usr/bin/env bash
# GPU determinism check for the CUDA backend (issue #16). On a machine with an NVIDIA GPU,
# nvcc and the driver: compiles the kernels of crates/cuda/kernels with IEEE f32 rules
# (nvcc -fmad=false -prec-div=true -prec-sqrt=true -ftz=false; the host build with g++
# -ffp-contract=off -fno-fast-math, as build.rs), runs gpu_check (every kernel on the GPU and
# on the host build, same seeded inputs, compared bit for bit), runs `cargo test -p
# aikernel-cuda` where cargo can build offline (device discovery against the real driver, the
# tiny models of every architecture and weight type on the GPU against the engine), or,
# where there is no cargo, the same tests prebuilt by scripts/gpu-bundle.sh (.gpu/bin), and
# writes JSON into OUT_DIR:
#   env.json      nvcc (version, path, command line), the libnvrtc the dynamic loader finds,
#                 driver and GPU as found
#   kernels.json  per kernel: outputs compared, mismatches, first mismatch; bit_identical
#   golden.json   the CUDA forward pass on the GPU (NVRTC, crates/cuda/src/gpu) replaying
#                 every golden request of the engine's tests (SmolLM2-135M Q4_1 at batch 1, 4
#                 and 32; SmolLM2 requantized to Q4_K_M at 1 and 8; where Gemma 3 270M is
#                 present, its requests at 1 and 8 and its 895-token sliding-window prompt at
#                 1 and 8; with CUDA graphs, and some again without): per request, the logits
#                 SHA-256 on the GPU against the committed CPU hash
#   generate.log  generation through the engine's sampling loop on the GPU (crates/accel:
#                 `cargo test -p aikernel-accel`, golden tokens and hashes alone and batched)
#   bench.json    `aikernel model bench --kernel cuda,auto --batch 1,8,32,64 --cuda-tile
#                 auto,mma,8 --cuda-graphs on,off` (SmolLM2): pp, one-stream and aggregate
#                 decode tokens/s of the cuda rows at each matmul tile (auto: tensor-core
#                 tiles from 8 tokens on, a warp each for the head from batch 32; mma: a
#                 block each everywhere; 8: the dp4a tiles there too), with and without
#                 CUDA graphs, and through the sampling loop (loopTokensPerS); the CPU's
#                 at 16 threads (one stream, the aggregate and the loop at 8, 32, 64);
#                 each cuda row's aggregateRatio and loopRatio to the CPU's, and every
#                 row's readGBPerS (the useful bytes a decode step reads, per second)
#   bench-gemma3-270m.json  the same for Gemma 3 270M (the largest model the engine runs),
#                 tiles auto and mma (its head a warp a tile from batch 8, or a block),
#                 graphs on, where its file is in the model cache
#   committee.log a committee of two CPU nodes and one `device = "cuda"` node settling
#                 prompts together on a local chain (the test cpu_and_gpu_nodes_settle_together:
#                 `aikernel devnet` with anvil, three `aikernel node run` processes; anvil from
#                 AIKERNEL_FOUNDRY_BIN or PATH, the bundle's in .gpu/tools)
#   summary.json  the verdict of each step
#   nvcc.log      what nvcc printed building gpu_check
# Usage: scripts/gpu-check.sh OUT_DIR          (exit 0 only when everything is bit-identical)
#        scripts/gpu-check.sh --steps LIST OUT_DIR
#                      (only the steps of LIST, comma-separated, of kernels, cargo, golden,
#                      generate, bench, committee; the others say "not run (--steps)" in
#                      summary.json and do not decide the verdict: a lease too short for the
#                      whole check runs it in two calls; with --mock or --gemma too)
#        scripts/gpu-check.sh --mock OUT_DIR   (no GPU: the driver against a CPU stand-in of
#                                               the CUDA runtime; checks the script and driver)
#        scripts/gpu-check.sh --gemma OUT_DIR  (after the bundle's Gemma calls: only Gemma
#                      3 270M's golden requests (AK_GPU_GOLDEN=gemma) and its bench; env.json,
#                      golden.json, bench-gemma3-270m.json, summary.json with "gemma_only")
#        scripts/gpu-check.sh --compile-only OUT_DIR
#                      (no GPU or driver needed: builds host.o and gpu_check for sm_90 (an
#                      H200) instead of the local GPU, writes env.json, summary.json with
#                      "compile_only": true and OUT_DIR/gpu_check; exit 0 when it compiled)
# nvcc: $NVCC when set; else for a GPU run nvcc on PATH, /usr/local/cuda/bin/nvcc, then the
# compilers scripts/setup.sh installs (<cache>/cuda-13.5.37/nvidia/cu13, the rule of
# aikernel_engine::paths::cuda_toolkit); --compile-only tries setup's first, the pinned release.
# The CUDA folders next to nvcc (lib64, lib, targets/*/lib) go first in LD_LIBRARY_PATH, so
# NVRTC (libnvrtc.so*, which GpuDevice::open loads) is found where ld.so.conf lacks CUDA.
set -euo pipefail

usage() {
    echo "usage: $0 [--mock | --compile-only | --gemma] [--steps LIST] OUT_DIR" >&2
    exit 2
}
all_steps=kernels,cargo,golden,generate,bench,committee
mode=gpu
steps=$all_steps
while [[ $# -gt 0 ]]; do
    case "$1" in
        --mock) mode=mock; shift ;;
        --compile-only) mode=compile; shift ;;
        --gemma) mode=gemma; shift ;;
        --steps)
            [[ $# -ge 2 ]] || usage
            steps="$2"; shift 2 ;;
        -*) echo "unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
mock=0
[[ $mode == mock ]] && mock=1
[[ $# -eq 1 ]] || usage
IFS=, read -ra picked <<<"$steps"
[[ ${#picked[@]} -gt 0 ]] || { echo "--steps: no step named (of $all_steps)" >&2; exit 2; }
for st in "${picked[@]}"; do
    [[ ",$all_steps," == *",$st,"* ]] || { echo "--steps: unknown step '$st' (of $all_steps)" >&2; exit 2; }
done
# Whether step $1 was asked for.
want() { [[ ",$steps," == *",$1,"* ]]; }
not_run="not run (--steps)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kdir="$root/crates/cuda/kernels"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT

# JSON string: the value with quotes, backslashes and control characters removed.
js() { printf '"%s"' "$(printf '%s' "$1" | tr -d '"\\' | tr '\n\t\r' '   ')"; }
compile_only=false
[[ $mode == compile ]] && compile_only=true

# The compilers setup installs (paths::cuda_toolkit: an empty AIKERNEL_CACHE counts as unset).
cache="${AIKERNEL_CACHE:-${HOME:+$HOME/}.cache/aikernel}"
setup_nvcc="$cache/cuda-13.5.37/nvidia/cu13/bin/nvcc"
# Gemma 3 270M (paths::gemma3_270m): its goldens and bench run where it is present.
gemma="$cache/models/gemma-3-270m-q4_k_m.gguf"
find_nvcc() {
    if [[ -n "${NVCC:-}" ]]; then
        printf '%s' "$NVCC"
        return
    fi
    local c candidates=("$(command -v nvcc || true)" /usr/local/cuda/bin/nvcc "$setup_nvcc")
    [[ $mode == compile ]] && candidates=("$setup_nvcc" "${candidates[@]}")
    for c in "${candidates[@]}"; do
        if [[ -n "$c" && -x "$c" ]]; then
            printf '%s' "$c"
            return
        fi
    done
}

# The libnvrtc the dynamic loader gives GpuDevice::open: the names of gpu::NVRTC_LIBRARIES in
# order, each looked up in LD_LIBRARY_PATH, then in the ld.so cache.
which_nvrtc() {
    local name d hit dirs
    IFS=: read -ra dirs <<<"${LD_LIBRARY_PATH:-}"
    for name in libnvrtc.so libnvrtc.so.13 libnvrtc.so.12 libnvrtc.so.11.2; do
        for d in "${dirs[@]}"; do
            if [[ -n "$d" && -e "$d/$name" ]]; then
                printf '%s' "$d/$name"
                return
            fi
        done
        hit="$({ ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true; } |
            awk -v n="$name" '$1 == n { print $NF; exit }' || true)"
        if [[ -n "$hit" ]]; then
            printf '%s' "$hit"
            return
        fi
    done
    printf 'none'
}

cxx="${CXX:-g++}"
cxxflags=(-std=c++17 -O2 -ffp-contract=off -fno-fast-math)
if [[ "$(uname -m)" == "x86_64" ]]; then
    cxxflags+=(-msse2 -mfpmath=sse)
fi
if [[ $mode == gemma && ! -f "$gemma" ]]; then
    echo "--gemma: $gemma is missing (the bundle's Gemma calls put it there)" >&2
    printf '{"error": "no Gemma 3 270M in the model cache", "gemma_only": true}\n' >"$out/summary.json"
    exit 2
fi
if [[ $mode != gemma ]]; then
    command -v "$cxx" >/dev/null || { echo "no C++ compiler ($cxx)" >&2; exit 2; }
    "$cxx" "${cxxflags[@]}" -c "$kdir/host.cpp" -o "$build/host.o"
fi

# The commit the results belong to: a prebuilt bundle's where one is named ($AK_GPU_BUNDLE:
# its manifest names the commit its binaries were built from, and the machine's checkout may
# be older), else the checkout's.
commit="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ -n ${AK_GPU_BUNDLE:-} && -f $AK_GPU_BUNDLE/manifest.txt ]]; then
    commit="$(sed -n '1s/^commit //p' "$AK_GPU_BUNDLE/manifest.txt")"
    [[ -n $commit ]] || commit="unknown (no commit line in $AK_GPU_BUNDLE/manifest.txt)"
fi
kernels_rc=0
gpu_check="$build/gpu_check"
if [[ $mock -eq 1 ]]; then
    sed -E 's/([A-Za-z0-9_]+)<<<([^,]+), ([^>]+)>>>\((.*)\);/AK_MOCK_LAUNCH(\2, \3, \1(\4));/' \
        "$kdir/gpu_check.cu" >"$build/gpu_check_mock.cpp"
    "$cxx" "${cxxflags[@]}" -I"$kdir" -include "$kdir/cuda_mock.h" "$build/gpu_check_mock.cpp" \
        "$build/host.o" -o "$gpu_check"
    # The forward kernels' __global__ wrappers (what NVRTC compiles) parse as C++ here.
    printf '#include "ak_forward.cuh"\n' >"$build/forward_mock.cpp"
    "$cxx" "${cxxflags[@]}" -fsyntax-only -I"$kdir" -include "$kdir/cuda_mock.h" \
        "$build/forward_mock.cpp"
    nvcc_v="mock"; nvcc="mock"; nvcc_cmd=(mock); driver="mock"; gpu="mock"
else
    nvcc="$(find_nvcc)"
    if [[ -z "$nvcc" || ! -x "$nvcc" ]]; then
        echo "nvcc not found (\$NVCC, PATH, /usr/local/cuda/bin, $setup_nvcc: run scripts/setup.sh)" >&2
        printf '{"error": "nvcc not found", "compile_only": %s}\n' "$compile_only" \
            >"$out/summary.json"
        exit 2
    fi
    cuda_root="$(cd "$(dirname "$nvcc")/.." && pwd)"
    if [[ "$cuda_root" != / && "$cuda_root" != /usr ]]; then
        libdirs=()
        for d in "$cuda_root/lib64" "$cuda_root/lib" "$cuda_root"/targets/*/lib; do
            [[ -d "$d" ]] && libdirs+=("$d")
        done
        if [[ ${#libdirs[@]} -gt 0 ]]; then
            LD_LIBRARY_PATH="$(IFS=:; echo "${libdirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            export LD_LIBRARY_PATH
        fi
    fi
    arch=native
    if [[ $mode == compile ]]; then
        arch=sm_90
        gpu_check="$out/gpu_check"
        driver="none (compile only)"; gpu="none (compile only)"
    elif ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
        echo "no NVIDIA driver or GPU (nvidia-smi -L failed)" >&2
        printf '{"error": "no NVIDIA driver or GPU"}\n' >"$out/summary.json"
        exit 2
    else
        driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1)"
        gpu="$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -n 1)"
    fi
    nvcc_v="$("$nvcc" --version | tail -n 2 | tr '\n' ' ')"
    # IEEE f32 on the GPU: no FMA contraction, correctly rounded division and square root,
    # subnormals kept. The host code of gpu_check.cu does no arithmetic that is compared.
    nvcc_cmd=("$nvcc" -std=c++17 -O3 -arch="$arch" -fmad=false -prec-div=true -prec-sqrt=true
        -ftz=false -Xcompiler -ffp-contract=off -I"$kdir" "$kdir/gpu_check.cu" "$build/host.o"
        -o "$gpu_check")
    if [[ $mode == gemma ]]; then
        nvcc_cmd=(none: --gemma compiles nothing)
    elif [[ $mode == gpu ]] && ! want kernels; then
        nvcc_cmd=(none: --steps leaves out kernels)
    elif ! "${nvcc_cmd[@]}" 2>&1 | tee "$out/nvcc.log" >&2; then
        echo "nvcc failed building gpu_check (see $out/nvcc.log)" >&2
        printf '{"commit": %s, "compile_only": %s, "error": "nvcc failed (see nvcc.log)", "pass": false}\n' \
            "$(js "$commit")" "$compile_only" >"$out/summary.json"
        exit 1
    fi
fi
printf '{"commit": %s, "compile_only": %s, "nvcc": %s, "nvcc_path": %s, "nvcc_command": %s, "libnvrtc": %s, "driver": %s, "gpu": %s, "cxx": %s}\n' \
    "$(js "$commit")" "$compile_only" "$(js "$nvcc_v")" "$(js "$nvcc")" "$(js "${nvcc_cmd[*]}")" \
    "$(js "$(which_nvrtc)")" "$(js "$driver")" "$(js "$gpu")" \
    "$(js "$("$cxx" --version | head -n 1)")" >"$out/env.json"

if [[ $mode == compile ]]; then
    printf '{"commit": %s, "compile_only": true, "arch": %s, "gpu_check": %s, "pass": true}\n' \
        "$(js "$commit")" "$(js "$arch")" "$(js "$gpu_check")" >"$out/summary.json"
    cat "$out/summary.json"
    exit 0
fi

# The Rust tests: built here with cargo, or, where there is no cargo (the GPU machine has no
# Rust toolchain and no registry), the prebuilt bundle of scripts/gpu-bundle.sh
# ($AK_GPU_BUNDLE, else .gpu/bin: stripped test executables and the CLI, manifest.txt).
bundle="${AK_GPU_BUNDLE:-$root/.gpu/bin}"
runner=none
if [[ $mock -eq 0 ]]; then
    if command -v cargo >/dev/null; then
        runner=cargo
    elif [[ -f "$bundle/manifest.txt" ]]; then
        runner=bundle
    fi
fi
golden_test=(cargo test --offline -p aikernel-cuda --test golden --)
cli=(cargo run --offline -p aikernel --)
if [[ $runner == bundle ]]; then
    golden_test=("$bundle/cuda-golden")
    cli=("$bundle/aikernel")
fi

# Which golden requests: all (SmolLM2's, and Gemma's where its file is present), or with
# --gemma Gemma's alone (the whole check has run SmolLM2's in an earlier call).
golden_models=all
[[ $mode == gemma ]] && golden_models=gemma
# The whole forward pass on the GPU against the engine's committed golden hashes (the test
# `golden_hashes_on_the_gpu`, the `gpu` skip elsewhere; the models in <cache>/models): sets
# golden_status.
run_golden() {
    if (cd "$root" && AK_GPU_CHECK_OUT="$out" AK_GPU_GOLDEN="$golden_models" timeout 600 \
        "${golden_test[@]}" --nocapture \
        golden_hashes_on_the_gpu) >"$out/golden.log" 2>&1; then
        golden_status="passed"
    else
        golden_status="failed (see golden.log, golden.json)"
    fi
}

# `aikernel model bench` of the cuda rows against the CPU's 16 threads on MODEL into
# OUT/NAME.json (log NAME.log), with the extra flags given: prints done or failed.
run_bench() {
    local model="$1" name="$2"
    shift 2
    if (cd "$root" && timeout 600 "${cli[@]}" --json model bench --model-file "$model" \
        --kernel cuda,auto --batch 1,8,32,64 --threads 16 --n-prompt 128 --n-gen 64 \
        --no-llama "$@") >"$out/$name.json" 2>"$out/$name.log"; then
        echo "done"
    else
        echo "failed (see $name.log)"
    fi
}

if [[ $mode == gemma ]]; then
    golden_status="skipped (no cargo and no prebuilt bundle)"
    bench_status="$golden_status"
    if [[ $runner != none ]]; then
        golden_status="$not_run"
        bench_status="$not_run"
        want golden && run_golden
        want bench && bench_status="$(run_bench "$gemma" bench-gemma3-270m --cuda-tile auto,mma)"
    fi
    verdict=false
    [[ $golden_status == passed || $golden_status == "$not_run" ]] && verdict=true
    printf '{"commit": %s, "gemma_only": true, "steps": %s, "gpu_forward_golden": %s, "bench_gemma3": %s, "pass": %s}\n' \
        "$(js "$commit")" "$(js "$steps")" "$(js "$golden_status")" "$(js "$bench_status")" "$verdict" \
        >"$out/summary.json"
    cat "$out/summary.json"
    [[ $verdict == true ]] && exit 0
    exit 1
fi

kernels_status=true
if want kernels; then
    timeout 600 "$gpu_check" "$out/kernels.json" | tee "$out/kernels.log" || kernels_rc=$?
    [[ $kernels_rc -eq 0 ]] || kernels_status=false
else
    kernels_status="$(js "$not_run")"
fi

# The test targets that need setup's CUDA compilers (paths::cuda_toolkit: those naming it or
# common::toolkit) fail where setup could not install them, as on a GPU machine that is
# offline; there the other targets run, and the verdict names the ones left out.
cuda_tests=()
cargo_note=""
if [[ ! -x "$setup_nvcc" ]]; then
    left_out=()
    cuda_tests=(--lib)
    for f in "$root"/crates/cuda/tests/*.rs; do
        t="$(basename "$f" .rs)"
        if grep -q 'cuda_toolkit\|toolkit::' "$f"; then
            left_out+=("$t")
        else
            cuda_tests+=(--test "$t")
        fi
    done
    if [[ ${#left_out[@]} -gt 0 ]]; then
        cargo_note=" (not run: ${left_out[*]}; setup's CUDA compilers are not installed)"
    fi
fi
cargo_status="skipped (no cargo and no prebuilt bundle: run scripts/gpu-bundle.sh, carry .gpu/bin)"
[[ $mock -eq 1 ]] && cargo_status="skipped (mock)"
# Every aikernel-cuda test but those named golden_hash: the golden GPU test runs on its own
# below, and the golden replays on the host build and in PTX are CPU work (minutes of it) that
# CI does; device time goes to what only a GPU shows.
if ! want cargo; then
    cargo_status="$not_run"
elif [[ $runner == bundle ]]; then
    cargo_status="passed (prebuilt, $(head -n 1 "$bundle/manifest.txt"))"
    : >"$out/cargo-test.log"
    for t in "$bundle"/cuda-*; do
        if ! (cd "$root" && timeout 300 "$t" --skip golden_hash) \
            >>"$out/cargo-test.log" 2>&1; then
            cargo_status="failed ($(basename "$t"), see cargo-test.log)"
        fi
    done
elif [[ $runner == cargo ]]; then
    if ! (cd "$root" && timeout 900 cargo test --offline -p aikernel-cuda --no-run) \
        >"$out/cargo-test.log" 2>&1; then
        cargo_status="skipped (cannot build offline, see cargo-test.log)"
    elif (cd "$root" && timeout 300 cargo test --offline -p aikernel-cuda \
        ${cuda_tests[@]+"${cuda_tests[@]}"} -- --skip golden_hash) >>"$out/cargo-test.log" 2>&1; then
        cargo_status="passed$cargo_note"
    else
        cargo_status="failed (see cargo-test.log)"
    fi
fi

# Whether the Rust steps can run: a bundle, or cargo with a build (when the cargo step ran).
rust_ok=false
[[ $mock -eq 0 && $runner != none && "$cargo_status" != skipped* ]] && rust_ok=true
no_rust="skipped (no cargo build)"
[[ $mock -eq 1 ]] && no_rust="skipped (mock)"
# The golden replay on the GPU (run_golden).
golden_status="$no_rust"
if ! want golden; then
    golden_status="$not_run"
elif [[ $rust_ok == true ]]; then
    run_golden
fi

# Generation on the GPU through the engine's sampling loop (`--kernel cuda`, `device = "cuda"`),
# then the benchmark (informational: its figures do not decide the verdict).
generate_status="$no_rust"
bench_status="$no_rust"
want generate || generate_status="$not_run"
want bench || bench_status="$not_run"
bench_gemma_status="$bench_status"
generate_test=(cargo test --offline -p aikernel-accel --)
[[ $runner == bundle ]] && generate_test=("$bundle/accel-generation")
if [[ $rust_ok == true ]] && want generate; then
    if (cd "$root" && timeout 600 "${generate_test[@]}" --nocapture) \
        >"$out/generate.log" 2>&1; then
        generate_status="passed"
    else
        generate_status="failed (see generate.log)"
    fi
fi
if [[ $rust_ok == true ]] && want bench; then
    bench_status="$(run_bench "${AIKERNEL_MODEL:-$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}" \
        bench --cuda-tile auto,mma,8 --cuda-graphs on,off)"
    bench_gemma_status="skipped (no Gemma 3 270M in the model cache)"
    [[ -f "$gemma" ]] && bench_gemma_status="$(run_bench "$gemma" bench-gemma3-270m --cuda-tile auto,mma)"
fi

# A committee of two CPU nodes and a GPU node settling prompts together (the test
# cpu_and_gpu_nodes_settle_together; from the bundle, its nodes are the bundled CLI, passed as
# AIKERNEL_TEST_BIN). It needs anvil: AIKERNEL_FOUNDRY_BIN, else PATH, else .tools/bin.
committee_status="$no_rust"
want committee || committee_status="$not_run"
committee_test=(cargo test --offline -p aikernel --features aikernel/test-hooks --test node_gpu --)
committee_env=()
if [[ $runner == bundle ]]; then
    committee_test=("$bundle/cli-node_gpu")
    committee_env=(AIKERNEL_TEST_BIN="$bundle/aikernel")
fi
if [[ $rust_ok == true ]] && want committee; then
    if [[ $runner == bundle && ! -x "$bundle/cli-node_gpu" ]]; then
        committee_status="failed (the bundle has no cli-node_gpu: rebuild it with scripts/gpu-bundle.sh)"
    elif (cd "$root" && env ${committee_env[@]+"${committee_env[@]}"} timeout 900 \
        "${committee_test[@]}" --nocapture --exact cpu_and_gpu_nodes_settle_together) \
        >"$out/committee.log" 2>&1; then
        committee_status="passed"
    else
        committee_status="failed (see committee.log)"
    fi
fi

verdict=false
[[ $kernels_rc -eq 0 && "$cargo_status" != failed* && "$golden_status" != failed* \
    && "$generate_status" != failed* && "$committee_status" != failed* ]] && verdict=true
printf '{"commit": %s, "compile_only": false, "steps": %s, "kernels_bit_identical": %s, "gpu_check_exit": %d, "cargo_test": %s, "gpu_forward_golden": %s, "gpu_generate": %s, "committee": %s, "bench": %s, "bench_gemma3": %s, "pass": %s}\n' \
    "$(js "$commit")" "$(js "$steps")" "$kernels_status" "$kernels_rc" \
    "$(js "$cargo_status")" "$(js "$golden_status")" "$(js "$generate_status")" \
    "$(js "$committee_status")" "$(js "$bench_status")" "$(js "$bench_gemma_status")" \
    "$verdict" >"$out/summary.json"
cat "$out/summary.json"
[[ $verdict == true ]]
