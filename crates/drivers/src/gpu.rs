//! The LLM driver's generations on a GPU: the CUDA forward pass on its own thread
//! ([`SlotsWorker`]: a CUDA context belongs to the thread that made it), driven by the
//! engine's sampling loop, so tokens and logits hash are the CPU engine's bit for bit. Scoring
//! (typed answers) and the prefix cache stay on the CPU engine (`docs/engine.md`, "CUDA
//! backend").

use std::sync::Arc;

use aikernel_accel::{AccelError, SlotsWorker};
use aikernel_cuda::gpu::GpuDevice;
use aikernel_engine::{
    GenerateOptions, Generation, Model, TokenConstraint, generate_batch_constrained_on, generate_on,
};

use crate::error::DriverError;

/// Slots of the model's whole context on GPU 0 (one per sequence a batch decodes together).
#[derive(Debug)]
pub(crate) struct GpuGenerator {
    worker: SlotsWorker<GpuDevice>,
    model: Arc<Model>,
    slots: usize,
}

impl GpuGenerator {
    /// Opens GPU 0 and uploads `model`: the error names what is missing (driver, device,
    /// NVRTC), never a fallback to the CPU.
    /// `slots` (at least 1) sequences decode together. A GPU without room for that many
    /// slots of the whole context gets half as many, down to one (logged): the number never
    /// changes an output, only how many generations share a step.
    pub(crate) fn start(model: Arc<Model>, slots: usize) -> Result<GpuGenerator, DriverError> {
        let capacity = model.config().context_length;
        let mut slots = slots.max(1);
        loop {
            match SlotsWorker::gpu(Arc::clone(&model), slots, capacity) {
                Ok(worker) => {
                    return Ok(GpuGenerator {
                        worker,
                        model,
                        slots,
                    });
                }
                // No driver or device: halving cannot help.
                Err(e @ AccelError::Unavailable(_)) => return Err(e.into()),
                Err(e) if slots > 1 => {
                    tracing::warn!(slots, capacity, error = %e, "the GPU cannot open this many slots; trying half as many");
                    slots /= 2;
                }
                Err(e) => return Err(e.into()),
            }
        }
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

    /// `generate` of each request under its constraint (handed back with the results, in
    /// order), the live sequences decoding together, as many at once as there are slots.
    pub(crate) fn generate_batch<C: TokenConstraint + Send + 'static>(
        &self,
        requests: &[(Vec<u32>, GenerateOptions)],
        constraints: Vec<C>,
    ) -> Result<(Vec<Generation>, Vec<C>), DriverError> {
        let mut generations = Vec::with_capacity(requests.len());
        let mut done = Vec::with_capacity(constraints.len());
        let mut constraints = constraints.into_iter();
        for chunk in requests.chunks(self.slots) {
            let chunk = chunk.to_vec();
            let cs: Vec<C> = constraints.by_ref().take(chunk.len()).collect();
            let model = Arc::clone(&self.model);
            let (g, cs) = self.worker.run(move |slots| {
                let mut cs = cs;
                let mut dyns: Vec<Option<&mut dyn TokenConstraint>> = cs
                    .iter_mut()
                    .map(|c| Some(c as &mut dyn TokenConstraint))
                    .collect();
                let g = generate_batch_constrained_on(&model, slots, &chunk, &mut dyns);
                drop(dyns);
                (g, cs)
            })?;
            generations.extend(g?);
            done.extend(cs);
        }
        Ok((generations, done))
    }
}
