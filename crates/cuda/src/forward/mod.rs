//! The whole forward pass as a sequence of kernel launches.
//!
//! [`Forward`] turns a batch step (several sequences, each a slot with its own binary16 KV
//! cache, prefilling several tokens or decoding one) into [`Launch`]es of the kernels in
//! `kernels/ak_forward.cuh`, in the engine's op order (`model/forward.rs`): embedding, per
//! layer RMSNorm, Q/K/V projections, biases, Q/K norms, RoPE, the cache write, attention
//! (scores, softmax, value sums), output projection, post-norm, residual, then the FFN the
//! same way, and the head. A [`Device`] runs them: [`HostDevice`] on the CPU through the host
//! build of the same kernels (what `cargo test` proves bit-identical to the engine), and
//! `crate::gpu::GpuDevice` on a GPU through the driver API.

mod host_device;
mod kernel;
mod ops;
mod rows;
mod session;
mod spec;

pub use host_device::HostDevice;
pub(crate) use host_device::check;
pub use kernel::{
    ADD_NORM_MAX, ATTENTION_SHARED, ATTENTION_THREADS, Arg, BufId, Elem, Kernel, Launch,
    MATMUL_LANES,
};
pub(crate) use rows::RowPool;
pub use session::{Forward, MatmulTile};
pub use spec::{LayerSpec, ModelSpec, Tensor};

/// Why a forward step or a launch failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The step's input does not fit the model or the session.
    #[error("bad input: {0}")]
    BadInput(String),
    /// A launch would touch past the end of a buffer (a planning bug; nothing ran).
    #[error("{kernel} needs {need} elements of buffer {buf}, which holds {have}")]
    Bounds {
        /// The kernel's name.
        kernel: &'static str,
        /// The buffer's id.
        buf: usize,
        /// Elements the launch needs.
        need: usize,
        /// Elements the buffer holds.
        have: usize,
    },
    /// A buffer is read before it was allocated, or with another element type.
    #[error("buffer {0} is not allocated as the launch needs")]
    NoBuffer(usize),
    /// The host build does not know a kernel id.
    #[error("the host build has no kernel with id {0}")]
    UnknownKernel(i32),
    /// The GPU path failed.
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    /// The PTX interpreter refused the module or a launch.
    #[error(transparent)]
    Ptx(#[from] crate::ptx::PtxError),
}

/// `flat` as rows of `width` values, one vector a row (what [`Device::read_f32_rows`] returns).
fn split_rows(flat: &[f32], width: usize) -> Vec<Vec<f32>> {
    flat.chunks_exact(width.max(1))
        .map(<[f32]>::to_vec)
        .collect()
}

/// Where the launches run: buffers by id, launches in order, logits read back.
pub trait Device {
    /// Makes buffer `id` hold at least `len` elements of `elem` (contents kept up to the old
    /// length; new elements zero).
    fn alloc(&mut self, id: BufId, elem: Elem, len: usize) -> Result<(), ForwardError>;
    /// Sets buffer `id` to exactly `bytes` (elements of `elem`, little-endian).
    fn upload(&mut self, id: BufId, elem: Elem, bytes: &[u8]) -> Result<(), ForwardError>;
    /// Runs one launch after every earlier one.
    fn launch(&mut self, l: &Launch) -> Result<(), ForwardError>;
    /// The first `len` values of F32 buffer `id`, after every launch so far.
    fn read_f32(&mut self, id: BufId, len: usize) -> Result<Vec<f32>, ForwardError>;
    /// The first `rows` rows of `width` values of F32 buffer `id`, one vector a row, after
    /// every launch so far (a step's logits, a row a sequence).
    fn read_f32_rows(
        &mut self,
        id: BufId,
        rows: usize,
        width: usize,
    ) -> Result<Vec<Vec<f32>>, ForwardError> {
        Ok(split_rows(&self.read_f32(id, rows * width)?, width))
    }
    /// Takes back rows [`Device::read_f32_rows`] returned, once read, for a later read to
    /// refill (a device that copies logits into fresh memory each step spends more on the
    /// kernel mapping it than on the copy). The default drops them.
    fn recycle_rows(&mut self, rows: Vec<Vec<f32>>) {
        drop(rows);
    }
    /// Whether the matmul's tensor-core tiling (`MatmulTile::Mma`) runs on tensor cores here
    /// (it gives the same results everywhere; without them it is slow).
    fn tensor_cores(&self) -> bool {
        false
    }
}
