//! The LLM driver's generations on a GPU: the CUDA forward pass on its own thread
//! ([`SlotsWorker`]: a CUDA context belongs to the thread that made it), driven by the
//! engine's sampling loop, so tokens and logits hash are the CPU engine's bit for bit. Scoring
//! (typed answers) and the prefix cache stay on the CPU engine (`docs/engine.md`, "CUDA
//! backend").

use std::sync::Arc;

use aikernel_accel::{AccelError, DeviceSlots, SlotsWorker};
use aikernel_cuda::forward::HostDevice;
use aikernel_cuda::gpu::GpuDevice;
use aikernel_engine::{
    GenerateOptions, Generation, Model, TokenConstraint, generate_batch_constrained_on, generate_on,
};

use crate::error::DriverError;

/// The thread that owns the slots: on GPU 0, or on the host build of the same kernels
/// standing in for it ([`GpuGenerator::start_stand_in`]).
#[derive(Debug)]
enum Worker {
    Gpu(SlotsWorker<GpuDevice>),
    StandIn(SlotsWorker<HostDevice>),
}

/// Runs the closure `$job` (written once, compiled for either device) on `$worker`'s slots.
macro_rules! on_worker {
    ($worker:expr, $job:expr) => {
        match $worker {
            Worker::Gpu(w) => w.run($job),
            Worker::StandIn(w) => w.run($job),
        }
    };
}

/// Slots of the model's whole context on GPU 0 (one per sequence a batch decodes together).
#[derive(Debug)]
pub(crate) struct GpuGenerator {
    worker: Worker,
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
                        worker: Worker::Gpu(worker),
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

    /// The GPU path with the host build of the CUDA kernels standing in for GPU 0: the same
    /// launch sequence, slots and sampling loop on the CPU, far slower. For tests of a GPU
    /// node's path on machines without a GPU; an operator's node never uses it.
    pub(crate) fn start_stand_in(
        model: Arc<Model>,
        slots: usize,
    ) -> Result<GpuGenerator, DriverError> {
        let capacity = model.config().context_length;
        let slots = slots.max(1);
        let worker = SlotsWorker::start("cuda-stand-in", Arc::clone(&model), move |m| {
            DeviceSlots::host(m, slots, capacity)
        })?;
        Ok(GpuGenerator {
            worker: Worker::StandIn(worker),
            model,
            slots,
        })
    }

    /// Runs each forward step's launches as one CUDA graph (`on`, the default: replayed
    /// while decode steps repeat the same launches) or launches each kernel on its own. Never
    /// changes an output. The host build standing in for the GPU has no graphs: a no-op there.
    pub(crate) fn set_cuda_graphs(&self, on: bool) -> Result<(), DriverError> {
        match &self.worker {
            Worker::Gpu(w) => {
                w.run(move |slots| slots.forward().device().set_graphs(on))?
                    .map_err(AccelError::from)?;
            }
            Worker::StandIn(_) => {}
        }
        Ok(())
    }

    /// Whether the host build stands in for the GPU.
    pub(crate) fn is_stand_in(&self) -> bool {
        matches!(self.worker, Worker::StandIn(_))
    }

    /// `generate` of `tokens` on the GPU, under `constraint` (handed back with the result).
    pub(crate) fn generate<C: TokenConstraint + Send + 'static>(
        &self,
        tokens: Vec<u32>,
        opts: GenerateOptions,
        constraint: C,
    ) -> Result<(Generation, C), DriverError> {
        let model = Arc::clone(&self.model);
        let (g, c) = on_worker!(&self.worker, move |slots| {
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
            let (g, cs) = on_worker!(&self.worker, move |slots| {
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
