//! The forward pass's kernels as launches: a kernel, an output count (one GPU thread or one
//! host loop iteration per output) and an argument list that both the GPU (`cuLaunchKernel`'s
//! `kernelParams`) and the host build (`ak_host_launch`) read the same way.

/// A buffer the launches read or write, by index in the executor's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufId(pub usize);

/// Element type of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// Raw bytes (weights).
    U8,
    /// Quantized activations.
    I8,
    /// Binary16 cache entries.
    U16,
    /// Token ids, row indices, block sums.
    I32,
    /// Activations, norms, logits.
    F32,
}

impl Elem {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Elem::U8 | Elem::I8 => 1,
            Elem::U16 => 2,
            Elem::I32 | Elem::F32 => 4,
        }
    }
}

/// One kernel argument after the output count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg {
    /// A device (or host) buffer's address.
    Buf(BufId),
    /// `int`.
    I32(i32),
    /// `float`.
    F32(f32),
    /// A null pointer (a buffer argument the launch does not use).
    Null,
}

impl Arg {
    /// The argument's 8-byte slot given a buffer's address: pointers whole, `int` and
    /// `float` in the low four bytes (little-endian, as both kernels' readers take them).
    pub fn slot(self, addr: impl Fn(BufId) -> u64) -> u64 {
        match self {
            Arg::Buf(b) => addr(b),
            Arg::I32(v) => u64::from(v as u32),
            Arg::F32(v) => u64::from(v.to_bits()),
            Arg::Null => 0,
        }
    }
}

/// GPU threads per matmul output group or quantized block (`AK_MM_LANES`): a warp.
pub const MATMUL_LANES: usize = 32;

/// GPU threads per (token, head) of the attention (`AK_ATTN_THREADS`): one block.
pub const ATTENTION_THREADS: usize = 256;
/// Positions whose scores [`Kernel::Attention`] keeps in a block's shared memory
/// (`AK_ATTN_SHARED`): a launch whose heads may see more takes [`Kernel::AttentionLong`].
pub const ATTENTION_SHARED: usize = 4096;
/// Widest row [`Kernel::AddNormQuant`] takes (`AK_ADD_NORM_MAX`: the row's squares and new
/// values in a block's shared memory); wider rows take its two launches.
pub const ADD_NORM_MAX: usize = 4096;

/// The forward kernels (`kernels/ak_forward.cuh`), in the order of their `AK_K_*` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Token embedding rows (dequantized).
    Embed,
    /// Multiply by a constant.
    Scale,
    /// RMSNorm per row.
    RmsNorm,
    /// Activation quantization per block of 32.
    Quantize,
    /// RMSNorm and quantization per block of 32.
    NormQuant,
    /// Dot products of up to three weight matrices per (weight row, tile of tokens).
    Matmul,
    /// RMSNorm per row added to the rows of its output (a post-norm and its residual add).
    RmsNormAdd,
    /// RoPE per pair of the queries and keys, and the binary16 key and value cache write.
    RopeKv,
    /// Attention per (token, head): scores, softmax, value sums and optionally their
    /// quantization, by one block, the scores in its shared memory (heads that see at most
    /// [`ATTENTION_SHARED`] positions).
    Attention,
    /// SiLU or GELU gating.
    Gated,
    /// SiLU or GELU gating and quantization per block of 32.
    GatedQuant,
    /// Logit soft-capping.
    Softcap,
    /// Row gather.
    Gather,
    /// The matmul in tensor-core tiles (16 weight rows by 8 tokens, a block of 8 warps each).
    MatmulMma,
    /// [`Kernel::Attention`] for heads that see more than [`ATTENTION_SHARED`] positions: their
    /// scores in global memory instead of the block's shared memory.
    AttentionLong,
    /// The matmul in tensor-core tiles of 16 weight rows by 8 tokens, one warp each over the
    /// whole row (for matrices of many short rows: a model's output head).
    MatmulMmaWarp,
    /// Gemma 3's post-norm and residual add, then the next sublayer's norm with quantization,
    /// a row a block ([`RmsNormAdd`](Kernel::RmsNormAdd) and [`NormQuant`](Kernel::NormQuant)
    /// in one launch).
    AddNormQuant,
    /// Per-head query and key norms (Qwen 3, Gemma 3) with the RoPE and the cache writes, a
    /// warp a head ([`RmsNorm`](Kernel::RmsNorm) twice and [`RopeKv`](Kernel::RopeKv) in one
    /// launch).
    NormRopeKv,
}

impl Kernel {
    /// Every kernel, in id order.
    pub const ALL: [Kernel; 18] = [
        Kernel::Embed,
        Kernel::Scale,
        Kernel::RmsNorm,
        Kernel::Quantize,
        Kernel::NormQuant,
        Kernel::Matmul,
        Kernel::RmsNormAdd,
        Kernel::RopeKv,
        Kernel::Attention,
        Kernel::Gated,
        Kernel::GatedQuant,
        Kernel::Softcap,
        Kernel::Gather,
        Kernel::MatmulMma,
        Kernel::AttentionLong,
        Kernel::MatmulMmaWarp,
        Kernel::AddNormQuant,
        Kernel::NormRopeKv,
    ];

    /// The `AK_K_*` id `ak_host_launch` takes.
    pub fn id(self) -> i32 {
        self as i32
    }

    /// GPU threads per output: the matmul's outputs are (weight row, tile of tokens) groups,
    /// each computed by one warp together (`ak_matmul_group`), or in tensor-core tiles warps
    /// of which each 8 compute one tile (`ak_matmul_mma`) or each one alone
    /// (`ak_matmul_mma_warp`); the norm's and the gating's
    /// with quantization are activation blocks, a warp each (`ak_quantize_block_warp`); the
    /// plain norm's (with or without the add) are rows, a warp each, and the per-head norms
    /// with the RoPE heads and groups of 32 values, a warp each; the attention's are (token, head) pairs, each one
    /// 256-thread block's, and so are the add with the next norm's rows; every other kernel runs one thread per output. The host build
    /// loops over the outputs either way.
    pub fn lanes(self) -> usize {
        match self {
            Kernel::Matmul
            | Kernel::MatmulMma
            | Kernel::MatmulMmaWarp
            | Kernel::NormQuant
            | Kernel::GatedQuant
            | Kernel::RmsNorm
            | Kernel::RmsNormAdd
            | Kernel::NormRopeKv => MATMUL_LANES,
            Kernel::Attention | Kernel::AttentionLong | Kernel::AddNormQuant => ATTENTION_THREADS,
            _ => 1,
        }
    }

    /// The `__global__` function's name in the module.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Embed => "ak_fwd_embed",
            Kernel::Scale => "ak_fwd_scale",
            Kernel::RmsNorm => "ak_fwd_rmsnorm",
            Kernel::Quantize => "ak_fwd_quantize",
            Kernel::NormQuant => "ak_fwd_norm_quant",
            Kernel::Matmul => "ak_fwd_matmul",
            Kernel::RmsNormAdd => "ak_fwd_rmsnorm_add",
            Kernel::RopeKv => "ak_fwd_rope_kv",
            Kernel::Attention => "ak_fwd_attention",
            Kernel::Gated => "ak_fwd_gated",
            Kernel::GatedQuant => "ak_fwd_gated_quant",
            Kernel::Softcap => "ak_fwd_softcap",
            Kernel::Gather => "ak_fwd_gather",
            Kernel::MatmulMma => "ak_fwd_matmul_mma",
            Kernel::AttentionLong => "ak_fwd_attention_long",
            Kernel::MatmulMmaWarp => "ak_fwd_matmul_mma_warp",
            Kernel::AddNormQuant => "ak_fwd_add_norm_quant",
            Kernel::NormRopeKv => "ak_fwd_norm_rope_kv",
        }
    }
}

/// One kernel launch: `n` outputs, the arguments after `n`, and for each buffer argument
/// the elements the launch may touch (checked against the buffer before it runs).
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The kernel.
    pub kernel: Kernel,
    /// Outputs (threads).
    pub n: usize,
    /// Arguments after `n`, in the kernel's order.
    pub args: Vec<Arg>,
    /// `(buffer, elements it must hold)` for every buffer argument.
    pub needs: Vec<(BufId, usize)>,
}

impl Launch {
    /// GPU threads: [`Kernel::lanes`] per output.
    pub fn threads(&self) -> usize {
        self.n * self.kernel.lanes()
    }
}
