//! A first-order model of how long each interpreted launch would take on a GPU, for choosing
//! what to speed up on machines without one. It is an estimate from round figures, not a
//! measurement: only `aikernel model bench --kernel cuda` on a GPU measures (docs/engine.md).
//!
//! Each thread's instructions are timed as an in-order pipeline: an instruction issues one
//! cycle after the thread's previous one, or later when a register it reads (its guard,
//! operands and address included) is not ready yet, and its result is ready [`latency`]
//! cycles after it issues. A barrier releases the block's threads [`BARRIER`] cycles after the
//! last one reaches it. A launch then takes the longest of three bounds ([`LaunchTime`]):
//! - latency: its longest block's cycles, once per wave of blocks the GPU holds at a time;
//! - issue: its warp instructions (a warp issues what its busiest lane executes) spread over
//!   every SM's schedulers;
//! - memory: the distinct global bytes it reads and writes at the memory's bandwidth.
//!
//! What it leaves out: caches (every global load waits [`GLOBAL_LOAD`] cycles, every byte
//! moves at the memory's bandwidth once a launch), contention between warps for an SM's
//! pipelines beyond the issue bound, the registers ptxas allocates (which may hold fewer
//! blocks an SM than [`GpuModel::blocks_per_sm`]) and the gap between two launches, which a
//! CUDA graph shortens but does not remove.

use super::parse::{Op, Ty};

/// Cycles a global load takes to return: between an L2 hit (about 260 cycles on Hopper in
/// published microbenchmarks) and device memory (about 500 and more).
pub(crate) const GLOBAL_LOAD: u32 = 400;
/// Cycles a shared-memory load takes to return.
pub(crate) const SHARED_LOAD: u32 = 30;
/// Cycles from a warp's `mma` (integer, m16n8k32) issuing to its results: the tensor cores'
/// latency, about 30 cycles on Ampere and Hopper in published microbenchmarks.
pub(crate) const MMA: u32 = 32;
/// Cycles from the last thread reaching a barrier to the block going on.
pub(crate) const BARRIER: u64 = 20;

/// Cycles from an instruction's issue until its result can be read. Division and square root
/// are single PTX instructions that ptxas expands into a sequence (a reciprocal estimate,
/// refinement, the correctly rounded fix-up); 64-bit integer division is longer still.
pub(crate) fn latency(op: Op) -> u32 {
    match op {
        Op::LdGlobal(_) => GLOBAL_LOAD,
        Op::LdShared(_) => SHARED_LOAD,
        Op::Div(Ty::F32) | Op::Sqrt => 40,
        Op::Div(ty) | Op::Rem(ty) if ty.bits() > 32 => 80,
        Op::Div(_) | Op::Rem(_) => 40,
        Op::Cvt { .. } | Op::CvtF32F16 => 6,
        Op::MmaS8 => MMA,
        _ => 4,
    }
}

/// The figures of a GPU the model needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuModel {
    /// What it models, for reports.
    pub name: &'static str,
    /// Streaming multiprocessors.
    pub sms: u32,
    /// Blocks of 256 threads an SM holds at once (2048 threads an SM on Hopper: an upper
    /// bound, as registers and shared memory may allow fewer).
    pub blocks_per_sm: u32,
    /// Warp instructions an SM issues a cycle (one per scheduler).
    pub warp_issue_per_sm: u32,
    /// Clock, in GHz.
    pub clock_ghz: f64,
    /// Memory bandwidth, in 10^9 bytes a second.
    pub bandwidth_gb_s: f64,
}

impl GpuModel {
    /// An NVIDIA H200 (SXM): 132 SMs at up to 1.98 GHz, 4.8 TB/s of HBM3e.
    pub const H200: GpuModel = GpuModel {
        name: "H200",
        sms: 132,
        blocks_per_sm: 8,
        warp_issue_per_sm: 4,
        clock_ghz: 1.98,
        bandwidth_gb_s: 4800.0,
    };

    /// The bounds of one launch of `blocks` blocks whose longest block took `block_cycles`,
    /// which issued `warp_instructions` and moved `bytes` distinct global bytes.
    pub(crate) fn launch(
        &self,
        blocks: u64,
        block_cycles: u64,
        warp_instructions: u64,
        bytes: u64,
    ) -> LaunchTime {
        let resident = u64::from(self.sms) * u64::from(self.blocks_per_sm);
        let issue_per_cycle = u64::from(self.sms) * u64::from(self.warp_issue_per_sm);
        let bytes_per_cycle = self.bandwidth_gb_s / self.clock_ghz;
        LaunchTime {
            latency: block_cycles * blocks.div_ceil(resident.max(1)),
            issue: warp_instructions.div_ceil(issue_per_cycle.max(1)),
            memory: (bytes as f64 / bytes_per_cycle).ceil() as u64,
        }
    }

    /// `cycles` in microseconds at this GPU's clock.
    pub fn micros(&self, cycles: u64) -> f64 {
        cycles as f64 / (self.clock_ghz * 1e3)
    }
}

/// The three bounds of a launch's time, in cycles (summed over launches in
/// [`super::KernelCost`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaunchTime {
    /// The longest block's cycles, once per wave of resident blocks.
    pub latency: u64,
    /// Warp instructions over every SM's schedulers.
    pub issue: u64,
    /// Distinct global bytes at the memory's bandwidth.
    pub memory: u64,
}

impl LaunchTime {
    /// The estimate: the longest of the three bounds.
    pub fn cycles(&self) -> u64 {
        self.latency.max(self.issue).max(self.memory)
    }
}

#[cfg(test)]
mod tests {
    use super::{GpuModel, LaunchTime, latency};
    use crate::ptx::parse::{Op, Ty};

    #[test]
    fn a_launch_takes_its_longest_bound() {
        let m = GpuModel::H200;
        // One wave of 1056 blocks; a second wave doubles the latency bound.
        let one = m.launch(1056, 1000, 528, 0);
        assert_eq!(
            one,
            LaunchTime {
                latency: 1000,
                issue: 1,
                memory: 0
            }
        );
        assert_eq!(m.launch(1057, 1000, 0, 0).latency, 2000);
        // 528 warp instructions a cycle over the GPU; 4.8e12 / 1.98e9 bytes a cycle.
        assert_eq!(m.launch(1, 0, 528_000, 0).issue, 1000);
        let t = m.launch(1, 10, 0, 4_848_484);
        assert_eq!(t.memory, 2000);
        assert_eq!(t.cycles(), 2000);
        assert!((m.micros(1980) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn loads_and_expanded_operations_take_longer_than_arithmetic() {
        assert_eq!(latency(Op::Add(Ty::F32)), 4);
        assert!(latency(Op::LdGlobal(Ty::U32)) > latency(Op::LdShared(Ty::U32)));
        assert!(latency(Op::Div(Ty::S64)) > latency(Op::Div(Ty::S32)));
        assert!(latency(Op::Sqrt) > latency(Op::MulLo(Ty::F32)));
    }
}
