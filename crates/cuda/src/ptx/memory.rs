//! Global and shared memory as a launch's threads see them ([`LaunchMemory`]): every access
//! bounds-checked against its buffer, and a byte one thread writes that another thread of the
//! same launch reads or writes an error (on a GPU the threads run in any order, so such a
//! launch would have no defined result), unless both threads are in one block with a barrier
//! between them. A launch writes to copies; its buffers change when it is committed.

use super::exec::Memory;
use crate::forward::Elem;

/// Threads per block, as `GpuDevice` launches them.
pub(super) const BLOCK: u32 = 256;
/// A buffer's address is `(id + 1) << ADDR_SHIFT` plus the byte offset.
pub(super) const ADDR_SHIFT: u32 = 40;

/// A device buffer in host memory.
#[derive(Debug, Clone)]
pub(super) struct Buf {
    pub(super) elem: Elem,
    pub(super) len: usize,
    pub(super) bytes: Vec<u8>,
}

/// Global memory as one launch (or one worker's share of its blocks) sees it: the buffers as
/// they were before the launch, copies of those it wrote, which thread wrote each byte (and in
/// which of its block's phases), the bytes of each buffer it read; and the shared memory of
/// the block running. The buffers change only when the launch's [`Part`]s are committed.
pub(super) struct LaunchMemory<'a> {
    base: &'a [Option<Buf>],
    /// Copies of the buffers written so far, made at the first store to each.
    own: Vec<Option<Vec<u8>>>,
    /// Per buffer, the writer of each byte ([`writer`]), allocated at its first store.
    writers: Vec<Option<Vec<u64>>>,
    /// Per buffer, the bytes read, a bit each, allocated at its first load.
    read: Vec<Option<Vec<u64>>>,
    pub(super) shared: SharedMemory,
}

/// What one [`LaunchMemory`] did: the buffers it wrote (the new bytes, which bytes) and the
/// bytes of each buffer it read.
pub(super) struct Part {
    written: Vec<(usize, Vec<u8>, Vec<u64>)>,
    read: Vec<Option<Vec<u64>>>,
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
pub(super) struct SharedMemory {
    bytes: Vec<u8>,
    touched: Vec<Touch>,
    /// Barriers the block has passed.
    pub(super) phase: u32,
}

impl SharedMemory {
    /// A new block's memory of `len` bytes, nothing written.
    pub(super) fn reset(&mut self, len: usize) {
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

impl<'a> LaunchMemory<'a> {
    /// A launch's view of `base`: nothing written, nothing read.
    pub(super) fn new(base: &'a [Option<Buf>]) -> LaunchMemory<'a> {
        LaunchMemory {
            base,
            own: Vec::new(),
            writers: Vec::new(),
            read: Vec::new(),
            shared: SharedMemory::default(),
        }
    }

    /// The buffer (its index and contents before the launch) and offset `bytes` bytes at
    /// `addr` lie in.
    fn locate(&self, addr: u64, bytes: usize) -> Result<(usize, &'a Buf, usize), String> {
        let id = (addr >> ADDR_SHIFT) as usize;
        let off = (addr & ((1u64 << ADDR_SHIFT) - 1)) as usize;
        let base = self.base;
        let b = id
            .checked_sub(1)
            .and_then(|i| base.get(i))
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

    /// What this memory wrote and read, to check against other workers' and to commit.
    pub(super) fn into_part(self) -> Part {
        let written = self
            .own
            .into_iter()
            .zip(self.writers)
            .enumerate()
            .filter_map(|(id, (bytes, w))| Some((id, bytes?, w?)))
            .collect();
        Part {
            written,
            read: self.read,
        }
    }
}

impl Part {
    /// Whether a byte this part wrote was written or read by `other`.
    fn touches(&self, other: &Part) -> bool {
        self.written.iter().any(|(id, _, mine)| {
            let theirs = other.written.iter().find(|(o, _, _)| o == id).map(|w| &w.2);
            let read = other.read.get(*id).and_then(Option::as_ref);
            mine.iter().enumerate().any(|(i, &who)| {
                who != 0
                    && (theirs.is_some_and(|t| t[i] != 0)
                        || read.is_some_and(|r| r[i / 64] & (1 << (i % 64)) != 0))
            })
        })
    }
}

/// Whether any two of `parts` (workers running disjoint blocks of one launch) touch the same
/// byte with one of them writing it: then their blocks may have met each other's writes in a
/// run on one thread, and only that run decides the launch.
pub(super) fn overlap(parts: &[Part]) -> bool {
    parts.iter().enumerate().any(|(a, pa)| {
        parts
            .iter()
            .enumerate()
            .any(|(b, pb)| a != b && pa.touches(pb))
    })
}

/// The distinct global bytes `parts` (the shares of one launch) read or wrote, each counted
/// once however many shares touched it.
pub(super) fn traffic(parts: &[Part]) -> u64 {
    let ids = parts
        .iter()
        .flat_map(|p| p.written.iter().map(|w| w.0 + 1).chain([p.read.len()]))
        .max()
        .unwrap_or(0);
    let mut total = 0;
    for id in 0..ids {
        let mut touched: Vec<u64> = Vec::new();
        for p in parts {
            if let Some(Some(r)) = p.read.get(id) {
                grow(&mut touched, r.len());
                for (t, &w) in touched.iter_mut().zip(r) {
                    *t |= w;
                }
            }
            for (_, _, who) in p.written.iter().filter(|w| w.0 == id) {
                grow(&mut touched, who.len().div_ceil(64));
                let t = &mut touched;
                for (i, _) in who.iter().enumerate().filter(|(_, w)| **w != 0) {
                    t[i / 64] |= 1 << (i % 64);
                }
            }
        }
        total += touched
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum::<u64>();
    }
    total
}

/// `v` at least `len` long, new words zero.
fn grow(v: &mut Vec<u64>, len: usize) {
    if v.len() < len {
        v.resize(len, 0);
    }
}

/// Writes every byte `parts` wrote into `bufs`.
pub(super) fn commit(bufs: &mut [Option<Buf>], parts: Vec<Part>) {
    for (id, bytes, who) in parts.into_iter().flat_map(|p| p.written) {
        if let Some(Some(b)) = bufs.get_mut(id) {
            for ((dst, &src), &w) in b.bytes.iter_mut().zip(&bytes).zip(&who) {
                if w != 0 {
                    *dst = src;
                }
            }
        }
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
        if self.read.len() <= id {
            self.read.resize(id + 1, None);
        }
        let read = self.read[id].get_or_insert_with(|| vec![0; b.bytes.len().div_ceil(64)]);
        for i in off..off + bytes {
            read[i / 64] |= 1 << (i % 64);
        }
        let from = match self.own.get(id) {
            Some(Some(own)) => own.as_slice(),
            _ => b.bytes.as_slice(),
        };
        Ok(read_le(&from[off..], bytes))
    }

    fn store(&mut self, addr: u64, bytes: usize, value: u64, thread: u64) -> Result<(), String> {
        let (id, b, off) = self.locate(addr, bytes)?;
        if self.writers.len() <= id {
            self.writers.resize(id + 1, None);
            self.own.resize(id + 1, None);
        }
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
        let own = self.own[id].get_or_insert_with(|| b.bytes.clone());
        own[off..off + bytes].copy_from_slice(&value.to_le_bytes()[..bytes]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::exec::Memory;
    use super::{ADDR_SHIFT, Buf, LaunchMemory, SharedMemory, commit, overlap, traffic};
    use crate::forward::Elem;

    /// Byte `off` of buffer 0.
    fn at(off: u64) -> u64 {
        (1 << ADDR_SHIFT) + off
    }

    #[test]
    fn workers_that_touch_each_others_writes_overlap_and_commits_take_only_writes() {
        let base = vec![Some(Buf {
            elem: Elem::F32,
            len: 4,
            bytes: vec![7; 16],
        })];
        // Worker a writes bytes 0..4 and reads 8..12; worker b writes 4..8, and maybe reads 0..4.
        let run = |b_reads_a: bool| {
            let (mut a, mut b) = (LaunchMemory::new(&base), LaunchMemory::new(&base));
            a.store(at(0), 4, 0x0101_0101, 0).unwrap();
            assert_eq!(a.load(at(8), 4, 0).unwrap(), 0x0707_0707);
            b.store(at(4), 4, 0x0202_0202, 300).unwrap();
            // Each reads its own writes, and the base where it wrote nothing.
            assert_eq!(a.load(at(0), 4, 0).unwrap(), 0x0101_0101);
            if b_reads_a {
                assert_eq!(b.load(at(0), 4, 300).unwrap(), 0x0707_0707);
            }
            vec![a.into_part(), b.into_part()]
        };
        assert!(overlap(&run(true)));
        let disjoint = run(false);
        assert!(!overlap(&disjoint));
        // A write after the other worker's read (which one thread's run would not report)
        // overlaps too.
        let (mut a, mut c) = (LaunchMemory::new(&base), LaunchMemory::new(&base));
        assert_eq!(a.load(at(12), 1, 0).unwrap(), 7);
        c.store(at(12), 1, 9, 300).unwrap();
        assert!(overlap(&[a.into_part(), c.into_part()]));
        let mut bufs = base.clone();
        commit(&mut bufs, disjoint);
        let bytes = &bufs[0].as_ref().unwrap().bytes;
        assert_eq!(bytes[..], [1, 1, 1, 1, 2, 2, 2, 2, 7, 7, 7, 7, 7, 7, 7, 7]);
    }

    #[test]
    fn traffic_counts_each_byte_once_over_the_shares() {
        let base = vec![
            Some(Buf {
                elem: Elem::F32,
                len: 4,
                bytes: vec![0; 16],
            }),
            Some(Buf {
                elem: Elem::F32,
                len: 32,
                bytes: vec![0; 128],
            }),
        ];
        let (mut a, mut b) = (LaunchMemory::new(&base), LaunchMemory::new(&base));
        // Both shares read bytes 0..8 of buffer 0; a reads 8..12 too and b writes 12..16.
        a.load(at(0), 8, 0).unwrap();
        a.load(at(8), 4, 0).unwrap();
        b.load(at(0), 8, 300).unwrap();
        b.store(at(12), 4, 1, 300).unwrap();
        // a writes bytes 100..104 of buffer 1 twice and reads them back.
        let buf1 = (2u64 << ADDR_SHIFT) + 100;
        a.store(buf1, 4, 1, 0).unwrap();
        a.store(buf1, 4, 2, 0).unwrap();
        a.load(buf1, 4, 0).unwrap();
        assert_eq!(traffic(&[a.into_part(), b.into_part()]), 16 + 4);
        assert_eq!(traffic(&[]), 0);
    }

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
