//! The host build of the forward kernels as a [`Device`]: buffers in host memory, each launch
//! one call of `ak_host_launch` (kernels/host.cpp), which loops over the outputs calling the
//! same per-output function the GPU kernel runs in each thread.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_longlong, c_void};

use super::kernel::{Arg, BufId, Elem, Kernel, Launch};
use super::{Device, ForwardError};

unsafe extern "C" {
    fn ak_host_launch(kernel: c_int, n: c_longlong, args: *mut *mut c_void) -> c_int;
}

/// One buffer: element type, length in elements, storage in 4-byte words (so every element
/// type is aligned).
#[derive(Debug, Clone)]
struct Buf {
    elem: Elem,
    len: usize,
    words: Vec<u32>,
}

/// Host memory for every buffer id.
#[derive(Debug, Default)]
pub struct HostDevice {
    bufs: Vec<Option<Buf>>,
    /// Whether it answers [`Device::tensor_cores`] as a GPU that has them.
    as_tensor_cores: bool,
}

impl HostDevice {
    /// No buffers yet.
    pub fn new() -> HostDevice {
        HostDevice::default()
    }

    /// The same device answering [`Device::tensor_cores`] as a GPU with tensor cores does,
    /// so that a forward pass on it launches what one on such a GPU launches (the host build
    /// computes tensor-core tiles a row at a time, to the same bits).
    #[must_use]
    pub fn as_if_with_tensor_cores(mut self) -> HostDevice {
        self.as_tensor_cores = true;
        self
    }

    fn slot(&mut self, id: BufId) -> &mut Option<Buf> {
        if self.bufs.len() <= id.0 {
            self.bufs.resize(id.0 + 1, None);
        }
        &mut self.bufs[id.0]
    }

    fn get(&self, id: BufId) -> Result<&Buf, ForwardError> {
        self.bufs
            .get(id.0)
            .and_then(Option::as_ref)
            .ok_or(ForwardError::NoBuffer(id.0))
    }
}

/// 4-byte words holding `len` elements of `elem`.
fn words_for(elem: Elem, len: usize) -> usize {
    (len * elem.size()).div_ceil(4)
}

/// Checks a launch's arguments against the buffers: every buffer argument listed in `needs`,
/// every need within its buffer. Data-dependent indices (token ids, cache rows, gathered rows)
/// are bounded by the planner (`Forward::step`), which writes them.
pub(crate) fn check(
    l: &Launch,
    len_of: impl Fn(BufId) -> Option<usize>,
) -> Result<(), ForwardError> {
    for a in &l.args {
        if let Arg::Buf(b) = a
            && !l.needs.iter().any(|(n, _)| n == b)
        {
            return Err(ForwardError::NoBuffer(b.0));
        }
    }
    for &(b, need) in &l.needs {
        let have = len_of(b).ok_or(ForwardError::NoBuffer(b.0))?;
        if need > have {
            return Err(ForwardError::Bounds {
                kernel: l.kernel.name(),
                buf: b.0,
                need,
                have,
            });
        }
    }
    Ok(())
}

impl Device for HostDevice {
    fn tensor_cores(&self) -> bool {
        self.as_tensor_cores
    }

    fn alloc(&mut self, id: BufId, elem: Elem, len: usize) -> Result<(), ForwardError> {
        let s = self.slot(id);
        match s {
            Some(b) if b.elem == elem => {
                if b.len < len {
                    b.words.resize(words_for(elem, len), 0);
                    b.len = len;
                }
            }
            _ => {
                *s = Some(Buf {
                    elem,
                    len,
                    words: vec![0; words_for(elem, len)],
                });
            }
        }
        Ok(())
    }

    fn upload(&mut self, id: BufId, elem: Elem, bytes: &[u8]) -> Result<(), ForwardError> {
        let len = bytes.len() / elem.size();
        let mut words = vec![0u32; words_for(elem, len)];
        for (w, c) in words.iter_mut().zip(bytes.chunks(4)) {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            *w = u32::from_le_bytes(b);
        }
        *self.slot(id) = Some(Buf { elem, len, words });
        Ok(())
    }

    fn launch(&mut self, l: &Launch) -> Result<(), ForwardError> {
        if !Kernel::ALL.contains(&l.kernel) {
            return Err(ForwardError::UnknownKernel(l.kernel.id()));
        }
        check(l, |b| {
            self.bufs.get(b.0).and_then(Option::as_ref).map(|x| x.len)
        })?;
        if l.n == 0 {
            return Ok(());
        }
        let n = c_longlong::try_from(l.n)
            .map_err(|_| ForwardError::BadInput("launch too large".into()))?;
        let addrs: Vec<u64> = self
            .bufs
            .iter_mut()
            .map(|b| b.as_mut().map_or(0, |b| b.words.as_mut_ptr() as u64))
            .collect();
        let mut slots: Vec<u64> = l
            .args
            .iter()
            .map(|a| a.slot(|b| addrs.get(b.0).copied().unwrap_or(0)))
            .collect();
        let mut ptrs: Vec<*mut c_void> = slots
            .iter_mut()
            .map(|s| std::ptr::from_mut::<u64>(s).cast())
            .collect();
        // SAFETY: `check` bounded every buffer argument's extent by its buffer's length, and the
        // argument list matches the kernel's parameters (ops.rs builds both from one place; the
        // forward tests run every kernel). Each `ptrs[k]` points at a live 8-byte slot holding
        // a buffer address or an `int`/`float` in its low bytes (little-endian, as the host's
        // reader takes it). The buffers' storage is not touched by Rust during the call.
        let rc = unsafe { ak_host_launch(l.kernel.id(), n, ptrs.as_mut_ptr()) };
        if rc != 0 {
            return Err(ForwardError::UnknownKernel(l.kernel.id()));
        }
        Ok(())
    }

    fn read_f32(&mut self, id: BufId, len: usize) -> Result<Vec<f32>, ForwardError> {
        let b = self.get(id)?;
        if b.elem != Elem::F32 || b.len < len {
            return Err(ForwardError::NoBuffer(id.0));
        }
        Ok(b.words[..len].iter().map(|&w| f32::from_bits(w)).collect())
    }
}
