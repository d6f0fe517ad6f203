//! The GPU launch path without a GPU: every error reachable here is typed and names what is
//! missing (NVRTC, the driver, a symbol, a device, the compile log), and the whole path
//! (driver and NVRTC loading, compile options, module and kernel lookup, buffers, argument
//! packing, launches, read-back) runs against CPU stand-ins of libcuda and NVRTC
//! (`kernels/mock_cuda.cpp`) and gives the host build's logits bit for bit. Nothing here
//! proves GPU arithmetic: that needs `scripts/gpu-check.sh` on a GPU.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../engine/tests/common/tiny_arch.rs"]
mod tiny_arch;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../engine/tests/common/tiny_gemma.rs"]
mod tiny_gemma;

use aikernel_cuda::forward::{BufId, Device, Elem, Forward, HostDevice};
use aikernel_cuda::gpu::{GpuDevice, GpuError, NVRTC_LIBRARIES, NVRTC_OPTIONS, Nvrtc};
use aikernel_cuda::{CudaError, discover};
use common::engine::{bits, load, spec};

/// A stand-in library built by build.rs, which must exist.
fn mock(name: &str) -> String {
    let p = format!("{}/{name}", env!("AK_MOCK_CUDA_DIR"));
    assert!(
        std::path::Path::new(&p).exists(),
        "{p} missing: build.rs could not compile kernels/mock_cuda.cpp as a shared library"
    );
    p
}

#[test]
fn missing_nvrtc_is_named() {
    let e = Nvrtc::load_from(&["libnvrtc-absent.so.99", "libnvrtc-absent.so.98"]).unwrap_err();
    assert!(
        matches!(&e, GpuError::NvrtcMissing { tried, .. } if tried == "libnvrtc-absent.so.99, libnvrtc-absent.so.98")
    );
    assert!(
        e.to_string()
            .starts_with("NVRTC library could not be loaded (tried libnvrtc-absent.so.99"),
        "{e}"
    );
    assert!(
        NVRTC_LIBRARIES.contains(&"libnvrtc.so.13") && NVRTC_LIBRARIES.contains(&"libnvrtc.so.12")
    );
}

#[test]
fn a_library_without_the_entry_points_names_the_symbol() {
    let e = Nvrtc::load_from(&["libm.so.6"]).unwrap_err();
    assert!(
        matches!(&e, GpuError::MissingSymbol { symbol: "nvrtcCreateProgram", library, .. } if library == "libm.so.6"),
        "{e}"
    );
    let e = GpuDevice::open_with("libm.so.6", NVRTC_LIBRARIES, 0).unwrap_err();
    assert!(
        matches!(
            &e,
            GpuError::MissingSymbol {
                symbol: "cuInit",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn missing_driver_is_named() {
    let e = GpuDevice::open_with("libcuda-absent.so.1", NVRTC_LIBRARIES, 0).unwrap_err();
    assert!(
        matches!(&e, GpuError::DriverMissing { library, .. } if library == "libcuda-absent.so.1")
    );
    assert!(e.to_string().contains("libcuda-absent.so.1"), "{e}");
    // Where discovery finds no driver, neither does the launch path.
    if let Err(CudaError::DriverMissing { .. }) = discover() {
        let e = GpuDevice::open().unwrap_err();
        assert!(
            matches!(&e, GpuError::DriverMissing { library, .. } if library == "libcuda.so.1"),
            "{e}"
        );
    }
}

#[test]
fn compile_options_keep_the_determinism_rules() {
    for o in [
        "--fmad=false",
        "-prec-div=true",
        "-prec-sqrt=true",
        "-ftz=false",
    ] {
        assert!(NVRTC_OPTIONS.contains(&o), "{o} missing");
    }
    assert!(
        !NVRTC_OPTIONS
            .iter()
            .any(|o| o.contains("fast-math") || o.contains("fmad=true"))
    );
}

#[test]
fn stand_in_errors_are_typed() {
    let cuda = mock("libak_mock_cuda.so");
    let fail = mock("libak_mock_nvrtc_fail.so");
    let e = GpuDevice::open_with(&cuda, &[fail.as_str()], 0).unwrap_err();
    match &e {
        GpuError::Compile {
            call: "nvrtcCompileProgram",
            code: 6,
            log,
        } => {
            assert!(log.contains("mock nvrtc refuses to compile"), "{log}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
    assert!(e.to_string().contains("mock nvrtc refuses"), "{e}");
    let e = GpuDevice::open_with(&cuda, &[cuda.as_str()], 1).unwrap_err();
    assert!(
        matches!(
            e,
            GpuError::Driver {
                call: "cuDeviceGet",
                code: 101
            }
        ),
        "{e}"
    );
}

#[test]
fn the_launch_path_on_stand_ins_gives_the_host_builds_logits() {
    let cuda = mock("libak_mock_cuda.so");
    let steps: Vec<Vec<(usize, Vec<u32>)>> = vec![
        vec![(0, (0..9).collect()), (2, vec![5, 6, 7])],
        vec![(2, vec![8]), (0, vec![9]), (1, vec![1, 2, 3, 4, 5])],
        vec![(1, vec![6])],
    ];
    for m in [
        load(&tiny_gemma::tiny_gemma3(3)),
        load(&tiny_arch::tiny(tiny_arch::Family::Qwen2)),
    ] {
        let gpu = GpuDevice::open_with(&cuda, &[cuda.as_str()], 0).unwrap();
        assert_eq!(gpu.arch, "compute_90");
        let mut g = Forward::new(gpu, spec(&m), 3, 32).unwrap();
        // The stand-in is a compute capability 9.0 GPU, so the matmul takes tensor-core tiles
        // from 8 tokens on; the host device answers as one with tensor cores to launch the
        // same (it computes those tiles a row at a time).
        let mut h =
            Forward::new(HostDevice::new().as_if_with_tensor_cores(), spec(&m), 3, 32).unwrap();
        for step in &steps {
            let batch: Vec<(usize, &[u32])> =
                step.iter().map(|(s, t)| (*s, t.as_slice())).collect();
            let (a, b) = (g.step(&batch).unwrap(), h.step(&batch).unwrap());
            assert_eq!(g.trace(), h.trace(), "the same launches in the same order");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(bits(x), bits(y));
            }
        }
    }
}

#[test]
fn decode_steps_reuse_the_device_buffers() {
    let cuda = mock("libak_mock_cuda.so");
    // SAFETY: the stand-in library built from mock_cuda.cpp; the symbol is a plain C function
    // taking nothing and returning a long long.
    let lib = unsafe { libloading::Library::new(&cuda) }.unwrap();
    let allocations = || -> i64 {
        // SAFETY: as above.
        unsafe {
            lib.get::<unsafe extern "C" fn() -> i64>(b"ak_mock_allocations\0")
                .unwrap()()
        }
    };
    let m = load(&tiny_arch::tiny(tiny_arch::Family::Llama3));
    let gpu = GpuDevice::open_with(&cuda, &[cuda.as_str()], 0).unwrap();
    let mut g = Forward::new(gpu, spec(&m), 2, 32).unwrap();
    let mut h = Forward::new(HostDevice::new().as_if_with_tensor_cores(), spec(&m), 2, 32).unwrap();
    let prefill: Vec<u32> = (0..12).collect();
    let first = [(0, prefill.as_slice()), (1, &prefill[..5])];
    assert_eq!(
        bits(&g.step(&first).unwrap()[0]),
        bits(&h.step(&first).unwrap()[0])
    );
    let after_prefill = allocations();
    // Decode steps fit in what the prefill allocated: the per-step inputs are copied into the
    // same allocations (no cuMemAlloc, no cuMemFree that would wait for the GPU), and the
    // logits still equal the host build's.
    for t in 20..26u32 {
        let (a, b) = ([t], [t + 1]);
        let step = [(0, a.as_slice()), (1, b.as_slice())];
        let (a, b) = (g.step(&step).unwrap(), h.step(&step).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(bits(x), bits(y));
        }
    }
    assert_eq!(
        allocations(),
        after_prefill,
        "decode steps allocated device memory"
    );
}

#[test]
fn logits_rows_handed_back_are_refilled_with_the_next_steps_logits() {
    let cuda = mock("libak_mock_cuda.so");
    let m = load(&tiny_arch::tiny(tiny_arch::Family::Llama3));
    let gpu = GpuDevice::open_with(&cuda, &[cuda.as_str()], 0).unwrap();
    let mut g = Forward::new(gpu, spec(&m), 3, 32).unwrap();
    let mut h = Forward::new(HostDevice::new().as_if_with_tensor_cores(), spec(&m), 3, 32).unwrap();
    let prompt: Vec<u32> = (1..7).collect();
    let first = [(0, prompt.as_slice()), (1, &prompt[..2]), (2, &prompt[2..])];
    let (a, b) = (g.step(&first).unwrap(), h.step(&first).unwrap());
    assert_eq!(
        a.iter().map(|r| bits(r)).collect::<Vec<_>>(),
        b.iter().map(|r| bits(r)).collect::<Vec<_>>()
    );
    let mut given: Vec<usize> = a.iter().map(|r| r.as_ptr() as usize).collect();
    g.recycle(a);
    // Each step's rows are the rows the step before handed back, in whatever order, each
    // holding its own sequence's logits (equal to the host build's).
    for t in [9u32, 10] {
        let (x, y, z) = ([t], [t + 1], [t + 2]);
        let step = [(2, x.as_slice()), (0, y.as_slice()), (1, z.as_slice())];
        let (a, b) = (g.step(&step).unwrap(), h.step(&step).unwrap());
        for (r, s) in a.iter().zip(&b) {
            assert_eq!(bits(r), bits(s));
        }
        let mut got: Vec<usize> = a.iter().map(|r| r.as_ptr() as usize).collect();
        got.sort_unstable();
        given.sort_unstable();
        assert_eq!(
            got, given,
            "the rows handed back were refilled, not allocated"
        );
        given = a.iter().map(|r| r.as_ptr() as usize).collect();
        g.recycle(a);
    }
}

#[test]
fn rows_larger_than_a_piece_come_back_whole_through_the_staging_memory() {
    // Rows of 3 MB (wider than a piece of the pipelined read, 2 MB), so that each piece is
    // copied from its own offset of the device buffer into its own offset of the staging
    // memory: every value in its place, every bit (NaN payloads included), and the same
    // through the single copy of read_f32 and for fewer rows than the buffer holds.
    let cuda = mock("libak_mock_cuda.so");
    let mut gpu = GpuDevice::open_with(&cuda, &[cuda.as_str()], 0).unwrap();
    let (rows, width) = (5, (3 << 20) / 4 + 7);
    let values: Vec<f32> = (0..rows * width)
        .map(|i| f32::from_bits((i as u32).wrapping_mul(2_654_435_761) ^ 0x7fc0_0001))
        .collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let id = BufId(0);
    gpu.upload(id, Elem::F32, &bytes).unwrap();
    let want: Vec<Vec<u32>> = values.chunks(width).map(bits).collect();
    let got = gpu.read_f32_rows(id, rows, width).unwrap();
    assert_eq!(got.iter().map(|r| bits(r)).collect::<Vec<_>>(), want);
    gpu.recycle_rows(got);
    let got = gpu.read_f32_rows(id, 3, width).unwrap();
    assert_eq!(got.iter().map(|r| bits(r)).collect::<Vec<_>>(), want[..3]);
    assert_eq!(
        bits(&gpu.read_f32(id, rows * width).unwrap()),
        bits(&values)
    );
    assert!(gpu.read_f32_rows(id, 0, width).unwrap().is_empty());
    // More rows than the buffer holds: refused, not read past its end.
    assert!(gpu.read_f32_rows(id, rows + 1, width).is_err());
}

/// `bash scripts/gpu-check.sh MODE OUT_DIR` with `env` added.
fn gpu_check(
    mode: &str,
    out_dir: &std::path::Path,
    env: &[(&str, &std::path::Path)],
) -> std::process::Output {
    gpu_check_with(&[mode], out_dir, env)
}

/// `bash scripts/gpu-check.sh ARGS... OUT_DIR` with `env` added.
fn gpu_check_with(
    args: &[&str],
    out_dir: &std::path::Path,
    env: &[(&str, &std::path::Path)],
) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::process::Command::new("bash")
        .arg(root.join("scripts/gpu-check.sh"))
        .args(args)
        .arg(out_dir)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running bash scripts/gpu-check.sh {args:?}: {e}"))
}

#[test]
fn the_gpu_check_driver_runs_against_the_cuda_runtime_stand_in() {
    // `scripts/gpu-check.sh --mock`: gpu_check.cu built with g++ against kernels/cuda_mock.h
    // (every runtime call and intrinsic it uses must have a stand-in, or this fails to
    // compile) and run; the forward kernels' __global__ wrappers parsed as C++.
    let out_dir = std::env::temp_dir().join(format!("ak-gpu-check-mock-{}", std::process::id()));
    let out = gpu_check("--mock", &out_dir, &[]);
    let read = |name: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(out_dir.join(name)).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    };
    let (summary, kernels) = (read("summary.json"), read("kernels.json"));
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(
        out.status.success(),
        "gpu-check.sh --mock failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["pass"], true, "{summary}");
    assert_eq!(kernels["bit_identical"], true);
    // The matmul is compared at every tile the driver launches.
    let names: Vec<&str> = kernels["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for tile in ["tile1", "tile3", "tile8"] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("matmul.") && n.ends_with(tile)),
            "no matmul check at {tile}: {names:?}"
        );
    }
}

#[test]
fn the_gpu_check_reports_the_bundles_commit() {
    // On the GPU machine the checkout may be older than the prebuilt bundle that ran: the
    // results name the commit in the bundle's manifest.
    let tmp = std::env::temp_dir().join(format!("ak-gpu-check-commit-{}", std::process::id()));
    let bundle = tmp.join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(
        bundle.join("manifest.txt"),
        "commit feedbeef-dirty\nabc  aikernel\n",
    )
    .unwrap();
    let out = gpu_check_with(
        &["--mock", "--steps", "kernels"],
        &tmp.join("out"),
        &[("AK_GPU_BUNDLE", &bundle)],
    );
    let read = |f: &str| std::fs::read_to_string(tmp.join("out").join(f)).unwrap_or_default();
    let (summary, env) = (read("summary.json"), read("env.json"));
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for json in [summary, env] {
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["commit"], "feedbeef-dirty", "{v}");
    }
}

#[test]
fn the_gpu_check_runs_the_steps_asked_for_and_names_an_unknown_one() {
    // A lease too short for the whole check runs it in two calls (`--steps`): the steps left
    // out say so and do not decide the verdict.
    let tmp = std::env::temp_dir().join(format!("ak-gpu-check-steps-{}", std::process::id()));
    let out = gpu_check_with(&["--mock", "--steps", "kernels"], &tmp.join("a"), &[]);
    let summary = std::fs::read_to_string(tmp.join("a/summary.json")).unwrap_or_default();
    let bad = gpu_check_with(
        &["--mock", "--steps", "kernels,bench,goldn"],
        &tmp.join("b"),
        &[],
    );
    let bad_summary = tmp.join("b/summary.json").exists();
    let empty = gpu_check_with(&["--mock", "--steps", ""], &tmp.join("c"), &[]);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(v["steps"], "kernels", "{v}");
    assert_eq!(v["kernels_bit_identical"], true, "{v}");
    for step in [
        "cargo_test",
        "gpu_forward_golden",
        "gpu_generate",
        "committee",
        "bench",
    ] {
        assert_eq!(v[step], "not run (--steps)", "{step}: {v}");
    }
    assert_eq!(v["pass"], true, "{v}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown step 'goldn'"), "{stderr}");
    assert!(!bad_summary, "a refused step list ran something");
    assert_eq!(
        empty.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );
}

#[test]
fn the_gemma_stage_of_the_gpu_check_names_a_missing_model() {
    // `scripts/gpu-check.sh --gemma` runs after the bundle's Gemma calls; without the file it
    // stops before anything else, naming the path it looked at.
    let tmp = std::env::temp_dir().join(format!("ak-gpu-check-gemma-{}", std::process::id()));
    let out = gpu_check(
        "--gemma",
        &tmp.join("out"),
        &[("AIKERNEL_CACHE", &tmp.join("cache"))],
    );
    let summary = std::fs::read_to_string(tmp.join("out/summary.json")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&tmp);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cache/models/gemma-3-270m-q4_k_m.gguf is missing"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(v["gemma_only"], true, "{v}");
    assert_eq!(v["error"], "no Gemma 3 270M in the model cache", "{v}");
}

/// Kernel launches the stand-in ran on this thread: `(on their own, from CUDA graphs)`.
fn launch_counts(cuda: &str) -> (i64, i64) {
    // SAFETY: the stand-in library built from mock_cuda.cpp; `ak_mock_launch_counts` writes
    // two long longs.
    unsafe {
        let lib = libloading::Library::new(cuda).unwrap();
        let f = lib
            .get::<unsafe extern "C" fn(*mut i64, *mut i64)>(b"ak_mock_launch_counts\0")
            .unwrap();
        let (mut direct, mut graphs) = (0i64, 0i64);
        f(&raw mut direct, &raw mut graphs);
        (direct, graphs)
    }
}

#[test]
fn decode_steps_replay_one_cuda_graph() {
    let cuda = mock("libak_mock_cuda.so");
    let m = load(&tiny_arch::tiny(tiny_arch::Family::Llama3));
    let gpu = GpuDevice::open_with(&cuda, &[cuda.as_str()], 0).unwrap();
    let mut g = Forward::new(gpu, spec(&m), 2, 32).unwrap();
    let mut h = Forward::new(HostDevice::new().as_if_with_tensor_cores(), spec(&m), 2, 32).unwrap();
    let before = launch_counts(&cuda);
    let prefill: Vec<u32> = (0..12).collect();
    let mut steps = vec![vec![(0, prefill.clone()), (1, prefill[..5].to_vec())]];
    // Slot 0 decodes positions 12 to 17: its queries see 13 to 18 positions, so the score
    // rows are 16 apart for four steps and 32 apart for the last two.
    steps.extend((20..26u32).map(|t| vec![(0, vec![t]), (1, vec![t + 1])]));
    let mut kernels = 0;
    for step in &steps {
        let batch: Vec<(usize, &[u32])> = step.iter().map(|(s, t)| (*s, t.as_slice())).collect();
        let (a, b) = (g.step(&batch).unwrap(), h.step(&batch).unwrap());
        assert_eq!(g.trace(), h.trace());
        kernels += g.trace().len() as i64;
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(bits(x), bits(y));
        }
    }
    let stats = g.device().graph_stats().expect("graphs are on by default");
    // One graph a step. The prefill's is instantiated; the first decode step (other token
    // counts) and the first with 32-apart score rows update it in place; the other four
    // replay it without a capture.
    assert_eq!(stats.launches, 7, "{stats:?}");
    assert_eq!(stats.replays, 4, "{stats:?}");
    assert_eq!(stats.captures, 3, "{stats:?}");
    assert_eq!(stats.updates, 2, "{stats:?}");
    assert_eq!(
        (stats.instantiations, stats.refused_updates),
        (1, 0),
        "{stats:?}"
    );
    let after = launch_counts(&cuda);
    assert_eq!(after.0 - before.0, 0, "no kernel launched on its own");
    assert_eq!(after.1 - before.1, kernels, "every launch ran from a graph");
}

/// Three steps of two sequences: both prefill (9 and 3 tokens), then two decode steps in the
/// other slot order.
fn prefill_then_two_decodes() -> Vec<Vec<(usize, Vec<u32>)>> {
    vec![
        vec![(0, (0..9).collect()), (1, vec![5, 6, 7])],
        vec![(1, vec![8]), (0, vec![9])],
        vec![(1, vec![6]), (0, vec![2])],
    ]
}

/// `ak_mock_overlapped()` of the stand-in: programmatic dependent launches on this thread.
fn overlapped(cuda: &str) -> i64 {
    // SAFETY: the stand-in library built from mock_cuda.cpp; a plain C function.
    unsafe {
        let lib = libloading::Library::new(cuda).unwrap();
        lib.get::<unsafe extern "C" fn() -> i64>(b"ak_mock_overlapped\0")
            .unwrap()()
    }
}

/// `ak_mock_refuse_overlap(on)`: this thread's captures refuse programmatic dependent launches.
fn refuse_overlap(cuda: &str, on: bool) {
    // SAFETY: as above.
    unsafe {
        let lib = libloading::Library::new(cuda).unwrap();
        lib.get::<unsafe extern "C" fn(i32)>(b"ak_mock_refuse_overlap\0")
            .unwrap()(i32::from(on));
    }
}

#[test]
fn graph_kernels_overlap_the_one_before_them_with_the_same_logits() {
    // The stand-in is a compute capability 9.0 GPU with cuLaunchKernelEx: turned on, every
    // kernel a graph captures is a programmatic dependent launch (each waits for the one before
    // it first: AK_GRID_WAIT), and the logits are the host build's. Turned off (the default),
    // the same graphs are captured with plain launches.
    let cuda = mock("libak_mock_cuda.so");
    let m = load(&tiny_gemma::tiny_gemma3(3));
    let mut gpu = GpuDevice::open_with(&cuda, &[cuda.as_str()], 0).unwrap();
    assert!(!gpu.overlap(), "off by default");
    gpu.set_overlap(true).unwrap();
    assert!(gpu.overlap());
    let mut g = Forward::new(gpu, spec(&m), 2, 32).unwrap();
    let mut h = Forward::new(HostDevice::new().as_if_with_tensor_cores(), spec(&m), 2, 32).unwrap();
    let steps = prefill_then_two_decodes();
    for (i, step) in steps.iter().enumerate() {
        if i == 2 {
            let stats = g.device().graph_stats().unwrap();
            assert_eq!(stats.overlapped_captures, 2, "{stats:?}");
            assert_eq!(stats.refused_overlaps, 0, "{stats:?}");
            g.device().set_overlap(false).unwrap();
            assert!(!g.device().overlap());
        }
        let before = overlapped(&cuda);
        let batch: Vec<(usize, &[u32])> = step.iter().map(|(s, t)| (*s, t.as_slice())).collect();
        let (a, b) = (g.step(&batch).unwrap(), h.step(&batch).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(bits(x), bits(y), "step {i}");
        }
        let n = g.trace().len() as i64;
        let expect = if i == 2 { 0 } else { n };
        assert_eq!(overlapped(&cuda) - before, expect, "step {i}");
    }
    // Graphs off: kernels launched one by one, never overlapping.
    g.device().set_graphs(false).unwrap();
    assert!(!g.device().overlap());
}

#[test]
fn a_driver_that_refuses_overlap_in_a_capture_gets_plain_launches() {
    // A driver older than programmatic edges in captured graphs: the capture fails, is made
    // again with plain launches, the step gives the host build's logits, and no later capture
    // asks again.
    let cuda = mock("libak_mock_cuda.so");
    let m = load(&tiny_arch::tiny(tiny_arch::Family::Qwen2));
    let mut gpu = GpuDevice::open_with(&cuda, &[cuda.as_str()], 0).unwrap();
    gpu.set_overlap(true).unwrap();
    // After the device holds the library open (its thread-local state lives while loaded).
    refuse_overlap(&cuda, true);
    let mut g = Forward::new(gpu, spec(&m), 1, 32).unwrap();
    let mut h = Forward::new(HostDevice::new().as_if_with_tensor_cores(), spec(&m), 1, 32).unwrap();
    for step in [vec![1u32, 2, 3], vec![4]] {
        let (a, b) = (
            g.step(&[(0, &step)]).unwrap(),
            h.step(&[(0, &step)]).unwrap(),
        );
        assert_eq!(bits(&a[0]), bits(&b[0]));
    }
    refuse_overlap(&cuda, false);
    let stats = g.device().graph_stats().unwrap();
    assert_eq!(
        (stats.refused_overlaps, stats.overlapped_captures),
        (1, 0),
        "{stats:?}"
    );
    assert!(!g.device().overlap());
}

#[test]
fn graphs_off_launch_each_kernel_with_the_same_logits() {
    let cuda = mock("libak_mock_cuda.so");
    let m = load(&tiny_gemma::tiny_gemma3(3));
    let mut gpu = GpuDevice::open_with(&cuda, &[cuda.as_str()], 0).unwrap();
    gpu.set_graphs(false).unwrap();
    assert_eq!(gpu.graph_stats(), None);
    let mut g = Forward::new(gpu, spec(&m), 2, 32).unwrap();
    let mut h = Forward::new(HostDevice::new().as_if_with_tensor_cores(), spec(&m), 2, 32).unwrap();
    let steps = prefill_then_two_decodes();
    for (i, step) in steps.iter().enumerate() {
        if i == 2 {
            // Back on: the next step is captured into a new graph.
            g.device().set_graphs(true).unwrap();
        }
        let before = launch_counts(&cuda);
        let batch: Vec<(usize, &[u32])> = step.iter().map(|(s, t)| (*s, t.as_slice())).collect();
        let (a, b) = (g.step(&batch).unwrap(), h.step(&batch).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(bits(x), bits(y));
        }
        let after = launch_counts(&cuda);
        let n = g.trace().len() as i64;
        let expect = if i == 2 { (0, n) } else { (n, 0) };
        assert_eq!((after.0 - before.0, after.1 - before.1), expect, "step {i}");
    }
    let stats = g.device().graph_stats().unwrap();
    assert_eq!((stats.launches, stats.instantiations), (1, 1), "{stats:?}");
}

#[test]
fn recorded_launches_meet_the_copies_in_order_and_refused_updates_instantiate() {
    use aikernel_cuda::forward::{Arg, BufId, Device, Elem, Kernel, Launch};
    let cuda = mock("libak_mock_cuda.so");
    let mut gpu = GpuDevice::open_with(&cuda, &[cuda.as_str()], 0).unwrap();
    let x = BufId(0);
    let scale = |c: f32| Launch {
        kernel: Kernel::Scale,
        n: 2,
        args: vec![Arg::Buf(x), Arg::F32(c)],
        needs: vec![(x, 2)],
    };
    let f32s = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    gpu.upload(x, Elem::F32, &f32s(&[1.0, 2.0])).unwrap();
    gpu.launch(&scale(2.0)).unwrap();
    assert_eq!(gpu.read_f32(x, 2).unwrap(), [2.0, 4.0]);
    // The launch recorded before the copy runs before it (on the old values), the one after
    // it on the copied values.
    gpu.launch(&scale(2.0)).unwrap();
    gpu.upload(x, Elem::F32, &f32s(&[5.0, 7.0])).unwrap();
    gpu.launch(&scale(3.0)).unwrap();
    assert_eq!(gpu.read_f32(x, 2).unwrap(), [15.0, 21.0]);
    // Two launches where the graph held one: the driver refuses the update, and a new graph
    // is instantiated.
    gpu.launch(&scale(3.0)).unwrap();
    gpu.launch(&scale(3.0)).unwrap();
    assert_eq!(gpu.read_f32(x, 2).unwrap(), [135.0, 189.0]);
    let s = gpu.graph_stats().unwrap();
    assert_eq!(
        (s.launches, s.replays, s.captures, s.updates),
        (4, 1, 3, 1),
        "{s:?}"
    );
    assert_eq!((s.refused_updates, s.instantiations), (1, 2), "{s:?}");
    assert_eq!(s.kernels_captured, 4, "{s:?}");
}

/// `bash scripts/gpu-stage.sh ARGS...`.
fn gpu_stage(args: &[&std::path::Path]) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::process::Command::new("bash")
        .arg(root.join("scripts/gpu-stage.sh"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running bash scripts/gpu-stage.sh: {e}"))
}

#[test]
fn a_pack_arrives_in_parts_and_is_unpacked_only_when_whole_and_intact() {
    // What scripts/gpu-bundle.sh makes (an xz tar split in parts, PACK with the count and the
    // SHA-256 of the whole), received as the GPU machine's calls receive it: one part a call.
    use sha2::Digest;
    let tmp = std::env::temp_dir().join(format!("ak-gpu-stage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let src = tmp.join("src/cache/models");
    std::fs::create_dir_all(&src).unwrap();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(src.join("m.gguf"), &payload).unwrap();
    let whole = tmp.join("pack.tar.xz");
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(tmp.join("src"))
        .arg("-cJf")
        .arg(&whole)
        .arg("cache")
        .status()
        .expect("tar with xz (the bundle's tools)");
    assert!(tar.success());
    let bytes = std::fs::read(&whole).unwrap();
    let sum = hex::encode(sha2::Sha256::digest(&bytes));
    let half = bytes.len() / 2;
    // Each call's folder holds PACK and the part it carries.
    let call = |k: usize, part: Option<&[u8]>, sum: &str| -> std::path::PathBuf {
        let dir = tmp.join(format!("call{k}/smollm2"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("PACK"),
            format!("parts 2\nsha256 {sum}\nbytes {}\n", bytes.len()),
        )
        .unwrap();
        if let Some(p) = part {
            std::fs::write(dir.join(format!("part-{:02}", k % 2)), p).unwrap();
        }
        dir
    };
    let dest = tmp.join("ak");
    let r = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // The last call finds a part missing (the machine was given back in between).
    let first = gpu_stage(&[&call(0, Some(&bytes[..half]), &sum), &dest]);
    assert!(first.status.success(), "{}", r(&first));
    assert!(
        r(&first).contains("1 of 2 parts here; missing: part-01"),
        "{}",
        r(&first)
    );
    let lost = gpu_stage(&[
        std::path::Path::new("--require"),
        &call(3, None, &sum),
        &dest,
    ]);
    assert_eq!(lost.status.code(), Some(3), "{}", r(&lost));
    assert!(!dest.join("cache").exists());

    // A part that changed on the way: refused, nothing unpacked, the parts dropped.
    let mut bad = bytes[half..].to_vec();
    bad[10] ^= 1;
    let corrupt = gpu_stage(&[
        std::path::Path::new("--require"),
        &call(1, Some(&bad), &sum),
        &dest,
    ]);
    assert_eq!(corrupt.status.code(), Some(4), "{}", r(&corrupt));
    assert!(r(&corrupt).contains("SHA-256 differs"), "{}", r(&corrupt));
    assert!(!dest.join("cache").exists());
    assert!(!dest.join("incoming/smollm2").exists());

    // Both parts, intact: unpacked as it was packed.
    let again = gpu_stage(&[&call(4, Some(&bytes[..half]), &sum), &dest]);
    assert!(again.status.success(), "{}", r(&again));
    let done = gpu_stage(&[
        std::path::Path::new("--require"),
        &call(5, Some(&bytes[half..]), &sum),
        &dest,
    ]);
    let unpacked = std::fs::read(dest.join("cache/models/m.gguf")).unwrap_or_default();
    let incoming_left = dest.join("incoming/smollm2").exists();
    // A PACK without its lines is named.
    let dir = tmp.join("call6/smollm2");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("PACK"), "parts two\n").unwrap();
    let malformed = gpu_stage(&[&dir, &dest]);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(done.status.success(), "{}", r(&done));
    assert!(
        r(&done).contains("complete (2 parts, SHA-256 checked)"),
        "{}",
        r(&done)
    );
    assert!(
        unpacked == payload,
        "the unpacked file differs from the packed one"
    );
    assert!(!incoming_left, "the parts stayed in incoming/");
    assert_eq!(malformed.status.code(), Some(2), "{}", r(&malformed));
    assert!(
        r(&malformed).contains("has no 'parts N'"),
        "{}",
        r(&malformed)
    );
}

/// `bash scripts/gpu-profile.sh ARGS...` with `env` added.
fn gpu_profile(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::process::Command::new("bash")
        .arg(root.join("scripts/gpu-profile.sh"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn the_gpu_profile_sums_one_steps_launches_by_kernel() {
    // ncu's raw page as `--csv --print-units base` prints it: a header, a units row, a row per
    // launch (durations in ns, thousands separated).
    let tmp = std::env::temp_dir().join(format!("ak-gpu-profile-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let csv = tmp.join("ncu.csv");
    std::fs::write(
        &csv,
        "\"ID\",\"Process ID\",\"Kernel Name\",\"Grid Size\",\"gpu__time_duration.sum\"\n\
         \"\",\"\",\"\",\"\",\"nsecond\"\n\
         \"0\",\"7\",\"ak_fwd_embed\",\"(1, 1, 1)\",\"4,900\"\n\
         \"1\",\"7\",\"ak_fwd_matmul_mma\",\"(240, 1, 1)\",\"6,000\"\n\
         \"2\",\"7\",\"ak_fwd_norm_quant\",\"(3, 1, 1)\",\"5,000\"\n\
         \"3\",\"7\",\"ak_fwd_matmul_mma\",\"(768, 1, 1)\",\"9,000\"\n",
    )
    .unwrap();
    let json = tmp.join("step.json");
    let out = gpu_profile(
        &[
            "--summarize",
            csv.to_str().unwrap(),
            "m.gguf",
            "32",
            "4",
            json.to_str().unwrap(),
        ],
        &[],
    );
    let step = std::fs::read_to_string(&json).unwrap_or_default();
    std::fs::write(&csv, "no table here\n").unwrap();
    let refused = gpu_profile(
        &[
            "--summarize",
            csv.to_str().unwrap(),
            "m",
            "1",
            "1",
            json.to_str().unwrap(),
        ],
        &[],
    );
    let no_ncu = gpu_profile(
        &[csv.to_str().unwrap(), "32", tmp.to_str().unwrap()],
        &[("NCU", "/nonexistent/ncu")],
    );
    let bad_batch = gpu_profile(&[csv.to_str().unwrap(), "0", tmp.to_str().unwrap()], &[]);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&step).unwrap();
    assert_eq!(v["launches"], 4, "{v}");
    assert_eq!(v["kernel_us"], 24.9, "{v}");
    let first = &v["by_kernel"][0];
    assert_eq!(first["kernel"], "ak_fwd_matmul_mma", "{v}");
    assert_eq!(
        (first["launches"].clone(), first["us"].clone()),
        (2.into(), 15.0.into())
    );
    assert_eq!(v["launches_in_order"][3]["grid"], "(768, 1, 1)", "{v}");
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no ncu table"));
    assert_eq!(no_ncu.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_ncu.stderr).contains("no Nsight Compute"));
    assert_eq!(bad_batch.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_batch.stderr).contains("BATCH"));
}
