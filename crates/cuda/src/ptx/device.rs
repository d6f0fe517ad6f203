//! [`PtxDevice`]: the forward pass's [`Device`] that runs the PTX NVRTC compiled, one thread
//! at a time, over buffers in host memory, with the grid `GpuDevice` launches (256-thread
//! blocks, one thread per output). Every access is bounds-checked against its buffer, and a
//! byte one thread writes that another thread of the same launch reads or writes is an
//! error: on a GPU the threads run in any order, so such a launch would have no defined
//! result.

use std::collections::HashMap;

use super::PtxError;
use super::exec::{self, Memory, Place};
use super::parse::{self, Entry, Ty};
use crate::forward::{Arg, BufId, Device, Elem, ForwardError, Kernel, Launch, check};

/// Threads per block, as `GpuDevice` launches them.
const BLOCK: u32 = 256;
/// A buffer's address is `(id + 1) << ADDR_SHIFT` plus the byte offset.
const ADDR_SHIFT: u32 = 40;
/// Instructions one thread may run before it counts as a loop that does not end.
const THREAD_LIMIT: u64 = 1 << 32;

#[derive(Debug, Clone)]
struct Buf {
    elem: Elem,
    len: usize,
    bytes: Vec<u8>,
}

/// What the launches of one kernel cost, in PTX instructions (work, not time: a proxy that
/// does not depend on the machine).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCost {
    /// Launches.
    pub launches: u64,
    /// Instructions over every thread (the work).
    pub executed: u64,
    /// The longest thread's instructions, summed over the launches: the serial depth, what a
    /// GPU with a thread for every output still runs one after another.
    pub depth: u64,
}

/// The kernels of a PTX module run by interpretation.
#[derive(Debug)]
pub struct PtxDevice {
    entries: HashMap<String, Entry>,
    bufs: Vec<Option<Buf>>,
    executed: u64,
    launches: u64,
    costs: HashMap<&'static str, KernelCost>,
}

impl PtxDevice {
    /// Parses `ptx` (the text NVRTC returns; a trailing NUL is ignored). Every forward kernel
    /// must be an entry of it, and every instruction one this interpreter models.
    pub fn new(ptx: &str) -> Result<PtxDevice, PtxError> {
        let entries: HashMap<String, Entry> = parse::parse_module(ptx.trim_end_matches('\0'))?
            .into_iter()
            .map(|e| (e.name.clone(), e))
            .collect();
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
        })
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
    fn params(e: &Entry, l: &Launch) -> Result<Vec<u64>, PtxError> {
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

/// Global memory of one launch: the buffers, and which thread wrote each byte written so far.
struct LaunchMemory<'a> {
    bufs: &'a mut [Option<Buf>],
    /// Per buffer, the writer (thread + 1) of each byte, allocated at its first store.
    writers: Vec<Option<Vec<u64>>>,
}

impl LaunchMemory<'_> {
    fn locate(&self, addr: u64, bytes: usize) -> Result<(usize, usize), String> {
        let id = (addr >> ADDR_SHIFT) as usize;
        let off = (addr & ((1u64 << ADDR_SHIFT) - 1)) as usize;
        let b = id
            .checked_sub(1)
            .and_then(|i| self.bufs.get(i))
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("address {addr:#x} is in no buffer"))?;
        let have = b.len * b.elem.size();
        if off + bytes > have {
            return Err(format!(
                "{bytes} bytes at offset {off} of buffer {}, which holds {have} bytes",
                id - 1
            ));
        }
        Ok((id - 1, off))
    }
}

impl Memory for LaunchMemory<'_> {
    fn load(&mut self, addr: u64, bytes: usize, thread: u64) -> Result<u64, String> {
        let (id, off) = self.locate(addr, bytes)?;
        if let Some(Some(w)) = self.writers.get(id) {
            for (k, &who) in w[off..off + bytes].iter().enumerate() {
                if who != 0 && who != thread + 1 {
                    return Err(format!(
                        "reads byte {} of buffer {id}, which thread {} of the same launch wrote",
                        off + k,
                        who - 1
                    ));
                }
            }
        }
        let b = self.bufs[id].as_ref().ok_or("buffer vanished")?;
        let mut v = [0u8; 8];
        v[..bytes].copy_from_slice(&b.bytes[off..off + bytes]);
        Ok(u64::from_le_bytes(v))
    }

    fn store(&mut self, addr: u64, bytes: usize, value: u64, thread: u64) -> Result<(), String> {
        let (id, off) = self.locate(addr, bytes)?;
        if self.writers.len() <= id {
            self.writers.resize(id + 1, None);
        }
        let b = self.bufs[id].as_mut().ok_or("buffer vanished")?;
        let w = self.writers[id].get_or_insert_with(|| vec![0; b.bytes.len()]);
        for (k, who) in w[off..off + bytes].iter_mut().enumerate() {
            if *who != 0 && *who != thread + 1 {
                return Err(format!(
                    "writes byte {} of buffer {id}, which thread {} of the same launch wrote",
                    off + k,
                    *who - 1
                ));
            }
            *who = thread + 1;
        }
        b.bytes[off..off + bytes].copy_from_slice(&value.to_le_bytes()[..bytes]);
        Ok(())
    }
}

impl Device for PtxDevice {
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
        let blocks = u32::try_from(l.n.div_ceil(BLOCK as usize))
            .map_err(|_| ForwardError::BadInput("launch too large".into()))?;
        let mut mem = LaunchMemory {
            bufs: &mut self.bufs,
            writers: Vec::new(),
        };
        let mut regs = Vec::new();
        let (mut executed, mut longest) = (0, 0);
        for ctaid in 0..blocks {
            for tid in 0..BLOCK {
                let at = Place {
                    tid,
                    ntid: BLOCK,
                    ctaid,
                    nctaid: blocks,
                };
                let n =
                    exec::run(e, &params, at, &mut mem, &mut regs, THREAD_LIMIT).map_err(|s| {
                        PtxError::Fault {
                            kernel: l.kernel.name(),
                            thread: u64::from(ctaid) * u64::from(BLOCK) + u64::from(tid),
                            line: s.line,
                            what: s.what,
                        }
                    })?;
                executed += n;
                longest = longest.max(n);
            }
        }
        self.executed += executed;
        cost.executed += executed;
        cost.depth += longest;
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
