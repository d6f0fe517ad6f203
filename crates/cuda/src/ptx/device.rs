//! [`PtxDevice`]: the forward pass's [`Device`] that runs the PTX NVRTC compiled, one thread
//! at a time, over buffers in host memory, with the grid `GpuDevice` launches (256-thread
//! blocks, one thread per output). Every access is bounds-checked against its buffer, and a
//! byte one thread writes that another thread of the same launch reads or writes is an
//! error: on a GPU the threads run in any order, so such a launch would have no defined
//! result.

use std::collections::HashMap;

use super::PtxError;
use super::exec::{self, Memory, Pause, Place, Thread};
use super::lower::Program;
use super::parse::{self, Ty};
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
    entries: HashMap<String, Program>,
    bufs: Vec<Option<Buf>>,
    executed: u64,
    launches: u64,
    costs: HashMap<&'static str, KernelCost>,
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

/// Global memory of one launch: the buffers, and which thread wrote each byte written so far
/// (and in which of its block's phases); and the shared memory of the block running.
struct LaunchMemory<'a> {
    bufs: &'a mut [Option<Buf>],
    /// Per buffer, the writer of each byte ([`writer`]), allocated at its first store.
    writers: Vec<Option<Vec<u64>>>,
    shared: SharedMemory,
}

/// Bits of a writer entry holding the thread + 1; the phase of its block above them.
const WRITER_BITS: u32 = 40;

/// The writer entry of `thread` in `phase`.
fn writer(thread: u64, phase: u32) -> u64 {
    (u64::from(phase) << WRITER_BITS) | (thread + 1)
}

/// Whether `thread`, in its block's phase `phase`, may touch a byte whose writer entry is
/// `who`: nobody wrote it, it wrote it itself, or a thread of its block wrote it before a
/// barrier they both passed. Blocks are never ordered with each other.
fn ordered(who: u64, thread: u64, phase: u32) -> bool {
    let w = who & ((1u64 << WRITER_BITS) - 1);
    let wrote_in = (who >> WRITER_BITS) as u32;
    w == 0
        || w == thread + 1
        || ((w - 1) / u64::from(BLOCK) == thread / u64::from(BLOCK) && wrote_in < phase)
}

/// The thread of a writer entry.
fn writer_thread(who: u64) -> u64 {
    (who & ((1u64 << WRITER_BITS) - 1)) - 1
}

/// Who last touched a byte of shared memory, and in which phase (the barriers passed).
#[derive(Debug, Clone, Copy, Default)]
struct Touch {
    /// The writer's thread in the block + 1 (0: never written).
    writer: u32,
    written: u32,
    /// The reader's thread + 1, or `u32::MAX` for several, in phase `read`.
    reader: u32,
    read: u32,
}

/// One block's shared memory. Between two barriers threads run in any order on a GPU, so a
/// byte one thread writes and another reads or writes in the same phase is an error, and so is
/// reading a byte no thread wrote (the hardware leaves it undefined).
#[derive(Debug, Default)]
struct SharedMemory {
    bytes: Vec<u8>,
    touched: Vec<Touch>,
    /// Barriers the block has passed.
    phase: u32,
}

impl SharedMemory {
    /// A new block's memory of `len` bytes, nothing written.
    fn reset(&mut self, len: usize) {
        self.bytes.clear();
        self.bytes.resize(len, 0);
        self.touched.clear();
        self.touched.resize(len, Touch::default());
        self.phase = 0;
    }

    fn range(&self, addr: u64, bytes: usize) -> Result<std::ops::Range<usize>, String> {
        let at = usize::try_from(addr).unwrap_or(usize::MAX);
        match at.checked_add(bytes) {
            Some(end) if end <= self.bytes.len() => Ok(at..end),
            _ => Err(format!(
                "{bytes} bytes at shared address {addr}, the block has {}",
                self.bytes.len()
            )),
        }
    }

    fn load(&mut self, addr: u64, bytes: usize, tid: u32) -> Result<u64, String> {
        let r = self.range(addr, bytes)?;
        let (me, phase) = (tid + 1, self.phase);
        for (k, t) in self.touched[r.clone()].iter_mut().enumerate() {
            if t.writer == 0 {
                return Err(format!(
                    "reads shared byte {}, which no thread wrote",
                    r.start + k
                ));
            }
            if t.written == phase && t.writer != me {
                return Err(format!(
                    "reads shared byte {}, which thread {} wrote since the last barrier",
                    r.start + k,
                    t.writer - 1
                ));
            }
            t.reader = if t.read == phase && t.reader != 0 && t.reader != me {
                u32::MAX
            } else {
                me
            };
            t.read = phase;
        }
        Ok(read_le(&self.bytes[r], bytes))
    }

    fn store(&mut self, addr: u64, bytes: usize, value: u64, tid: u32) -> Result<(), String> {
        let r = self.range(addr, bytes)?;
        let (me, phase) = (tid + 1, self.phase);
        for (k, t) in self.touched[r.clone()].iter_mut().enumerate() {
            let other_wrote = t.written == phase && t.writer != 0 && t.writer != me;
            let other_read = t.read == phase && t.reader != 0 && t.reader != me;
            if other_wrote || other_read {
                return Err(format!(
                    "writes shared byte {}, which another thread {} since the last barrier",
                    r.start + k,
                    if other_wrote { "wrote" } else { "read" }
                ));
            }
            t.writer = me;
            t.written = phase;
        }
        self.bytes[r].copy_from_slice(&value.to_le_bytes()[..bytes]);
        Ok(())
    }
}

impl LaunchMemory<'_> {
    /// The buffer (its index and bytes) and offset `bytes` bytes at `addr` lie in.
    fn locate(&self, addr: u64, bytes: usize) -> Result<(usize, &Buf, usize), String> {
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
        Ok((id - 1, b, off))
    }
}

/// `bytes` (1, 2, 4 or 8) little-endian bytes of `from`, zero-extended.
fn read_le(from: &[u8], bytes: usize) -> u64 {
    match (bytes, from) {
        (1, &[a, ..]) => u64::from(a),
        (2, &[a, b, ..]) => u64::from(u16::from_le_bytes([a, b])),
        (4, &[a, b, c, d, ..]) => u64::from(u32::from_le_bytes([a, b, c, d])),
        (8, &[a, b, c, d, e, f, g, h, ..]) => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => {
            let mut v = [0u8; 8];
            v[..bytes].copy_from_slice(&from[..bytes]);
            u64::from_le_bytes(v)
        }
    }
}

impl Memory for LaunchMemory<'_> {
    fn load_shared(&mut self, addr: u64, bytes: usize, tid: u32) -> Result<u64, String> {
        self.shared.load(addr, bytes, tid)
    }

    fn store_shared(
        &mut self,
        addr: u64,
        bytes: usize,
        value: u64,
        tid: u32,
    ) -> Result<(), String> {
        self.shared.store(addr, bytes, value, tid)
    }

    fn load(&mut self, addr: u64, bytes: usize, thread: u64) -> Result<u64, String> {
        let (id, b, off) = self.locate(addr, bytes)?;
        let phase = self.shared.phase;
        if let Some(Some(w)) = self.writers.get(id) {
            for (k, &who) in w[off..off + bytes].iter().enumerate() {
                if !ordered(who, thread, phase) {
                    return Err(format!(
                        "reads byte {} of buffer {id}, which thread {} of the same launch wrote",
                        off + k,
                        writer_thread(who)
                    ));
                }
            }
        }
        Ok(read_le(&b.bytes[off..], bytes))
    }

    fn store(&mut self, addr: u64, bytes: usize, value: u64, thread: u64) -> Result<(), String> {
        let (id, _, off) = self.locate(addr, bytes)?;
        if self.writers.len() <= id {
            self.writers.resize(id + 1, None);
        }
        let b = self.bufs[id].as_mut().ok_or("buffer vanished")?;
        let w = self.writers[id].get_or_insert_with(|| vec![0; b.bytes.len()]);
        let phase = self.shared.phase;
        for (k, who) in w[off..off + bytes].iter_mut().enumerate() {
            if !ordered(*who, thread, phase) {
                return Err(format!(
                    "writes byte {} of buffer {id}, which thread {} of the same launch wrote",
                    off + k,
                    writer_thread(*who)
                ));
            }
            *who = writer(thread, phase);
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
        let blocks = u32::try_from(l.threads().div_ceil(BLOCK as usize))
            .map_err(|_| ForwardError::BadInput("launch too large".into()))?;
        let mut mem = LaunchMemory {
            bufs: &mut self.bufs,
            writers: Vec::new(),
            shared: SharedMemory::default(),
        };
        let mut threads: Vec<Thread> = (0..BLOCK).map(|_| Thread::default()).collect();
        let (mut executed, mut longest) = (0, 0);
        for ctaid in 0..blocks {
            mem.shared.reset(e.shared);
            for t in &mut threads {
                t.reset(e);
            }
            // The block runs in phases: every thread still running goes on to its next barrier
            // or its end, the last thread first. Any order is one a GPU may take; this one
            // makes the usual missing barrier visible (threads writing what thread 0 then
            // reads: thread 0 runs after them and meets their writes in its own phase, where
            // the first order would have it read stale memory without a trace). The block's
            // depth is each phase's longest thread, summed.
            let mut running: Vec<u32> = (0..BLOCK).rev().collect();
            let mut depth = 0;
            while !running.is_empty() {
                let (mut waiting, mut phase_longest) = (Vec::new(), 0);
                for &tid in &running {
                    let at = Place {
                        tid,
                        ntid: BLOCK,
                        ctaid,
                        nctaid: blocks,
                    };
                    let t = &mut threads[tid as usize];
                    let before = t.count;
                    let fault = |line: u32, what: String| PtxError::Fault {
                        kernel: l.kernel.name(),
                        thread: u64::from(ctaid) * u64::from(BLOCK) + u64::from(tid),
                        line,
                        what,
                    };
                    let pause = exec::run(e, &params, at, &mut mem, t, THREAD_LIMIT)
                        .map_err(|s| fault(s.line, s.what))?;
                    phase_longest = phase_longest.max(t.count - before);
                    if pause == Pause::Barrier {
                        waiting.push(tid);
                    }
                }
                depth += phase_longest;
                if !waiting.is_empty() && waiting.len() != BLOCK as usize {
                    return Err(PtxError::Fault {
                        kernel: l.kernel.name(),
                        thread: u64::from(ctaid) * u64::from(BLOCK),
                        line: 0,
                        what: format!(
                            "{} of the block's {BLOCK} threads wait at a barrier the others \
                             left by returning",
                            waiting.len()
                        ),
                    }
                    .into());
                }
                mem.shared.phase += 1;
                running = waiting;
            }
            executed += threads.iter().map(|t| t.count).sum::<u64>();
            longest = longest.max(depth);
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

#[cfg(test)]
mod tests {
    use super::SharedMemory;

    fn memory() -> SharedMemory {
        let mut m = SharedMemory::default();
        m.reset(64);
        m
    }

    #[test]
    fn shared_bytes_pass_between_threads_only_across_a_barrier() {
        let mut m = memory();
        m.store(8, 4, 0xdead_beef, 0).unwrap();
        // The writer itself may read back at once; another thread only after a barrier.
        assert_eq!(m.load(8, 4, 0).unwrap(), 0xdead_beef);
        let e = m.load(8, 4, 1).unwrap_err();
        assert!(e.contains("thread 0 wrote since the last barrier"), "{e}");
        m.phase += 1;
        assert_eq!(m.load(8, 4, 1).unwrap(), 0xdead_beef);
        assert_eq!(m.load(10, 2, 2).unwrap(), 0xdead);
        // Read by threads 1 and 2 in this phase: nobody may write it until the next barrier.
        let e = m.store(8, 4, 1, 0).unwrap_err();
        assert!(e.contains("which another thread read"), "{e}");
        m.phase += 1;
        m.store(8, 4, 7, 3).unwrap();
        let e = m.store(8, 1, 9, 4).unwrap_err();
        assert!(e.contains("which another thread wrote"), "{e}");
    }

    #[test]
    fn unwritten_and_out_of_range_shared_bytes_are_errors() {
        let mut m = memory();
        let e = m.load(0, 4, 0).unwrap_err();
        assert!(e.contains("no thread wrote"), "{e}");
        let e = m.store(62, 4, 0, 0).unwrap_err();
        assert!(e.contains("the block has 64"), "{e}");
        // A new block starts with nothing written.
        m.store(0, 4, 1, 0).unwrap();
        m.reset(64);
        assert!(m.load(0, 4, 0).is_err());
    }
}
