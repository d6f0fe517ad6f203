//! [`GpuDevice`]: the forward pass's [`Device`] on a GPU. Opens the driver, retains the primary
//! context of one device, compiles the kernels with NVRTC for its compute capability, loads the
//! module and looks up every forward kernel; buffers are device allocations; launches are
//! recorded and run as one CUDA graph per step ([`super::graph`]), or with
//! [`GpuDevice::set_graphs`] off, each as its own `cuLaunchKernel`; either way on the legacy
//! stream, so in order with the copies.
#![allow(unsafe_code)]

use std::ffi::{CString, c_int, c_void};

use super::GpuError;
use super::driver::{DevPtr, Driver, ck};
use super::graph::{GraphStats, Graphs, Rec};
use super::nvrtc::{NVRTC_LIBRARIES, Nvrtc};
use crate::device::DRIVER_LIBRARY;
use crate::forward::{BufId, Device, Elem, ForwardError, Kernel, Launch, RowPool, check};

/// Threads per block.
const BLOCK: usize = 256;
/// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR` and `_MINOR`.
const CC_MAJOR: c_int = 75;
const CC_MINOR: c_int = 76;

/// A device allocation: `cap` elements allocated, the first `len` of them the buffer.
#[derive(Debug, Clone, Copy)]
struct GBuf {
    elem: Elem,
    len: usize,
    cap: usize,
    ptr: DevPtr,
}

/// One GPU with the forward kernels loaded.
#[derive(Debug)]
pub struct GpuDevice {
    drv: Driver,
    ordinal: c_int,
    module: *mut c_void,
    funcs: Vec<*mut c_void>,
    bufs: Vec<Option<GBuf>>,
    /// Launches go through CUDA graphs (None: one `cuLaunchKernel` each).
    graphs: Option<Graphs>,
    /// Page-locked host memory the logits are copied into (`cuMemAllocHost`; null until the
    /// first read), and its size in bytes: reused by every read that fits.
    staging: *mut c_void,
    staging_bytes: usize,
    /// Logits rows handed back (`recycle_rows`), refilled by the next read.
    rows: RowPool,
    /// The compute architecture the kernels were compiled for (`compute_90` on an H200).
    pub arch: String,
    /// Whether it has the integer tensor cores the matmul's `mma` needs (compute capability
    /// 8.0 and later).
    tensor_cores: bool,
    /// Whether graphs capture their kernels as programmatic dependent launches (compute
    /// capability 9.0 and later, with `cuLaunchKernelEx`): each kernel's blocks start while
    /// the one before finishes, then wait for it (`griddepcontrol.wait`) before touching
    /// memory. Off unless asked for: on the H200 it made decode steps slower (SmolLM2 at
    /// batch 32: 9,919 tokens/s against 11,485 without).
    overlap: bool,
    /// The NVRTC library that compiled them.
    pub nvrtc: String,
}

impl GpuDevice {
    /// Device 0 through `libcuda.so.1` and the NVRTC of [`NVRTC_LIBRARIES`].
    pub fn open() -> Result<GpuDevice, GpuError> {
        GpuDevice::open_with(DRIVER_LIBRARY, NVRTC_LIBRARIES, 0)
    }

    /// Device `ordinal` through the driver library `driver` and the first NVRTC of `nvrtc`.
    pub fn open_with(driver: &str, nvrtc: &[&str], ordinal: i32) -> Result<GpuDevice, GpuError> {
        let drv = Driver::load(driver)?;
        let mut dev: c_int = 0;
        let mut ctx: *mut c_void = std::ptr::null_mut();
        let (mut major, mut minor): (c_int, c_int) = (0, 0);
        // SAFETY: driver calls with pointers to live locals of the declared types.
        unsafe {
            ck("cuInit", (drv.init)(0))?;
            ck("cuDeviceGet", (drv.device_get)(&raw mut dev, ordinal))?;
            ck(
                "cuDeviceGetAttribute",
                (drv.attribute)(&raw mut major, CC_MAJOR, dev),
            )?;
            ck(
                "cuDeviceGetAttribute",
                (drv.attribute)(&raw mut minor, CC_MINOR, dev),
            )?;
            ck(
                "cuDevicePrimaryCtxRetain",
                (drv.ctx_retain)(&raw mut ctx, dev),
            )?;
        }
        let mut g = GpuDevice {
            drv,
            ordinal: dev,
            module: std::ptr::null_mut(),
            funcs: Vec::new(),
            bufs: Vec::new(),
            graphs: None,
            staging: std::ptr::null_mut(),
            staging_bytes: 0,
            rows: RowPool::default(),
            arch: format!("compute_{major}{minor}"),
            tensor_cores: major >= 8,
            overlap: false,
            nvrtc: String::new(),
        };
        // SAFETY: `ctx` is the primary context just retained (released in Drop).
        ck("cuCtxSetCurrent", unsafe { (g.drv.ctx_set)(ctx) })?;
        let nv = Nvrtc::load_from(nvrtc)?;
        nv.library().clone_into(&mut g.nvrtc);
        let ptx = nv.compile_once(&g.arch)?;
        // SAFETY: `ptx` is NUL-terminated PTX text, alive during the call.
        ck("cuModuleLoadData", unsafe {
            (g.drv.module_load)(&raw mut g.module, ptx.as_ptr().cast())
        })?;
        for k in Kernel::ALL {
            let name =
                CString::new(k.name()).map_err(|_| GpuError::MissingKernel(k.name().into()))?;
            let mut f: *mut c_void = std::ptr::null_mut();
            // SAFETY: the module is loaded; `name` is a live C string.
            let rc = unsafe { (g.drv.get_function)(&raw mut f, g.module, name.as_ptr()) };
            if rc != 0 {
                return Err(GpuError::MissingKernel(k.name().into()));
            }
            g.funcs.push(f);
        }
        g.graphs = Some(Graphs::new(&g.drv, g.overlap)?);
        Ok(g)
    }

    /// Lets the kernels of a graph overlap the one before them (compute capability 9.0 and
    /// `cuLaunchKernelEx`), or not (the default: measured slower on the H200). The logits are
    /// the same bits either way: each kernel waits for the one before it before it reads or
    /// writes memory. Asking for it where they cannot is an error naming what is missing.
    pub fn set_overlap(&mut self, on: bool) -> Result<(), GpuError> {
        if on && (self.drv.launch_ex.is_none() || !self.arch_at_least(90)) {
            return Err(GpuError::Unsupported(format!(
                "overlapping launches need compute capability 9.0 and cuLaunchKernelEx ({}, \
                 cuLaunchKernelEx {})",
                self.arch,
                if self.drv.launch_ex.is_some() {
                    "present"
                } else {
                    "missing"
                }
            )));
        }
        self.flush()?;
        self.overlap = on;
        if let Some(mut g) = self.graphs.take() {
            // SAFETY: the executable graph may still run: wait before destroying it.
            ck("cuCtxSynchronize", unsafe { (self.drv.sync)() })?;
            g.destroy(&self.drv);
            self.graphs = Some(Graphs::new(&self.drv, on)?);
        }
        Ok(())
    }

    /// Whether kernels of a graph overlap the one before them ([`GpuDevice::set_overlap`];
    /// false with graphs off, or once the driver refused them in a capture).
    pub fn overlap(&self) -> bool {
        self.graphs.as_ref().is_some_and(Graphs::overlap)
    }

    /// Whether the kernels were compiled for compute capability `cc` (major · 10 + minor) or
    /// later.
    fn arch_at_least(&self, cc: u32) -> bool {
        self.arch
            .strip_prefix("compute_")
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|v| v >= cc)
    }

    /// Runs the launches through CUDA graphs (the default) or each on its own. The logits
    /// are the same bits either way.
    pub fn set_graphs(&mut self, on: bool) -> Result<(), GpuError> {
        self.flush()?;
        match (on, self.graphs.take()) {
            (true, None) => self.graphs = Some(Graphs::new(&self.drv, self.overlap)?),
            (false, Some(mut g)) => {
                // SAFETY: the executable graph may still run: wait before destroying it.
                ck("cuCtxSynchronize", unsafe { (self.drv.sync)() })?;
                g.destroy(&self.drv);
            }
            (_, kept) => self.graphs = kept,
        }
        Ok(())
    }

    /// What the CUDA graphs have done so far (None with graphs off).
    pub fn graph_stats(&self) -> Option<GraphStats> {
        self.graphs.as_ref().map(Graphs::stats)
    }

    /// Runs the launches recorded for a graph: every memory operation calls this first, so it
    /// meets the device after the launches issued before it.
    fn flush(&mut self) -> Result<(), GpuError> {
        match self.graphs.as_mut() {
            Some(g) => g.flush(&self.drv, &self.funcs),
            None => Ok(()),
        }
    }

    fn slot(&mut self, id: BufId) -> &mut Option<GBuf> {
        if self.bufs.len() <= id.0 {
            self.bufs.resize(id.0 + 1, None);
        }
        &mut self.bufs[id.0]
    }

    fn new_buf(&mut self, elem: Elem, len: usize) -> Result<GBuf, GpuError> {
        let bytes = (len * elem.size()).max(4);
        let mut ptr: DevPtr = 0;
        // SAFETY: allocation and clearing of `bytes` fresh bytes of device memory.
        unsafe {
            ck("cuMemAlloc_v2", (self.drv.alloc)(&raw mut ptr, bytes))?;
            ck("cuMemsetD8_v2", (self.drv.memset)(ptr, 0, bytes))?;
        }
        Ok(GBuf {
            elem,
            len,
            cap: len,
            ptr,
        })
    }

    /// Zeroes elements `from .. to` of `b`.
    fn clear(&self, b: GBuf, from: usize, to: usize) -> Result<(), GpuError> {
        let size = b.elem.size();
        if to <= from {
            return Ok(());
        }
        // SAFETY: `from .. to` lies inside the allocation (`to <= b.cap`, checked by callers).
        ck("cuMemsetD8_v2", unsafe {
            (self.drv.memset)(b.ptr + (from * size) as DevPtr, 0, (to - from) * size)
        })
    }

    /// F32 buffer `id`, holding at least `len` values, once every launch so far has run, and
    /// the page-locked staging memory grown to hold `len` values.
    fn stage(&mut self, id: BufId, len: usize) -> Result<GBuf, ForwardError> {
        let b = self
            .bufs
            .get(id.0)
            .and_then(Option::as_ref)
            .copied()
            .ok_or(ForwardError::NoBuffer(id.0))?;
        if b.elem != Elem::F32 || b.len < len {
            return Err(ForwardError::NoBuffer(id.0));
        }
        self.flush()?;
        let bytes = len * 4;
        // SAFETY: the GPU is idle after the synchronisation, so nothing copies into the old
        // staging memory when it is freed.
        unsafe {
            ck("cuCtxSynchronize", (self.drv.sync)())?;
            if self.staging_bytes < bytes {
                if !self.staging.is_null() {
                    (self.drv.free_host)(self.staging);
                    self.staging = std::ptr::null_mut();
                    self.staging_bytes = 0;
                }
                let mut p: *mut c_void = std::ptr::null_mut();
                ck(
                    "cuMemAllocHost_v2",
                    (self.drv.alloc_host)(&raw mut p, bytes),
                )?;
                self.staging = p;
                self.staging_bytes = bytes;
            }
        }
        Ok(b)
    }

    fn free(&self, b: GBuf) {
        // SAFETY: `b.ptr` came from cuMemAlloc and is freed once (its slot was replaced).
        unsafe { (self.drv.free)(b.ptr) };
    }
}

impl Device for GpuDevice {
    fn tensor_cores(&self) -> bool {
        self.tensor_cores
    }

    fn alloc(&mut self, id: BufId, elem: Elem, len: usize) -> Result<(), ForwardError> {
        let old = *self.slot(id);
        let untouched = old.is_some_and(|b| b.elem == elem && b.cap >= len && b.len >= len);
        if !untouched {
            // Clearing, copying or freeing memory that recorded launches use.
            self.flush()?;
        }
        if let Some(mut b) = old
            && b.elem == elem
            && b.cap >= len
        {
            // Grown inside its allocation (a step's scratch after a larger step): the new
            // elements are zero, as in a fresh one.
            if len > b.len {
                self.clear(b, b.len, len)?;
                b.len = len;
                *self.slot(id) = Some(b);
            }
            return Ok(());
        }
        let nb = self.new_buf(elem, len)?;
        if let Some(b) = old {
            if b.elem == elem && b.len > 0 {
                // SAFETY: both allocations hold at least the old length's bytes.
                ck("cuMemcpyDtoD_v2", unsafe {
                    (self.drv.dtod)(nb.ptr, b.ptr, b.len * elem.size())
                })?;
            }
            self.free(b);
        }
        *self.slot(id) = Some(nb);
        Ok(())
    }

    fn upload(&mut self, id: BufId, elem: Elem, bytes: &[u8]) -> Result<(), ForwardError> {
        self.flush()?;
        let len = bytes.len() / elem.size();
        let b = match *self.slot(id) {
            // A step's inputs (tokens, rows, RoPE table, attention rows) go into the
            // allocation of the last step's when it is large enough: no allocation, no free
            // (cuMemFree waits for the device) per step.
            Some(b) if b.elem == elem && b.cap >= len => GBuf { len, ..b },
            old => {
                if let Some(b) = old {
                    self.free(b);
                }
                *self.slot(id) = None;
                self.new_buf(elem, len)?
            }
        };
        *self.slot(id) = Some(b);
        if bytes.is_empty() {
            return Ok(());
        }
        // SAFETY: the allocation holds at least `bytes.len()` bytes; `bytes` is live.
        ck("cuMemcpyHtoD_v2", unsafe {
            (self.drv.htod)(b.ptr, bytes.as_ptr().cast(), bytes.len())
        })?;
        Ok(())
    }

    fn launch(&mut self, l: &Launch) -> Result<(), ForwardError> {
        check(l, |b| {
            self.bufs.get(b.0).and_then(Option::as_ref).map(|x| x.len)
        })?;
        if l.n == 0 {
            return Ok(());
        }
        let func = Kernel::ALL.iter().position(|&k| k == l.kernel).unwrap_or(0);
        let threads = l.threads();
        let grid = u32::try_from(threads.div_ceil(BLOCK))
            .map_err(|_| GpuError::Unrepresentable(format!("{threads} threads")))?;
        let addr = |b: BufId| {
            self.bufs
                .get(b.0)
                .and_then(Option::as_ref)
                .map_or(0, |x| x.ptr)
        };
        // The first parameter is `long long n`, then the launch's arguments.
        let slots: Vec<u64> = std::iter::once(l.n as u64)
            .chain(l.args.iter().map(|a| a.slot(addr)))
            .collect();
        let rec = Rec {
            func,
            grid,
            block: BLOCK as u32,
            slots,
        };
        // `check` bounded every buffer argument by its allocation.
        match self.graphs.as_mut() {
            Some(g) => g.record(rec),
            None => {
                self.drv.launch_kernel(
                    self.funcs[func],
                    (grid, rec.block),
                    std::ptr::null_mut(),
                    &rec.slots,
                    false,
                )?;
            }
        }
        Ok(())
    }

    fn read_f32(&mut self, id: BufId, len: usize) -> Result<Vec<f32>, ForwardError> {
        let b = self.stage(id, len)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: the GPU is idle (`stage`); the copy writes `len` values into staging memory
        // of at least that size, read back before anything else touches it.
        unsafe {
            ck(
                "cuMemcpyDtoH_v2",
                (self.drv.dtoh)(self.staging, b.ptr, len * 4),
            )?;
            Ok(std::slice::from_raw_parts(self.staging.cast::<f32>(), len).to_vec())
        }
    }

    /// Copies from the device into page-locked memory at the bus's speed, in pieces of whole
    /// rows, each piece then copied into its rows' vectors on other threads while the next
    /// crosses the bus, a row handed back refilled where there is one
    /// ([`RowPool::fill_pieces`]). A pageable destination goes through the driver's own
    /// bounce buffer, and fresh rows cost more to map than to fill: a step's logits are 6.3
    /// MB at batch 32 on SmolLM2, 33.5 MB on Gemma 3, which took one copy over the bus and
    /// then one into the rows, one after the other.
    fn read_f32_rows(
        &mut self,
        id: BufId,
        rows: usize,
        width: usize,
    ) -> Result<Vec<Vec<f32>>, ForwardError> {
        let len = rows * width;
        let b = self.stage(id, len)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let (drv, staging, pool) = (&self.drv, self.staging.cast::<f32>(), &mut self.rows);
        pool.fill_pieces(rows, width, |piece| {
            let (from, count) = (piece.start * width, piece.len() * width);
            // SAFETY: the GPU is idle (`stage`); each piece is a range of the `len` values
            // the staging memory holds, copied into once and read only after its copy
            // returns (cuMemcpyDtoH is synchronous), while later pieces go to other ranges.
            // The staging memory stays allocated until `self` is used mutably again, after
            // the fill has copied every piece out.
            unsafe {
                ck(
                    "cuMemcpyDtoH_v2",
                    (drv.dtoh)(
                        staging.add(from).cast::<c_void>(),
                        b.ptr + (from * 4) as DevPtr,
                        count * 4,
                    ),
                )?;
                Ok(std::slice::from_raw_parts(staging.add(from), count))
            }
        })
    }

    fn recycle_rows(&mut self, rows: Vec<Vec<f32>>) {
        self.rows.give(rows);
    }
}

impl Drop for GpuDevice {
    fn drop(&mut self) {
        // SAFETY: waits for whatever still runs before anything is freed.
        unsafe { (self.drv.sync)() };
        if let Some(mut g) = self.graphs.take() {
            g.destroy(&self.drv);
        }
        for b in std::mem::take(&mut self.bufs).into_iter().flatten() {
            self.free(b);
        }
        if !self.staging.is_null() {
            // SAFETY: the staging memory came from cuMemAllocHost and is freed once.
            unsafe { (self.drv.free_host)(self.staging) };
        }
        // SAFETY: the module (when loaded) and the retained primary context are released once.
        unsafe {
            if !self.module.is_null() {
                (self.drv.module_unload)(self.module);
            }
            (self.drv.ctx_release)(self.ordinal);
        }
    }
}
