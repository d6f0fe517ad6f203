#!/usr/bin/env bash
# GPU determinism check for the CUDA backend (issue #16). On a machine with an NVIDIA GPU,
# nvcc and the driver: compiles the kernels of crates/cuda/kernels with IEEE f32 rules
# (nvcc -fmad=false -prec-div=true -prec-sqrt=true -ftz=false; the host build with g++
# -ffp-contract=off -fno-fast-math, as build.rs), runs gpu_check (every kernel on the GPU and
# on the host build, same seeded inputs, compared bit for bit), runs `cargo test -p
# aikernel-cuda` where cargo can build offline (device discovery against the real driver), and
# writes JSON into OUT_DIR:
#   env.json      nvcc, driver and GPU as found
#   kernels.json  per kernel: outputs compared, mismatches, first mismatch; bit_identical
#   golden.json   the CUDA forward pass on the GPU (NVRTC, crates/cuda/src/gpu) replaying the
#                 engine's committed golden requests (SmolLM2-135M Q4_1 at batch 1, 4 and 32;
#                 Gemma 3 270M at 1 and 8 where present): per request, the logits SHA-256
#                 on the GPU against the committed CPU hash
#   generate.log  generation through the engine's sampling loop on the GPU (crates/accel:
#                 `cargo test -p aikernel-accel`, golden tokens and hashes alone and batched)
#   bench.json    `aikernel model bench --kernel cuda,auto --batch 1,8,32,64` (SmolLM2): pp,
#                 one-stream and aggregate decode tokens/s, CPU rows at 16 threads
#   summary.json  the verdict of each step
# Usage: scripts/gpu-check.sh OUT_DIR          (exit 0 only when everything is bit-identical)
#        scripts/gpu-check.sh --mock OUT_DIR   (no GPU: the driver against a CPU stand-in of
#                                               the CUDA runtime; checks the script and driver)
set -euo pipefail

mock=0
if [[ "${1:-}" == "--mock" ]]; then
    mock=1
    shift
fi
if [[ $# -ne 1 ]]; then
    echo "usage: $0 [--mock] OUT_DIR" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kdir="$root/crates/cuda/kernels"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT

# JSON string: the value with quotes, backslashes and control characters removed.
js() { printf '"%s"' "$(printf '%s' "$1" | tr -d '"\\' | tr '\n\t\r' '   ')"; }

cxx="${CXX:-g++}"
cxxflags=(-std=c++17 -O2 -ffp-contract=off -fno-fast-math)
if [[ "$(uname -m)" == "x86_64" ]]; then
    cxxflags+=(-msse2 -mfpmath=sse)
fi
command -v "$cxx" >/dev/null || { echo "no C++ compiler ($cxx)" >&2; exit 2; }
"$cxx" "${cxxflags[@]}" -c "$kdir/host.cpp" -o "$build/host.o"

commit="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
kernels_rc=0
if [[ $mock -eq 1 ]]; then
    sed -E 's/([A-Za-z0-9_]+)<<<([^,]+), ([^>]+)>>>\((.*)\);/AK_MOCK_LAUNCH(\2, \3, \1(\4));/' \
        "$kdir/gpu_check.cu" >"$build/gpu_check_mock.cpp"
    "$cxx" "${cxxflags[@]}" -I"$kdir" -include "$kdir/cuda_mock.h" "$build/gpu_check_mock.cpp" \
        "$build/host.o" -o "$build/gpu_check"
    # The forward kernels' __global__ wrappers (what NVRTC compiles) parse as C++ here.
    printf '#include "ak_forward.cuh"\n' >"$build/forward_mock.cpp"
    "$cxx" "${cxxflags[@]}" -fsyntax-only -I"$kdir" -include "$kdir/cuda_mock.h" \
        "$build/forward_mock.cpp"
    nvcc_v="mock"; driver="mock"; gpu="mock"
else
    nvcc="$(command -v nvcc || true)"
    [[ -z "$nvcc" && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
    if [[ -z "$nvcc" ]]; then
        echo "nvcc not found (PATH, /usr/local/cuda/bin)" >&2
        printf '{"error": "nvcc not found"}\n' >"$out/summary.json"
        exit 2
    fi
    if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
        echo "no NVIDIA driver or GPU (nvidia-smi -L failed)" >&2
        printf '{"error": "no NVIDIA driver or GPU"}\n' >"$out/summary.json"
        exit 2
    fi
    nvcc_v="$("$nvcc" --version | tail -n 2 | tr '\n' ' ')"
    driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1)"
    gpu="$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -n 1)"
    # IEEE f32 on the GPU: no FMA contraction, correctly rounded division and square root,
    # subnormals kept. The host code of gpu_check.cu does no arithmetic that is compared.
    "$nvcc" -std=c++17 -O3 -arch=native -fmad=false -prec-div=true -prec-sqrt=true -ftz=false \
        -Xcompiler -ffp-contract=off -I"$kdir" "$kdir/gpu_check.cu" "$build/host.o" \
        -o "$build/gpu_check"
fi
printf '{"commit": %s, "nvcc": %s, "driver": %s, "gpu": %s, "cxx": %s}\n' "$(js "$commit")" \
    "$(js "$nvcc_v")" "$(js "$driver")" "$(js "$gpu")" "$(js "$("$cxx" --version | head -n 1)")" \
    >"$out/env.json"

timeout 600 "$build/gpu_check" "$out/kernels.json" | tee "$out/kernels.log" || kernels_rc=$?

cargo_status="skipped (no cargo)"
[[ $mock -eq 1 ]] && cargo_status="skipped (mock)"
if [[ $mock -eq 0 ]] && command -v cargo >/dev/null; then
    if ! (cd "$root" && timeout 900 cargo test --offline -p aikernel-cuda --no-run) \
        >"$out/cargo-test.log" 2>&1; then
        cargo_status="skipped (cannot build offline, see cargo-test.log)"
    elif (cd "$root" && timeout 300 cargo test --offline -p aikernel-cuda) \
        >>"$out/cargo-test.log" 2>&1; then
        cargo_status="passed"
    else
        cargo_status="failed (see cargo-test.log)"
    fi
fi

# The whole forward pass on the GPU against the engine's committed golden hashes (the test
# `golden_hashes_on_the_gpu`, the `gpu` skip elsewhere; the models in ~/.cache/aikernel/models).
golden_status="skipped (no cargo build)"
[[ $mock -eq 1 ]] && golden_status="skipped (mock)"
if [[ $mock -eq 0 && "$cargo_status" != skipped* ]]; then
    if (cd "$root" && AK_GPU_CHECK_OUT="$out" timeout 600 cargo test --offline -p aikernel-cuda \
        --test golden -- --nocapture golden_hashes_on_the_gpu) >"$out/golden.log" 2>&1; then
        golden_status="passed"
    else
        golden_status="failed (see golden.log, golden.json)"
    fi
fi

# Generation on the GPU through the engine's sampling loop (`--kernel cuda`, `device = "cuda"`),
# then the benchmark (informational: its figures do not decide the verdict).
generate_status="skipped (no cargo build)"
bench_status="skipped (no cargo build)"
[[ $mock -eq 1 ]] && generate_status="skipped (mock)" && bench_status="skipped (mock)"
if [[ $mock -eq 0 && "$cargo_status" != skipped* ]]; then
    if (cd "$root" && timeout 600 cargo test --offline -p aikernel-accel -- --nocapture) \
        >"$out/generate.log" 2>&1; then
        generate_status="passed"
    else
        generate_status="failed (see generate.log)"
    fi
    if (cd "$root" && timeout 600 cargo run --offline -p aikernel -- --json model bench \
        --kernel cuda,auto --batch 1,8,32,64 --threads 16 --n-prompt 128 --n-gen 64 --no-llama) \
        >"$out/bench.json" 2>"$out/bench.log"; then
        bench_status="done"
    else
        bench_status="failed (see bench.log)"
    fi
fi

verdict=false
[[ $kernels_rc -eq 0 && "$cargo_status" != failed* && "$golden_status" != failed* \
    && "$generate_status" != failed* ]] && verdict=true
printf '{"commit": %s, "kernels_bit_identical": %s, "gpu_check_exit": %d, "cargo_test": %s, "gpu_forward_golden": %s, "gpu_generate": %s, "bench": %s, "pass": %s}\n' \
    "$(js "$commit")" "$([[ $kernels_rc -eq 0 ]] && echo true || echo false)" "$kernels_rc" \
    "$(js "$cargo_status")" "$(js "$golden_status")" "$(js "$generate_status")" \
    "$(js "$bench_status")" "$verdict" >"$out/summary.json"
cat "$out/summary.json"
[[ $verdict == true ]]
