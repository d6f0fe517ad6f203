//! The GPU launch path: NVRTC and the driver API loaded at run time, the kernel sources
//! compiled with the determinism options, and [`crate::forward::Device`] on a GPU.
//! Never run on a GPU yet (docs/engine.md, "CUDA backend").

mod error;

pub use error::GpuError;
