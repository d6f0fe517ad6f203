//! [`DeviceSlots`]: the CUDA forward pass ([`Forward`]) as the engine's [`Slots`], so the
//! engine's own sampling loop (`generate_on`, `generate_batch_on`) decodes on it.

use aikernel_cuda::forward::{Device, Forward, HostDevice};
use aikernel_cuda::gpu::GpuDevice;
use aikernel_engine::{Model, Slots};

use crate::error::AccelError;
use crate::spec::model_spec;

/// A model's weights and `slots` binary16 KV caches on a [`Device`].
#[derive(Debug)]
pub struct DeviceSlots<D: Device> {
    fwd: Forward<'static, D>,
}

impl<D: Device> DeviceSlots<D> {
    /// Uploads `model`'s weights to `device` and allocates `slots` caches of `capacity`
    /// positions each (see [`positions_needed`]).
    pub fn new(
        model: &Model,
        device: D,
        slots: usize,
        capacity: usize,
    ) -> Result<DeviceSlots<D>, AccelError> {
        let fwd = Forward::new(device, model_spec(model), slots, capacity)?.into_owned();
        Ok(DeviceSlots { fwd })
    }

    /// Positions each slot holds.
    pub fn capacity(&self) -> usize {
        self.fwd.capacity()
    }

    /// The forward session (its device, the last step's launches).
    pub fn forward(&mut self) -> &mut Forward<'static, D> {
        &mut self.fwd
    }
}

impl DeviceSlots<GpuDevice> {
    /// GPU 0: discovery first, so a machine without the driver or a device gets the error
    /// naming what is missing, then NVRTC, the kernels' compile and the weights' upload.
    /// Never falls back to the CPU.
    pub fn gpu(
        model: &Model,
        slots: usize,
        capacity: usize,
    ) -> Result<DeviceSlots<GpuDevice>, AccelError> {
        let devices = aikernel_cuda::discover()?;
        let dev = GpuDevice::open()?;
        if let Some(d) = devices.first() {
            tracing::info!(
                gpu = %d.name,
                memory_mib = d.total_memory >> 20,
                arch = %dev.arch,
                nvrtc = %dev.nvrtc,
                slots,
                capacity,
                "cuda forward pass"
            );
        }
        DeviceSlots::new(model, dev, slots, capacity)
    }
}

impl DeviceSlots<HostDevice> {
    /// The host build of the same kernels (what the tests compare with the engine).
    pub fn host(
        model: &Model,
        slots: usize,
        capacity: usize,
    ) -> Result<DeviceSlots<HostDevice>, AccelError> {
        DeviceSlots::new(model, HostDevice::new(), slots, capacity)
    }
}

impl<D: Device> Slots for DeviceSlots<D> {
    type Error = AccelError;

    fn slots(&self) -> usize {
        self.fwd.slots()
    }

    fn len(&self, slot: usize) -> usize {
        self.fwd.len(slot)
    }

    fn reset(&mut self, slot: usize) {
        self.fwd.reset(slot);
    }

    fn step(&mut self, seqs: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, AccelError> {
        Ok(self.fwd.step(seqs)?)
    }

    fn recycle(&mut self, rows: Vec<Vec<f32>>) {
        self.fwd.recycle(rows);
    }
}

/// Cache positions a request can fill: its prompt and generated tokens, at most the model's
/// context (the last generated token is never fed back, so this is an upper bound).
pub fn positions_needed(model: &Model, prompt_len: usize, max_tokens: u32) -> usize {
    prompt_len
        .saturating_add(max_tokens as usize)
        .min(model.config().context_length)
        .max(1)
}
