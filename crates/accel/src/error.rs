//! What can fail when the engine runs on an accelerator.

use aikernel_cuda::CudaError;
use aikernel_cuda::forward::ForwardError;
use aikernel_cuda::gpu::GpuError;
use aikernel_engine::EngineError;

/// Why a generation on the CUDA forward pass failed or could not start.
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    /// No usable driver or device: what is missing (`libcuda.so.1`, initialisation, a device).
    #[error("the cuda kernel cannot run here: {0}")]
    Unavailable(#[from] CudaError),
    /// A GPU was found but the launch path could not start (NVRTC, compile, context).
    #[error("the cuda kernel cannot start: {0}")]
    Start(#[from] GpuError),
    /// A forward step failed (a launch, or a step the session cannot hold).
    #[error("cuda forward pass: {0}")]
    Forward(#[from] ForwardError),
    /// The engine refused the request (empty prompt, too long...).
    #[error(transparent)]
    Engine(#[from] EngineError),
}
