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

use aikernel_cuda::forward::{Forward, HostDevice};
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
        let mut h = Forward::new(HostDevice::new(), spec(&m), 3, 32).unwrap();
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
    let mut h = Forward::new(HostDevice::new(), spec(&m), 2, 32).unwrap();
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
fn the_gpu_check_driver_runs_against_the_cuda_runtime_stand_in() {
    // `scripts/gpu-check.sh --mock`: gpu_check.cu built with g++ against kernels/cuda_mock.h
    // (every runtime call and intrinsic it uses must have a stand-in, or this fails to
    // compile) and run; the forward kernels' __global__ wrappers parsed as C++.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out_dir = std::env::temp_dir().join(format!("ak-gpu-check-mock-{}", std::process::id()));
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/gpu-check.sh"))
        .arg("--mock")
        .arg(&out_dir)
        .output()
        .expect("running bash scripts/gpu-check.sh --mock");
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
