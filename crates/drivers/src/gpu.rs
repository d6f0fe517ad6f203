//! The LLM driver's generations on a GPU: the CUDA forward pass on its own thread
//! ([`SlotsWorker`]: a CUDA context belongs to the thread that made it), driven by the
//! engine's sampling loop, so tokens and logits hash are the CPU engine's bit for bit. Scoring
//! (typed answers) and the prefix cache stay on the CPU engine (`docs/engine.md`, "CUDA
//! backend").

use std::sync::Arc;

use aikernel_accel::SlotsWorker;
use aikernel_cuda::gpu::GpuDevice;
use aikernel_engine::{GenerateOptions, Generation, Model, TokenConstraint, generate_on};

use crate::error::DriverError;

/// One slot of the model's whole context on GPU 0.
#[derive(Debug)]
pub(crate) struct GpuGenerator {
    worker: SlotsWorker<GpuDevice>,
    model: Arc<Model>,
}

impl GpuGenerator {
    /// Opens GPU 0 and uploads `model`: the error names what is missing (driver, device,
    /// NVRTC), never a fallback to the CPU.
    pub(crate) fn start(model: Arc<Model>) -> Result<GpuGenerator, DriverError> {
        let capacity = model.config().context_length;
        let worker = SlotsWorker::gpu(Arc::clone(&model), 1, capacity)?;
        Ok(GpuGenerator { worker, model })
    }

    /// `generate` of `tokens` on the GPU, under `constraint` (handed back with the result).
    pub(crate) fn generate<C: TokenConstraint + Send + 'static>(
        &self,
        tokens: Vec<u32>,
        opts: GenerateOptions,
        constraint: C,
    ) -> Result<(Generation, C), DriverError> {
        let model = Arc::clone(&self.model);
        let (g, c) = self.worker.run(move |slots| {
            let mut c = constraint;
            let g = generate_on(&model, slots, &tokens, &opts, Some(&mut c));
            (g, c)
        })?;
        Ok((g?, c))
    }
}
