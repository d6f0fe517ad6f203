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
//!   with the determinism options, buffers and launches; bit-identical to the engine on an
//!   H200 (docs/engine.md, "CUDA backend"). The front ends (`--kernel cuda`, `device = "cuda"`)
//!   reach it through `aikernel-accel`, which joins it to the engine's sampling loop.
//! - [`ptx`]: an interpreter of the PTX that NVRTC compiles, as a [`forward::Device`], so the
//!   GPU's code runs against the engine bit for bit on machines without a GPU.
// Only the FFI modules (`host`, `device`, `forward::host_device`, `gpu::{nvrtc, driver,
// device}`) may use `unsafe`, each call with a SAFETY comment.
#![deny(unsafe_code)]

pub mod device;
pub mod forward;
pub mod gpu;
pub mod host;
pub mod ptx;

pub use device::{CudaError, DeviceInfo, discover, discover_with};
pub use host::ShapeError;

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
