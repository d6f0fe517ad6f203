//! The host build of the GPU kernels (`kernels/host.cpp`, compiled by `build.rs` with IEEE f32
//! arithmetic): the same per-output functions the CUDA kernels run, called in a loop over the
//! outputs. Safe wrappers check every length before calling into C++.
#![allow(unsafe_code)]

use std::ffi::c_int;

/// Elements per activation block.
pub const QK: usize = 32;

/// A length or shape that does not fit the kernel it was given to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel {kernel}: {what}")]
pub struct ShapeError {
    /// The kernel.
    pub kernel: &'static str,
    /// What does not fit.
    pub what: &'static str,
}

fn ensure(ok: bool, kernel: &'static str, what: &'static str) -> Result<(), ShapeError> {
    if ok {
        Ok(())
    } else {
        Err(ShapeError { kernel, what })
    }
}

fn int(n: usize, kernel: &'static str) -> Result<c_int, ShapeError> {
    c_int::try_from(n).map_err(|_| ShapeError {
        kernel,
        what: "size exceeds i32",
    })
}

unsafe extern "C" {
    fn ak_host_quantize(x: *const f32, n_blocks: c_int, q: *mut i8, d: *mut f32, s: *mut i32);
    fn ak_host_matmul(
        dtype: c_int,
        w: *const u8,
        rows: c_int,
        cols: c_int,
        ntok: c_int,
        tile: c_int,
        x: *const f32,
        q: *const i8,
        d: *const f32,
        s: *const i32,
        out: *mut f32,
    );
    fn ak_host_rmsnorm(
        x: *const f32,
        w: *const f32,
        eps: f32,
        n: c_int,
        nrows: c_int,
        out: *mut f32,
    );
    fn ak_host_unary(op: c_int, a: *const f32, b: *const f32, c: f32, n: c_int, out: *mut f32);
    fn ak_host_attention(
        q: *const f32,
        k: *const u16,
        v: *const u16,
        n: c_int,
        hd: c_int,
        scores: *mut f32,
        out: *mut f32,
    );
    fn ak_host_rope(x: *mut f32, hd: c_int, nheads: c_int, cs: *const f32, neox: c_int);
    fn ak_host_f32_to_f16(x: *const f32, n: c_int, out: *mut u16);
    fn ak_host_row_bytes(dtype: c_int, cols: c_int) -> c_int;
    fn ak_host_embed_chunks(dtype: c_int, cols: c_int) -> c_int;
}

/// Activations quantized per block of 32: values, one scale and one sum per block.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantBlocks {
    /// Quantized values.
    pub q: Vec<i8>,
    /// Block scales.
    pub d: Vec<f32>,
    /// Block sums of `q`.
    pub s: Vec<i32>,
}

/// Quantizes `x` (a multiple of 32 values) per block of 32.
pub fn quantize(x: &[f32]) -> Result<QuantBlocks, ShapeError> {
    ensure(
        x.len().is_multiple_of(QK),
        "quantize",
        "length not a multiple of 32",
    )?;
    let nb = x.len() / QK;
    let n = int(nb, "quantize")?;
    let mut out = QuantBlocks {
        q: vec![0; x.len()],
        d: vec![0.0; nb],
        s: vec![0; nb],
    };
    // SAFETY: x holds 32·nb values, q 32·nb, d and s nb each.
    unsafe {
        ak_host_quantize(
            x.as_ptr(),
            n,
            out.q.as_mut_ptr(),
            out.d.as_mut_ptr(),
            out.s.as_mut_ptr(),
        );
    }
    Ok(out)
}

/// Bytes per row of `cols` values of the ggml type `dtype` (0 for a type the kernels lack).
pub fn row_bytes(dtype: u32, cols: usize) -> usize {
    let (Ok(t), Ok(c)) = (c_int::try_from(dtype), c_int::try_from(cols)) else {
        return 0;
    };
    // SAFETY: pure arithmetic on two integers.
    let b = unsafe { ak_host_row_bytes(t, c) };
    usize::try_from(b).unwrap_or(0)
}

/// Outputs of the embedding kernel a token: the chunks of its row one thread each dequantizes
/// (`ak_embed_chunks`: 256 columns of a K-quant, else 32).
pub fn embed_chunks(dtype: u32, cols: usize) -> usize {
    let (Ok(t), Ok(c)) = (c_int::try_from(dtype), c_int::try_from(cols)) else {
        return 0;
    };
    // SAFETY: pure arithmetic on two integers.
    let n = unsafe { ak_host_embed_chunks(t, c) };
    usize::try_from(n).unwrap_or(0)
}

/// Most tokens one matmul thread takes (`AK_TILE_MAX` in the kernels).
pub const TILE_MAX: usize = 8;

/// The forward matmul's tile argument for its tensor-core tiling (`AK_TILE_MMA`; 1 to
/// [`TILE_MAX`] are tiles of tokens): output groups of [`MMA_ROWS`] weight rows by
/// [`MMA_TOKENS`] tokens, each computed by one block of [`MMA_WARPS`] warps.
pub const TILE_MMA: usize = 0;
/// The same tiles, each computed by one warp alone over the whole row (`AK_TILE_MMA_WARP`):
/// for matrices of many short rows, whose tiles are enough to fill the GPU.
pub const TILE_MMA_WARP: usize = TILE_MAX + 1;
/// Weight rows of a tensor-core tile (`AK_MMA_ROWS`).
pub const MMA_ROWS: usize = 16;
/// Tokens of a tensor-core tile (`AK_MMA_TOKENS`).
pub const MMA_TOKENS: usize = 8;
/// Warps that compute one tensor-core tile together (`AK_MMA_WARPS`).
pub const MMA_WARPS: usize = 8;

/// Output groups (a warp each on the GPU) of a forward matmul over `rows` weight rows and
/// `ntok` tokens with tile argument `tile` (`ak_matmul_threads`).
pub fn matmul_groups(rows: usize, ntok: usize, tile: usize) -> usize {
    if tile == TILE_MMA {
        rows.div_ceil(MMA_ROWS) * ntok.div_ceil(MMA_TOKENS) * MMA_WARPS
    } else if tile == TILE_MMA_WARP {
        rows.div_ceil(MMA_ROWS) * ntok.div_ceil(MMA_TOKENS)
    } else {
        rows * ntok.div_ceil(tile)
    }
}

/// `out[t * rows + r]` = dot product of weight row `r` (ggml type id `dtype`, `cols` values,
/// raw bytes `w`) with token `t` (`x`: its f32 values, `a`: its quantized blocks), each call
/// of the kernel's per-thread function taking one row and `tile` tokens (1 to [`TILE_MAX`]).
pub fn matmul(
    dtype: u32,
    w: &[u8],
    rows: usize,
    cols: usize,
    tile: usize,
    x: &[f32],
    a: &QuantBlocks,
) -> Result<Vec<f32>, ShapeError> {
    const K: &str = "matmul";
    ensure((1..=TILE_MAX).contains(&tile), K, "tile outside 1..=8")?;
    let rb = row_bytes(dtype, cols);
    ensure(rb > 0, K, "unknown weight type or empty row")?;
    ensure(w.len() == rows * rb, K, "weights are not rows × row bytes")?;
    ensure(
        cols > 0 && x.len().is_multiple_of(cols),
        K,
        "activations not whole rows",
    )?;
    let ntok = x.len() / cols;
    let quantized = dtype > 1;
    ensure(
        !quantized || cols.is_multiple_of(QK),
        K,
        "row not whole blocks",
    )?;
    ensure(
        !quantized || (a.q.len() == x.len() && a.d.len() == x.len() / QK && a.s.len() == a.d.len()),
        K,
        "quantized activations do not match",
    )?;
    let (nr, nc, nt) = (int(rows, K)?, int(cols, K)?, int(ntok, K)?);
    int(w.len(), K)?;
    let mut out = vec![0f32; rows * ntok];
    // SAFETY: the checks above bound every index the kernel reads (rows·rb weight bytes,
    // ntok·cols activations, ntok·cols/32 blocks) and writes (rows·ntok outputs). F32/F16 rows
    // read only `x`; the quantized pointers are then not dereferenced.
    unsafe {
        ak_host_matmul(
            int(dtype as usize, K)?,
            w.as_ptr(),
            nr,
            nc,
            nt,
            int(tile, K)?,
            x.as_ptr(),
            a.q.as_ptr(),
            a.d.as_ptr(),
            a.s.as_ptr(),
            out.as_mut_ptr(),
        );
    }
    Ok(out)
}

/// RMSNorm of every `w.len()`-wide row of `x`.
pub fn rmsnorm(x: &[f32], w: &[f32], eps: f32) -> Result<Vec<f32>, ShapeError> {
    const K: &str = "rmsnorm";
    ensure(
        !w.is_empty() && x.len().is_multiple_of(w.len()),
        K,
        "x not whole rows of w",
    )?;
    let mut out = vec![0f32; x.len()];
    // SAFETY: x and out hold nrows·n values, w holds n.
    unsafe {
        ak_host_rmsnorm(
            x.as_ptr(),
            w.as_ptr(),
            eps,
            int(w.len(), K)?,
            int(x.len() / w.len(), K)?,
            out.as_mut_ptr(),
        );
    }
    Ok(out)
}

/// One element-wise operation over `a` (and `b`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    /// `expf(a)`.
    Exp,
    /// `tanhf(a)`.
    Tanh,
    /// `b · SiLU(a)`.
    SiluMul,
    /// `b · GELU(a)` (tanh form).
    GeluMul,
    /// `c · tanhf(a / c)`.
    Softcap(f32),
}

impl Unary {
    /// The op code the kernels take (`ak_unary_kernel`, `ak_host_unary`).
    pub fn code(self) -> i32 {
        match self {
            Unary::Exp => 0,
            Unary::Tanh => 1,
            Unary::SiluMul => 2,
            Unary::GeluMul => 3,
            Unary::Softcap(_) => 4,
        }
    }
}

/// `op` over every element: `a` the argument (the gate for SiLU and GELU), `b` the values
/// they multiply (same length; ignored by the others).
pub fn unary(op: Unary, a: &[f32], b: &[f32]) -> Result<Vec<f32>, ShapeError> {
    const K: &str = "unary";
    ensure(b.len() == a.len(), K, "a and b differ in length")?;
    let c = if let Unary::Softcap(c) = op { c } else { 0.0 };
    let mut out = vec![0f32; a.len()];
    let n = int(a.len(), K)?;
    // SAFETY: a, b and out hold n values each.
    unsafe {
        ak_host_unary(op.code(), a.as_ptr(), b.as_ptr(), c, n, out.as_mut_ptr());
    }
    Ok(out)
}

/// Attention of one query head `q` (`hd` values) over `n` positions of binary16 keys and
/// values (`k`, `v`: position-major rows of `hd`): returns the `hd` outputs.
pub fn attention(q: &[f32], k: &[u16], v: &[u16]) -> Result<Vec<f32>, ShapeError> {
    const K: &str = "attention";
    let hd = q.len();
    ensure(
        hd > 0 && k.len().is_multiple_of(hd) && k.len() == v.len(),
        K,
        "k and v not rows of hd",
    )?;
    let n = k.len() / hd;
    ensure(n > 0, K, "no positions")?;
    let mut scores = vec![0f32; n];
    let mut out = vec![0f32; hd];
    // SAFETY: q holds hd values, k and v n·hd, scores n, out hd.
    unsafe {
        ak_host_attention(
            q.as_ptr(),
            k.as_ptr(),
            v.as_ptr(),
            int(n, K)?,
            int(hd, K)?,
            scores.as_mut_ptr(),
            out.as_mut_ptr(),
        );
    }
    Ok(out)
}

/// RoPE in place over every `hd`-wide head of `x` with the `hd / 2` pairs `cs` (cos, sin):
/// adjacent pairs, or with `neox` the halves.
pub fn rope(x: &mut [f32], hd: usize, cs: &[(f32, f32)], neox: bool) -> Result<(), ShapeError> {
    const K: &str = "rope";
    ensure(
        hd >= 2 && hd.is_multiple_of(2) && x.len().is_multiple_of(hd),
        K,
        "x not whole heads",
    )?;
    ensure(cs.len() == hd / 2, K, "cs is not hd / 2 pairs")?;
    let flat: Vec<f32> = cs.iter().flat_map(|&(c, s)| [c, s]).collect();
    let (h, n) = (int(hd, K)?, int(x.len() / hd, K)?);
    // SAFETY: x holds n heads of hd values, flat hd values.
    unsafe { ak_host_rope(x.as_mut_ptr(), h, n, flat.as_ptr(), c_int::from(neox)) };
    Ok(())
}

/// Binary16 bits of every value (round to nearest even): the KV cache write.
pub fn f32_to_f16(x: &[f32]) -> Result<Vec<u16>, ShapeError> {
    let n = int(x.len(), "f32_to_f16")?;
    let mut out = vec![0u16; x.len()];
    // SAFETY: x and out hold n values each.
    unsafe { ak_host_f32_to_f16(x.as_ptr(), n, out.as_mut_ptr()) };
    Ok(out)
}
