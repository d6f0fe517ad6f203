//! CUDA graphs for the forward pass's launches. A step's launches are recorded instead of
//! issued one by one; before anything else touches device memory they are captured into a
//! graph on a private stream and run with one `cuGraphLaunch` on the legacy stream, so they
//! stay ordered with the copies around them. While a step's launches are the same as the last
//! ones (decoding at one batch size: the same kernels, grids and arguments), the executable
//! graph is replayed as it is; launches that differ (another batch, a longer context's scores
//! rows, a grown buffer) are captured again and update the executable graph in place
//! (`cuGraphExecUpdate`), or instantiate a new one where the driver refuses the update. The
//! kernels, their order and their arguments are exactly those of the direct launches, so the
//! results are the same bits; only the launch overhead changes.
#![allow(unsafe_code)]

use std::ffi::{c_uint, c_void};

use super::GpuError;
use super::driver::{
    CAPTURE_THREAD_LOCAL, Driver, GRAPH_EXEC_UPDATE_FAILURE, STREAM_NON_BLOCKING, UpdateInfo, ck,
};

/// One recorded launch: the kernel (index into the device's functions), its grid of
/// `block`-thread blocks and its parameter slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rec {
    pub(super) func: usize,
    pub(super) grid: c_uint,
    pub(super) block: c_uint,
    pub(super) slots: Vec<u64>,
}

/// What the graphs have done so far (for benchmarks and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphStats {
    /// Graphs launched (one per run of recorded launches).
    pub launches: u64,
    /// Of those, launched as they were, without a capture.
    pub replays: u64,
    /// Runs of launches captured into a graph.
    pub captures: u64,
    /// Captures applied to the executable graph in place.
    pub updates: u64,
    /// Updates the driver refused (a different number of launches), each followed by an
    /// instantiation.
    pub refused_updates: u64,
    /// Executable graphs instantiated (the first, and where an update was refused).
    pub instantiations: u64,
    /// Captures whose kernels overlap (programmatic dependent launches).
    pub overlapped_captures: u64,
    /// Captures with overlapping launches the driver refused, each captured again without
    /// (and no overlap asked for after).
    pub refused_overlaps: u64,
    /// Kernel launches captured.
    pub kernels_captured: u64,
}

/// The recorded launches, the capture stream and the executable graph.
#[derive(Debug)]
pub(super) struct Graphs {
    stream: *mut c_void,
    exec: *mut c_void,
    /// The launches `exec` runs.
    held: Vec<Rec>,
    /// Launches recorded since the last flush.
    pending: Vec<Rec>,
    /// Whether captured launches may overlap the one before them (`Driver::launch_kernel`).
    overlap: bool,
    stats: GraphStats,
}

impl Graphs {
    /// Creates the capture stream; with `overlap`, kernels are captured as programmatic
    /// dependent launches.
    pub(super) fn new(drv: &Driver, overlap: bool) -> Result<Graphs, GpuError> {
        let mut stream: *mut c_void = std::ptr::null_mut();
        // SAFETY: creates a stream into a live local.
        ck("cuStreamCreate", unsafe {
            (drv.stream_create)(&raw mut stream, STREAM_NON_BLOCKING)
        })?;
        Ok(Graphs {
            stream,
            exec: std::ptr::null_mut(),
            held: Vec::new(),
            pending: Vec::new(),
            overlap,
            stats: GraphStats::default(),
        })
    }

    /// Whether kernels are captured as programmatic dependent launches.
    pub(super) fn overlap(&self) -> bool {
        self.overlap
    }

    /// Records a launch, to run at the next [`Graphs::flush`].
    pub(super) fn record(&mut self, r: Rec) {
        self.pending.push(r);
    }

    /// What the graphs have done so far.
    pub(super) fn stats(&self) -> GraphStats {
        self.stats
    }

    /// Runs the recorded launches (none: nothing), in order, on the legacy stream.
    pub(super) fn flush(&mut self, drv: &Driver, funcs: &[*mut c_void]) -> Result<(), GpuError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let recs = std::mem::take(&mut self.pending);
        if self.exec.is_null() || recs != self.held {
            // Until the capture is applied, `exec` may no longer match `held`.
            self.held.clear();
            self.capture(drv, funcs, &recs)?;
            self.held = recs;
        } else {
            self.stats.replays += 1;
        }
        // SAFETY: `exec` is a live executable graph (captured above or before); the legacy
        // stream orders it after every earlier copy and before every later one.
        ck("cuGraphLaunch", unsafe {
            (drv.graph_launch)(self.exec, std::ptr::null_mut())
        })?;
        self.stats.launches += 1;
        Ok(())
    }

    /// Captures `recs` into a graph and makes `exec` run it. A driver that refuses the
    /// overlapping launches (older than the programmatic edges of CUDA 12.3 in captured
    /// graphs) gets them captured again without: the same kernels and results.
    fn capture(
        &mut self,
        drv: &Driver,
        funcs: &[*mut c_void],
        recs: &[Rec],
    ) -> Result<(), GpuError> {
        if !self.overlap {
            return self.capture_with(drv, funcs, recs, false);
        }
        if self.capture_with(drv, funcs, recs, true).is_ok() {
            self.stats.overlapped_captures += 1;
            return Ok(());
        }
        // Counted in the stats (`refused_overlaps`), and `overlap()` turns false.
        self.overlap = false;
        self.stats.refused_overlaps += 1;
        self.capture_with(drv, funcs, recs, false)
    }

    fn capture_with(
        &mut self,
        drv: &Driver,
        funcs: &[*mut c_void],
        recs: &[Rec],
        overlap: bool,
    ) -> Result<(), GpuError> {
        // SAFETY: the stream is live and not capturing (every capture ends below).
        ck("cuStreamBeginCapture_v2", unsafe {
            (drv.begin_capture)(self.stream, CAPTURE_THREAD_LOCAL)
        })?;
        let captured = recs.iter().try_for_each(|r| {
            let f = funcs
                .get(r.func)
                .copied()
                .ok_or_else(|| GpuError::Unrepresentable(format!("kernel index {}", r.func)))?;
            drv.launch_kernel(f, (r.grid, r.block), self.stream, &r.slots, overlap)
        });
        let mut graph: *mut c_void = std::ptr::null_mut();
        // SAFETY: ends the capture begun above (also after a failed launch, which leaves the
        // capture invalidated; the driver then returns an error and no graph).
        let ended = ck("cuStreamEndCapture", unsafe {
            (drv.end_capture)(self.stream, &raw mut graph)
        });
        let result = captured.and(ended).and_then(|()| self.apply(drv, graph));
        if !graph.is_null() {
            // SAFETY: the graph came from this capture; the executable graph keeps its own copy.
            unsafe { (drv.graph_destroy)(graph) };
        }
        self.stats.captures += 1;
        self.stats.kernels_captured += recs.len() as u64;
        result
    }

    /// Updates `exec` from `graph` in place, or instantiates it anew.
    fn apply(&mut self, drv: &Driver, graph: *mut c_void) -> Result<(), GpuError> {
        if !self.exec.is_null() {
            let mut info = UpdateInfo::default();
            // SAFETY: both are live; `info` is a live `CUgraphExecUpdateResultInfo`.
            let rc = unsafe { (drv.exec_update)(self.exec, graph, &raw mut info) };
            if rc == 0 {
                self.stats.updates += 1;
                return Ok(());
            }
            if rc != GRAPH_EXEC_UPDATE_FAILURE {
                return ck("cuGraphExecUpdate_v2", rc);
            }
            // `info.result` says why (a different number of launches: the topology).
            self.stats.refused_updates += 1;
            // SAFETY: the old executable graph is destroyed once, then replaced.
            unsafe { (drv.exec_destroy)(self.exec) };
            self.exec = std::ptr::null_mut();
        }
        // SAFETY: instantiates the live `graph` into a live field.
        ck("cuGraphInstantiateWithFlags", unsafe {
            (drv.instantiate)(&raw mut self.exec, graph, 0)
        })?;
        self.stats.instantiations += 1;
        Ok(())
    }

    /// Destroys the executable graph and the stream (recorded launches are dropped).
    pub(super) fn destroy(&mut self, drv: &Driver) {
        self.pending.clear();
        self.held.clear();
        // SAFETY: each handle is destroyed once and nulled.
        unsafe {
            if !self.exec.is_null() {
                (drv.exec_destroy)(self.exec);
            }
            if !self.stream.is_null() {
                (drv.stream_destroy)(self.stream);
            }
        }
        self.exec = std::ptr::null_mut();
        self.stream = std::ptr::null_mut();
    }
}
