//! The GPU launch path: NVRTC and the driver API loaded at run time (nothing links against
//! CUDA), the kernel sources compiled with the determinism options ([`NVRTC_OPTIONS`]), and
//! [`GpuDevice`], the forward pass's [`crate::forward::Device`] on a GPU: the same launches,
//! in the same order, as the host build that `cargo test` proves bit-identical to the engine.
//! Run on an H200: every golden request's logits equal the CPU's (docs/engine.md, "CUDA
//! backend").

mod device;
mod driver;
mod error;
mod graph;
mod nvrtc;

pub use device::GpuDevice;
pub use error::GpuError;
pub use graph::GraphStats;
pub use nvrtc::{MAIN_SOURCE, NVRTC_LIBRARIES, NVRTC_OPTIONS, Nvrtc};
