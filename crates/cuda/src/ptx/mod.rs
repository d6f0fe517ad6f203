//! A PTX interpreter for the forward kernels, so the code NVRTC compiles for the GPU runs, and
//! is compared bit for bit with the engine, on machines without a GPU.
//!
//! [`PtxDevice`] is a [`crate::forward::Device`] that takes the PTX text of
//! [`crate::gpu::Nvrtc::compile`] (the same source and options `GpuDevice` compiles) and runs
//! each launch thread by thread over the grid `GpuDevice` uses, with the semantics the PTX
//! ISA gives each instruction (`exec`). It models only the instructions NVRTC emits for
//! `kernels/ak_forward.cuh` with the determinism options: f32 arithmetic must be `.rn` (no
//! `fma`, `.approx` or `.ftz`, which it refuses to parse), and it has no atomics or warp
//! shuffles, which those kernels do not use. Shared memory and `bar.sync 0` are modelled as
//! the matmul uses them: a block runs in phases (every thread to its next barrier), so a
//! block's threads meet at each barrier; a thread that returns while others wait at one is an
//! error. Each access is bounds-checked; a global byte written by one thread and touched by
//! another in the same launch is an error (whichever runs first: each launch also runs in
//! the mirrored order, `grid`), and so is a shared byte touched by two threads between the
//! same two barriers (one of them writing) or read before any thread wrote it.
//!
//! What it does not cover: `ptxas` (PTX to machine code, done by the driver on a GPU) and
//! the hardware. For `.rn` operations the PTX ISA fixes the result bits, so those steps may
//! not change them, but only a GPU run (`scripts/gpu-check.sh`) shows that they do not.

mod device;
mod exec;
mod grid;
mod lower;
mod memory;
mod parse;
mod timing;
mod unwritten;

pub use device::{KernelCost, PtxDevice};
pub use timing::{GpuModel, LaunchTime};

/// Why PTX could not be parsed or a launch failed.
#[derive(Debug, thiserror::Error)]
pub enum PtxError {
    /// An instruction or directive outside the modelled subset, or malformed text.
    #[error("PTX line {line}: unsupported {what}")]
    Unsupported {
        /// 1-based line in the PTX text.
        line: usize,
        /// What was found.
        what: String,
    },
    /// A forward kernel is not an entry of the module.
    #[error("the PTX module has no entry {0}")]
    MissingEntry(String),
    /// A launch's arguments do not match the entry's parameters.
    #[error("{kernel}: the launch passes {launch}, the entry takes {entry}")]
    Signature {
        /// The kernel.
        kernel: &'static str,
        /// The launch's arguments.
        launch: String,
        /// The entry's parameter types.
        entry: String,
    },
    /// A thread went wrong: out of bounds, a race with another thread, division by zero, a
    /// loop that does not end.
    #[error("{kernel}, thread {thread}, PTX line {line}: {what}")]
    Fault {
        /// The kernel.
        kernel: &'static str,
        /// The thread's global index.
        thread: u64,
        /// The instruction's line in the PTX text.
        line: u32,
        /// What happened.
        what: String,
    },
}
