//! The engine on accelerators: joins the engine (`aikernel-engine`) and the CUDA backend
//! (`aikernel-cuda`, which must not depend on the engine).
//!
//! - [`model_spec`]: the engine's model as the CUDA forward pass's spec.
//! - [`DeviceSlots`]: the CUDA forward pass as the engine's [`aikernel_engine::Slots`], so the
//!   engine's sampling loop (`aikernel_engine::generate_on`, `generate_batch_on`) decodes on a
//!   GPU ([`DeviceSlots::gpu`]) or on the host build of the same kernels
//!   ([`DeviceSlots::host`]) with the same sampling, stops and logits hash as the CPU engine.
//! - [`SlotsWorker`]: a thread owning the slots (a CUDA context belongs to one thread), for
//!   servers that share a driver across tasks.
//! - [`bench_device`]: its prompt, one-stream and aggregate decode throughput;
//!   [`aggregate_decode`] the same aggregate on any `Slots` (the CPU's); [`loop_decode`]
//!   the aggregate through the engine's sampling loop (hashing and sampling included).
#![forbid(unsafe_code)]

mod bench;
mod error;
mod slots;
mod spec;
mod worker;

pub use bench::{
    DeviceBench, LOOP_PROMPT, LoopBench, aggregate_decode, bench_device, bench_shape,
    decode_read_bytes_per_s, loop_decode,
};
pub use error::AccelError;
pub use slots::{DeviceSlots, positions_needed};
pub use spec::model_spec;
pub use worker::SlotsWorker;
