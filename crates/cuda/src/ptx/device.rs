//! [`PtxDevice`]: the forward pass's [`Device`] that runs the PTX NVRTC compiled, thread by
//! thread, over buffers in host memory, with the grid `GpuDevice` launches (256-thread
//! blocks, one thread per output; `grid`), every access checked (`memory`).

use std::collections::HashMap;

use super::PtxError;
use super::grid::Grid;
use super::lower::Program;
use super::memory::{ADDR_SHIFT, BLOCK, Buf};
use super::parse::{self, Ty};
use super::timing::{GpuModel, LaunchTime};
use crate::forward::{Arg, BufId, Device, Elem, ForwardError, Kernel, Launch, check};

/// What the launches of one kernel cost: in PTX instructions (work, not time: a proxy that
/// does not depend on the machine), and in the cycles the timing model
/// ([`GpuModel`], `timing`) estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCost {
    /// Launches.
    pub launches: u64,
    /// Instructions over every thread (the work).
    pub executed: u64,
    /// The longest thread's instructions, summed over the launches: the serial depth, what a
    /// GPU with a thread for every output still runs one after another.
    pub depth: u64,
    /// Each bound of the timing model, summed over the launches (zero where the device had no
    /// model, [`PtxDevice::set_model`]).
    pub bounds: LaunchTime,
    /// The model's estimate: each launch's longest bound, summed (launch gaps not counted).
    pub cycles: u64,
}

/// The kernels of a PTX module run by interpretation.
#[derive(Debug)]
pub struct PtxDevice {
    entries: HashMap<String, Program>,
    bufs: Vec<Option<Buf>>,
    executed: u64,
    launches: u64,
    costs: HashMap<&'static str, KernelCost>,
    /// Threads a launch's blocks may be shared among.
    workers: usize,
    /// Whether each launch also runs in the mirrored order, to find reads of bytes another
    /// thread writes later.
    both_orders: bool,
    /// The GPU the timing model estimates for.
    model: Option<GpuModel>,
}

impl PtxDevice {
    /// Parses `ptx` (the text NVRTC returns; a trailing NUL is ignored). Every forward kernel
    /// must be an entry of it, and every instruction one this interpreter models.
    pub fn new(ptx: &str) -> Result<PtxDevice, PtxError> {
        let entries = parse::parse_module(ptx.trim_end_matches('\0'))?
            .into_iter()
            .map(|e| Ok((e.name.clone(), Program::lower(&e)?)))
            .collect::<Result<HashMap<String, Program>, PtxError>>()?;
        for k in Kernel::ALL {
            if !entries.contains_key(k.name()) {
                return Err(PtxError::MissingEntry(k.name().to_owned()));
            }
        }
        Ok(PtxDevice {
            entries,
            bufs: Vec::new(),
            executed: 0,
            launches: 0,
            costs: HashMap::new(),
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            both_orders: true,
            model: None,
        })
    }

    /// Shares each launch's blocks among up to `workers` threads (at least one; by default
    /// one per core). The results, costs and errors are the same for every number: a launch
    /// whose workers touch each other's writes, or where one faults, runs again on one thread.
    pub fn set_workers(&mut self, workers: usize) {
        self.workers = workers.max(1);
    }

    /// Whether each launch runs a second time, in the mirrored order (blocks last first, each
    /// phase's threads first first), from the same buffers with its writes dropped (on by
    /// default). The usual order sees a race only when the writer runs first; between the two
    /// orders every two threads meet both ways, so a byte one thread reads and another writes
    /// without a barrier between them is an error whichever runs first. Off, a launch costs
    /// half the time and such a read goes unseen when the reader runs first. The costs
    /// ([`PtxDevice::costs`]) count the usual order's run only.
    pub fn set_both_orders(&mut self, on: bool) {
        self.both_orders = on;
    }

    /// Times every thread by the timing model for `model` from the next launch on
    /// ([`KernelCost::bounds`], [`KernelCost::cycles`]), or stops with `None` (the default:
    /// timing makes a launch's interpretation about half as slow again).
    pub fn set_model(&mut self, model: Option<GpuModel>) {
        self.model = model;
    }

    /// The GPU the costs' cycles are estimated for, if they are.
    pub fn model(&self) -> Option<GpuModel> {
        self.model
    }

    /// The timing model's cycles for everything launched so far ([`KernelCost::cycles`]
    /// summed; launch gaps not counted).
    pub fn cycles(&self) -> u64 {
        self.costs.values().map(|c| c.cycles).sum()
    }

    /// Forgets the costs so far (the buffers stay), to cost one step on its own.
    pub fn clear_costs(&mut self) {
        self.costs.clear();
    }

    /// PTX instructions executed so far, over every thread.
    pub fn executed(&self) -> u64 {
        self.executed
    }

    /// Launches run so far.
    pub fn launches(&self) -> u64 {
        self.launches
    }

    /// The cost of each kernel launched so far, by name, most instructions first.
    pub fn costs(&self) -> Vec<(&'static str, KernelCost)> {
        let mut v: Vec<_> = self.costs.iter().map(|(&k, &c)| (k, c)).collect();
        v.sort_by_key(|&(k, c)| (std::cmp::Reverse(c.executed), k));
        v
    }

    /// The serial depth of everything launched so far ([`KernelCost::depth`] summed).
    pub fn depth(&self) -> u64 {
        self.costs.values().map(|c| c.depth).sum()
    }

    fn slot(&mut self, id: BufId) -> &mut Option<Buf> {
        if self.bufs.len() <= id.0 {
            self.bufs.resize(id.0 + 1, None);
        }
        &mut self.bufs[id.0]
    }

    /// The parameter values of launch `l` for `e`, checked against the entry's parameter
    /// types (`n` as a 64-bit integer, buffers as 64-bit addresses, `int` and `float`).
    fn params(e: &Program, l: &Launch) -> Result<Vec<u64>, PtxError> {
        let signature = || PtxError::Signature {
            kernel: l.kernel.name(),
            launch: format!("n and {:?}", l.args),
            entry: format!("{:?}", e.params),
        };
        if e.params.len() != l.args.len() + 1 || !matches!(e.params[0], Ty::S64 | Ty::U64) {
            return Err(signature());
        }
        let mut v = vec![l.n as u64];
        for (a, &ty) in l.args.iter().zip(&e.params[1..]) {
            let ok = match a {
                Arg::Buf(_) | Arg::Null => matches!(ty, Ty::U64 | Ty::B64),
                Arg::I32(_) => matches!(ty, Ty::S32 | Ty::U32 | Ty::B32),
                Arg::F32(_) => ty == Ty::F32,
            };
            if !ok {
                return Err(signature());
            }
            v.push(a.slot(|b| (b.0 as u64 + 1) << ADDR_SHIFT));
        }
        Ok(v)
    }
}

impl Device for PtxDevice {
    /// Whether the module's tensor-core matmul has the `mma` (PTX for compute_80 and later).
    fn tensor_cores(&self) -> bool {
        self.entries
            .get(Kernel::MatmulMma.name())
            .is_some_and(|p| !p.mma.is_empty())
    }

    fn alloc(&mut self, id: BufId, elem: Elem, len: usize) -> Result<(), ForwardError> {
        let s = self.slot(id);
        match s {
            Some(b) if b.elem == elem => {
                if b.len < len {
                    b.bytes.resize(len * elem.size(), 0);
                    b.len = len;
                }
            }
            _ => {
                *s = Some(Buf {
                    elem,
                    len,
                    bytes: vec![0; len * elem.size()],
                });
            }
        }
        Ok(())
    }

    fn upload(&mut self, id: BufId, elem: Elem, bytes: &[u8]) -> Result<(), ForwardError> {
        let len = bytes.len() / elem.size();
        *self.slot(id) = Some(Buf {
            elem,
            len,
            bytes: bytes[..len * elem.size()].to_vec(),
        });
        Ok(())
    }

    fn launch(&mut self, l: &Launch) -> Result<(), ForwardError> {
        check(l, |b| {
            self.bufs.get(b.0).and_then(Option::as_ref).map(|x| x.len)
        })?;
        let e = self
            .entries
            .get(l.kernel.name())
            .ok_or_else(|| PtxError::MissingEntry(l.kernel.name().to_owned()))?;
        let params = PtxDevice::params(e, l)?;
        self.launches += 1;
        let cost = self.costs.entry(l.kernel.name()).or_default();
        cost.launches += 1;
        if l.n == 0 {
            return Ok(());
        }
        let blocks = u32::try_from(l.threads().div_ceil(BLOCK as usize))
            .map_err(|_| ForwardError::BadInput("launch too large".into()))?;
        let grid = Grid {
            kernel: l.kernel.name(),
            program: e,
            params: &params,
            blocks,
            timed: self.model.is_some(),
        };
        let ran = grid.run(&mut self.bufs, self.workers, self.both_orders)?;
        let time = self.model.map_or(LaunchTime::default(), |m| {
            m.launch(
                u64::from(blocks),
                ran.cycles,
                ran.warp_instructions,
                ran.bytes,
            )
        });
        self.executed += ran.executed;
        cost.executed += ran.executed;
        cost.depth += ran.longest;
        cost.bounds.latency += time.latency;
        cost.bounds.issue += time.issue;
        cost.bounds.memory += time.memory;
        cost.cycles += time.cycles();
        Ok(())
    }

    fn read_f32(&mut self, id: BufId, len: usize) -> Result<Vec<f32>, ForwardError> {
        let b = self
            .bufs
            .get(id.0)
            .and_then(Option::as_ref)
            .ok_or(ForwardError::NoBuffer(id.0))?;
        if b.elem != Elem::F32 || b.len < len {
            return Err(ForwardError::NoBuffer(id.0));
        }
        Ok(b.bytes[..4 * len]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}
