//! The foundation of aikernel's CUDA backend.
//!
//! - [`host`]: the GPU kernels' arithmetic (CUDA C++ under `kernels/`, one thread per output,
//!   every reduction sequential) compiled for the host, so `cargo test` proves it bit-identical
//!   to the engine's scalar reference on machines without a GPU.
//! - [`device`]: driver discovery by loading `libcuda.so.1` at run time, so the workspace builds
//!   and runs everywhere and a missing driver or device is a typed error.
//!
//! - [`forward`]: the whole forward pass as a sequence of kernel launches over a batch of
//!   sequences with their own binary16 KV caches, run by a [`forward::Device`]: on the host
//!   build ([`forward::HostDevice`], proven bit-identical to the engine's forward in the tests),
//!   or on a GPU ([`gpu::GpuDevice`]).
//! - [`gpu`]: the launch path: NVRTC and the driver loaded at run time, the kernels compiled
//!   with the determinism options, buffers and launches. It has never run on a GPU; the
//!   engine's `--kernel cuda` does not use it yet (docs/engine.md, "CUDA backend").
// Only the FFI modules (`host`, `device`, `forward::host_device`, `gpu::{nvrtc, driver,
// device}`) may use `unsafe`, each call with a SAFETY comment.
#![deny(unsafe_code)]

pub mod device;
pub mod forward;
pub mod gpu;
pub mod host;

pub use device::{CudaError, DeviceInfo, discover, discover_with};
pub use host::ShapeError;

/// Why the CUDA kernel cannot run in this process, for front ends that are asked for it
/// (`--kernel cuda`, `device = "cuda"`): the discovery error naming what is missing (driver
/// library, initialisation, device), or, where a GPU is found, that this build has no CUDA
/// forward pass yet. Never a silent fallback to another kernel.
pub fn kernel_unavailable() -> String {
    match discover() {
        Err(e) => format!("the cuda kernel cannot run here: {e}"),
        Ok(devices) => {
            let names: Vec<String> = devices
                .iter()
                .map(|d| format!("{} ({} MiB)", d.name, d.total_memory >> 20))
                .collect();
            format!(
                "the cuda kernel cannot run yet: found {}, but the engine does not drive the \
                 CUDA forward pass yet, and it has never been checked on a GPU (docs/engine.md, \
                 \"CUDA backend\")",
                names.join(", ")
            )
        }
    }
}

/// The kernel sources, as nvcc or NVRTC compile them (the `.cuh` files are self-contained
/// headers; `ak_kernels.cuh` includes the rest).
pub const KERNEL_SOURCES: &[(&str, &str)] = &[
    ("ak_prelude.cuh", include_str!("../kernels/ak_prelude.cuh")),
    ("ak_math.cuh", include_str!("../kernels/ak_math.cuh")),
    ("ak_quant.cuh", include_str!("../kernels/ak_quant.cuh")),
    ("ak_ops.cuh", include_str!("../kernels/ak_ops.cuh")),
    (
        "ak_attention.cuh",
        include_str!("../kernels/ak_attention.cuh"),
    ),
    ("ak_kernels.cuh", include_str!("../kernels/ak_kernels.cuh")),
    ("ak_dequant.cuh", include_str!("../kernels/ak_dequant.cuh")),
    ("ak_forward.cuh", include_str!("../kernels/ak_forward.cuh")),
];
