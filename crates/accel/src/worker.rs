//! [`SlotsWorker`]: one thread that owns a [`DeviceSlots`] and runs jobs on it in order. A
//! CUDA context is current on the thread that made it, and the device's handles are not
//! `Send`, so a server (the node's driver, shared across tasks) hands its generations to this
//! thread instead of sharing the device.

use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};

use aikernel_cuda::forward::Device;
use aikernel_cuda::gpu::GpuDevice;
use aikernel_engine::{EngineError, Model};

use crate::error::AccelError;
use crate::slots::DeviceSlots;

type Job<D> = Box<dyn FnOnce(&mut DeviceSlots<D>) + Send>;

/// A thread owning slots on a device; jobs run one at a time, in the order sent.
#[derive(Debug)]
pub struct SlotsWorker<D: Device> {
    jobs: Sender<Job<D>>,
}

fn gone() -> AccelError {
    EngineError::BadInput("the device worker thread has stopped".into()).into()
}

impl<D: Device + 'static> SlotsWorker<D> {
    /// Starts the thread and builds the slots there with `open` (its error is returned here).
    pub fn start(
        name: &str,
        model: Arc<Model>,
        open: impl FnOnce(&Model) -> Result<DeviceSlots<D>, AccelError> + Send + 'static,
    ) -> Result<SlotsWorker<D>, AccelError> {
        let (jobs, rx) = channel::<Job<D>>();
        let (ready, opened) = channel::<Result<(), AccelError>>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut slots = match open(&model) {
                    Ok(s) => {
                        let _ = ready.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                drop(model);
                for job in rx {
                    job(&mut slots);
                }
            })
            .map_err(|e| EngineError::BadInput(format!("starting the device thread: {e}")))?;
        opened.recv().map_err(|_| gone())??;
        Ok(SlotsWorker { jobs })
    }

    /// Runs `job` on the thread's slots after every earlier job, and returns its result.
    pub fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut DeviceSlots<D>) -> R + Send + 'static,
    ) -> Result<R, AccelError> {
        let (tx, rx) = channel();
        self.jobs
            .send(Box::new(move |s: &mut DeviceSlots<D>| {
                let _ = tx.send(job(s));
            }))
            .map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())
    }
}

impl SlotsWorker<GpuDevice> {
    /// GPU 0 with `slots` slots of `capacity` positions ([`DeviceSlots::gpu`]), on its thread.
    pub fn gpu(
        model: Arc<Model>,
        slots: usize,
        capacity: usize,
    ) -> Result<SlotsWorker<GpuDevice>, AccelError> {
        SlotsWorker::start("cuda", model, move |m| DeviceSlots::gpu(m, slots, capacity))
    }
}
