//! One constructor per forward kernel: the launch, its arguments in the kernel's order, and
//! the elements each buffer argument must hold for every index the kernel computes to be in
//! bounds (checked by the executor before it runs).

use super::kernel::{ATTENTION_SHARED, Arg, BufId, Kernel, Launch};
use crate::host::{embed_chunks, matmul_groups};

/// Elements per activation block.
pub(super) const QK: usize = 32;

/// Quantized activations of `ntok` rows of `cols`: values, block scales, block sums.
#[derive(Debug, Clone, Copy)]
pub(super) struct QuantBufs {
    /// Values (`i8`).
    pub(super) q: BufId,
    /// Scales (`f32`).
    pub(super) d: BufId,
    /// Sums (`i32`).
    pub(super) s: BufId,
}

impl QuantBufs {
    /// The three buffers as a kernel's arguments, in the kernels' order (values, scales,
    /// sums).
    fn args(self) -> [Arg; 3] {
        [Arg::Buf(self.q), Arg::Buf(self.d), Arg::Buf(self.s)]
    }

    /// What a launch touches of them for `len` quantized values (a multiple of 32): the
    /// values, and a scale and a sum per block.
    fn needs(self, len: usize) -> [(BufId, usize); 3] {
        [(self.q, len), (self.d, len / QK), (self.s, len / QK)]
    }
}

fn int(v: usize) -> Arg {
    // Sizes are checked to fit an `int` when a step is planned (`Forward::step`).
    Arg::I32(i32::try_from(v).unwrap_or(i32::MAX))
}

fn launch(kernel: Kernel, n: usize, args: Vec<Arg>, needs: Vec<(BufId, usize)>) -> Launch {
    Launch {
        kernel,
        n,
        args,
        needs,
    }
}

#[allow(clippy::too_many_arguments)]
/// Rows `tokens[i]` of the embedding table (`rb` bytes a row, `rows` rows) into `out`.
pub(super) fn embed(
    dtype: u32,
    table: BufId,
    rb: usize,
    rows: usize,
    cols: usize,
    tokens: BufId,
    ntok: usize,
    out: BufId,
) -> Launch {
    let a = vec![
        Arg::I32(dtype as i32),
        Arg::Buf(table),
        int(cols),
        Arg::Buf(tokens),
        Arg::Buf(out),
    ];
    launch(
        Kernel::Embed,
        ntok * embed_chunks(dtype, cols),
        a,
        vec![(table, rb * rows), (tokens, ntok), (out, ntok * cols)],
    )
}

/// `x[i] *= c` for `n` elements.
pub(super) fn scale(x: BufId, n: usize, c: f32) -> Launch {
    launch(
        Kernel::Scale,
        n,
        vec![Arg::Buf(x), Arg::F32(c)],
        vec![(x, n)],
    )
}

/// RMSNorm of `nrows` rows of `width` with weights `w` into `out`.
pub(super) fn rmsnorm(
    x: BufId,
    w: BufId,
    eps: f32,
    width: usize,
    nrows: usize,
    out: BufId,
) -> Launch {
    let a = vec![
        Arg::Buf(x),
        Arg::Buf(w),
        Arg::F32(eps),
        int(width),
        Arg::Buf(out),
    ];
    launch(
        Kernel::RmsNorm,
        nrows,
        a,
        vec![(x, nrows * width), (w, width), (out, nrows * width)],
    )
}

/// `out`'s `nrows` rows of `width` plus the RMSNorm of `x`'s with weights `w`, in place (a
/// post-norm and its residual add in one launch).
pub(super) fn rmsnorm_add(
    x: BufId,
    w: BufId,
    eps: f32,
    width: usize,
    nrows: usize,
    out: BufId,
) -> Launch {
    Launch {
        kernel: Kernel::RmsNormAdd,
        ..rmsnorm(x, w, eps, width, nrows, out)
    }
}

/// `x`'s `nrows` rows of `width` (a multiple of 32) plus the RMSNorm of `y`'s with weights
/// `post`, in place, then the RMSNorm of the new rows with weights `pre` into `out` and its
/// quantization into `qa`: [`rmsnorm_add`] and [`norm_quant`] in one launch, a row a block
/// (Gemma 3's post-norm and residual add, then the next sublayer's norm).
pub(super) fn add_norm_quant(
    y: BufId,
    (post, pre): (BufId, BufId),
    eps: f32,
    (width, nrows): (usize, usize),
    (x, out): (BufId, BufId),
    qa: QuantBufs,
) -> Launch {
    let len = nrows * width;
    let mut a = vec![
        Arg::Buf(y),
        Arg::Buf(post),
        Arg::Buf(pre),
        Arg::F32(eps),
        int(width),
        Arg::Buf(x),
        Arg::Buf(out),
    ];
    a.extend(qa.args());
    let mut needs = vec![(y, len), (post, width), (pre, width), (x, len), (out, len)];
    needs.extend(qa.needs(len));
    launch(Kernel::AddNormQuant, nrows, a, needs)
}

/// Quantizes `len` values (a multiple of 32) of `x`.
pub(super) fn quantize(x: BufId, len: usize, qa: QuantBufs) -> Launch {
    let mut a = vec![Arg::Buf(x)];
    a.extend(qa.args());
    let mut needs = vec![(x, len)];
    needs.extend(qa.needs(len));
    launch(Kernel::Quantize, len / QK, a, needs)
}

/// RMSNorm of `nrows` rows of `width` (a multiple of 32) with weights `w` into `out`, and its
/// quantization into `qa`, in one launch (one thread per block of 32).
pub(super) fn norm_quant(
    x: BufId,
    w: BufId,
    eps: f32,
    (width, nrows): (usize, usize),
    out: BufId,
    qa: QuantBufs,
) -> Launch {
    let len = nrows * width;
    let mut a = vec![
        Arg::Buf(x),
        Arg::Buf(w),
        Arg::F32(eps),
        int(width),
        Arg::Buf(out),
    ];
    a.extend(qa.args());
    let mut needs = vec![(x, len), (w, width), (out, len)];
    needs.extend(qa.needs(len));
    launch(Kernel::NormQuant, len / QK, a, needs)
}

/// A weight matrix on the device.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mat {
    /// Its bytes.
    pub(super) buf: BufId,
    /// Ggml type id.
    pub(super) dtype: u32,
    /// Rows (outputs per token).
    pub(super) rows: usize,
    /// Values per row.
    pub(super) cols: usize,
    /// Bytes per row.
    pub(super) rb: usize,
}

impl Mat {
    /// Whether its dot products take the tokens' quantized blocks (every type but F32, F16).
    pub(super) fn quantized(&self) -> bool {
        self.dtype > 1
    }
}

/// One weight matrix of a [`matmul`] launch: its results for token `t` go to
/// `out[t * w.rows ..]`, each plus `bias[r]` where there is a bias.
#[derive(Debug, Clone, Copy)]
pub(super) struct Part {
    /// The weights.
    pub(super) w: Mat,
    /// A bias per row (a projection's).
    pub(super) bias: Option<BufId>,
    /// The output.
    pub(super) out: BufId,
}

/// Matrices one [`matmul`] launch takes at most.
pub(super) const PARTS_MAX: usize = 3;

/// `out[t * rows + r]` = weight row `r` · token `t` for every matrix of `parts` (1 to 3, all
/// `cols` wide) over the same `ntok` rows of `x` (quantized in `qa` where a type takes them),
/// in one launch: one output group (a warp on the GPU) per weight row and tile of `tile`
/// tokens (1 to 8), or with `tile` [`crate::host::TILE_MMA`] or
/// [`crate::host::TILE_MMA_WARP`] per tensor-core tile ([`matmul_groups`]; the results do not
/// depend on the tiling), matrix after matrix. With `accumulate` each
/// result is added to what its output holds (a residual add).
pub(super) fn matmul(
    parts: &[Part],
    (x, cols, ntok): (BufId, usize, usize),
    qa: QuantBufs,
    tile: usize,
    accumulate: bool,
) -> Launch {
    let mut a = vec![int(cols), int(ntok), int(tile), Arg::Buf(x)];
    a.extend(qa.args());
    a.push(Arg::I32(i32::from(accumulate)));
    let mut needs = vec![(x, ntok * cols)];
    let quantized = parts.iter().any(|p| p.w.quantized());
    needs.extend(qa.needs(if quantized { ntok * cols } else { 0 }));
    let mut threads = 0;
    for k in 0..PARTS_MAX {
        let Some(p) = parts.get(k) else {
            a.extend([Arg::I32(0), Arg::Null, Arg::I32(0), Arg::Null, Arg::Null]);
            continue;
        };
        let w = p.w;
        a.extend([
            Arg::I32(w.dtype as i32),
            Arg::Buf(w.buf),
            int(w.rows),
            p.bias.map_or(Arg::Null, Arg::Buf),
            Arg::Buf(p.out),
        ]);
        needs.extend([(w.buf, w.rb * w.rows), (p.out, ntok * w.rows)]);
        if let Some(b) = p.bias {
            needs.push((b, w.rows));
        }
        threads += matmul_groups(w.rows, ntok, tile);
    }
    let kernel = match tile {
        crate::host::TILE_MMA => Kernel::MatmulMma,
        crate::host::TILE_MMA_WARP => Kernel::MatmulMmaWarp,
        _ => Kernel::Matmul,
    };
    launch(kernel, threads, a, needs)
}

/// The heads of one step's queries and keys.
#[derive(Debug, Clone, Copy)]
pub(super) struct Heads {
    /// Tokens.
    pub(super) ntok: usize,
    /// Query heads per token.
    pub(super) nh: usize,
    /// Key/value heads per token.
    pub(super) nkv: usize,
    /// Head width.
    pub(super) hd: usize,
}

/// RoPE in place over the queries `q` and keys `k` of `h`, `cs` holding `hd` values (cos, sin
/// pairs) per token, and row `t` of the turned keys and of the values `v` as binary16 into row
/// `rows[t]` of the caches `kc` and `vc` (`cache_rows` rows each), in one launch.
pub(super) fn rope_kv(
    h: Heads,
    (q, k, v): (BufId, BufId, BufId),
    (cs, neox): (BufId, bool),
    rows: BufId,
    (kc, vc): (BufId, BufId),
    cache_rows: usize,
) -> Launch {
    let kv = h.nkv * h.hd;
    let a = vec![
        Arg::Buf(q),
        int(h.nh),
        Arg::Buf(k),
        int(h.nkv),
        int(h.hd),
        Arg::Buf(cs),
        Arg::I32(i32::from(neox)),
        int(h.ntok),
        Arg::Buf(v),
        Arg::Buf(rows),
        Arg::Buf(kc),
        Arg::Buf(vc),
    ];
    launch(
        Kernel::RopeKv,
        h.ntok * ((h.nh + h.nkv) * (h.hd / 2) + kv),
        a,
        vec![
            (q, h.ntok * h.nh * h.hd),
            (k, h.ntok * kv),
            (cs, h.ntok * h.hd),
            (v, h.ntok * kv),
            (rows, h.ntok),
            (kc, cache_rows * kv),
            (vc, cache_rows * kv),
        ],
    )
}

/// [`rope_kv`] of the per-head norms of `q` and `k` (weights `wq` and `wk`, one a head
/// width) into `qn` and `kn`: the two norms, the RoPE of the normalized heads in place and
/// the cache writes in one launch, a group (a warp on the GPU) per head and per 32 values.
#[allow(clippy::too_many_arguments)]
pub(super) fn norm_rope_kv(
    h: Heads,
    (q, k, v): (BufId, BufId, BufId),
    (wq, wk, eps): (BufId, BufId, f32),
    (qn, kn): (BufId, BufId),
    (cs, neox): (BufId, bool),
    rows: BufId,
    (kc, vc): (BufId, BufId),
    cache_rows: usize,
) -> Launch {
    let kv = h.nkv * h.hd;
    let mut l = rope_kv(h, (q, k, v), (cs, neox), rows, (kc, vc), cache_rows);
    l.kernel = Kernel::NormRopeKv;
    l.n = h.ntok * (h.nh + h.nkv) + (h.ntok * kv).div_ceil(QK);
    l.args.extend([
        Arg::Buf(wq),
        Arg::Buf(wk),
        Arg::F32(eps),
        Arg::Buf(qn),
        Arg::Buf(kn),
    ]);
    l.needs.extend([
        (wq, h.hd),
        (wk, h.hd),
        (qn, h.ntok * h.nh * h.hd),
        (kn, h.ntok * kv),
    ]);
    l
}

/// The shape of one attention step over a layer's cache.
#[derive(Debug, Clone, Copy)]
pub(super) struct AttnShape {
    /// Query tokens.
    pub(super) ntok: usize,
    /// Query heads.
    pub(super) nh: usize,
    /// Query heads per key/value head.
    pub(super) group: usize,
    /// Head width.
    pub(super) hd: usize,
    /// Cache row width.
    pub(super) kv: usize,
    /// The score rows' stride: at least the most positions a query sees.
    pub(super) maxn: usize,
    /// Rows of the cache.
    pub(super) cache_rows: usize,
}

impl AttnShape {
    fn ints(&self) -> [Arg; 5] {
        [
            int(self.nh),
            int(self.group),
            int(self.hd),
            int(self.kv),
            int(self.maxn),
        ]
    }
}

/// The attention of every (token, head) over the caches `k` and `v`: scores and numerators in
/// `s` (rows `maxn` apart), outputs in `out`, and with `quant` their quantization (head width
/// a multiple of 32), in one launch: scores in the block's shared memory where no head sees
/// more than [`ATTENTION_SHARED`] positions (`maxn` is at least the most any sees), else in
/// `s`.
pub(super) fn attention(
    sh: AttnShape,
    (q, k, v, meta): (BufId, BufId, BufId, BufId),
    (s, out): (BufId, BufId),
    quant: Option<QuantBufs>,
) -> Launch {
    let mut a = vec![Arg::Buf(q), Arg::Buf(k), Arg::Buf(v), Arg::Buf(meta)];
    a.extend(sh.ints());
    a.extend([Arg::Buf(s), Arg::Buf(out)]);
    let th = sh.ntok * sh.nh;
    let mut needs = vec![
        (q, th * sh.hd),
        (k, sh.cache_rows * sh.kv),
        (v, sh.cache_rows * sh.kv),
        (meta, 3 * sh.ntok),
        (s, th * sh.maxn),
        (out, th * sh.hd),
    ];
    match quant {
        Some(qa) => {
            a.extend(qa.args());
            needs.extend(qa.needs(th * sh.hd));
        }
        None => a.extend([Arg::Null, Arg::Null, Arg::Null]),
    }
    let kernel = if sh.maxn <= ATTENTION_SHARED {
        Kernel::Attention
    } else {
        Kernel::AttentionLong
    };
    launch(kernel, th, a, needs)
}

/// `out[i] = u[i] · SiLU(g[i])` (or GELU) for `n` elements.
pub(super) fn gated(gelu: bool, g: BufId, u: BufId, n: usize, out: BufId) -> Launch {
    let a = vec![
        Arg::I32(i32::from(gelu)),
        Arg::Buf(g),
        Arg::Buf(u),
        Arg::Buf(out),
    ];
    launch(Kernel::Gated, n, a, vec![(g, n), (u, n), (out, n)])
}

/// [`gated`] and the quantization of its `n` outputs (a multiple of 32) into `qa`, in one
/// launch (one thread per block of 32).
pub(super) fn gated_quant(
    gelu: bool,
    (g, u): (BufId, BufId),
    n: usize,
    out: BufId,
    qa: QuantBufs,
) -> Launch {
    let mut a = vec![
        Arg::I32(i32::from(gelu)),
        Arg::Buf(g),
        Arg::Buf(u),
        Arg::Buf(out),
    ];
    a.extend(qa.args());
    let mut needs = vec![(g, n), (u, n), (out, n)];
    needs.extend(qa.needs(n));
    launch(Kernel::GatedQuant, n / QK, a, needs)
}

/// `x[i] = c · tanhf(x[i] / c)` for `n` elements.
pub(super) fn softcap(x: BufId, n: usize, c: f32) -> Launch {
    launch(
        Kernel::Softcap,
        n,
        vec![Arg::Buf(x), Arg::F32(c)],
        vec![(x, n)],
    )
}

/// Rows `idx[r]` (of `src_rows`) of `x` into `out`, `nrows` rows of `width`.
pub(super) fn gather(
    x: BufId,
    src_rows: usize,
    idx: BufId,
    width: usize,
    nrows: usize,
    out: BufId,
) -> Launch {
    let a = vec![Arg::Buf(x), Arg::Buf(idx), int(width), Arg::Buf(out)];
    launch(
        Kernel::Gather,
        nrows * width,
        a,
        vec![(x, src_rows * width), (idx, nrows), (out, nrows * width)],
    )
}

#[cfg(test)]
mod tests {
    use super::{ATTENTION_SHARED, AttnShape, attention};
    use crate::forward::kernel::{BufId, Kernel};

    #[test]
    fn heads_that_see_more_than_shared_memory_holds_take_the_long_kernel() {
        let kernel = |maxn| {
            let sh = AttnShape {
                ntok: 2,
                nh: 9,
                group: 3,
                hd: 64,
                kv: 192,
                maxn,
                cache_rows: 8192,
            };
            let b = BufId;
            attention(sh, (b(0), b(1), b(2), b(3)), (b(4), b(5)), None).kernel
        };
        assert_eq!(kernel(1), Kernel::Attention);
        assert_eq!(kernel(ATTENTION_SHARED), Kernel::Attention);
        assert_eq!(kernel(ATTENTION_SHARED + 1), Kernel::AttentionLong);
        assert_eq!(kernel(2 * ATTENTION_SHARED), Kernel::AttentionLong);
    }
}
