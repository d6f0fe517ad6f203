//! [`Forward`]: a model's weights and KV cache slots on a [`Device`], and one batch step as
//! the sequence of launches the engine's forward pass computes (`model/forward.rs`).

use super::kernel::{BufId, Elem, Launch};
use super::ops::{Mat, QuantBufs};
use super::spec::{ModelSpec, Tensor};
use super::{Device, ForwardError};

/// One block's buffers.
#[derive(Debug)]
struct LayerBufs {
    attn_norm: BufId,
    wq: Mat,
    wk: Mat,
    wv: Mat,
    wo: Mat,
    ffn_norm: BufId,
    gate: Mat,
    up: Mat,
    down: Mat,
    bias: [Option<BufId>; 3],
    qk_norm: Option<(BufId, BufId)>,
    post: Option<(BufId, BufId)>,
    k_cache: BufId,
    v_cache: BufId,
}

/// Per-step buffers, resized each step.
#[derive(Debug, Clone, Copy)]
struct Scratch {
    tokens: BufId,
    rows: BufId,
    last: BufId,
    trig: BufId,
    trig_swa: BufId,
    meta: BufId,
    meta_swa: BufId,
    x: BufId,
    xn: BufId,
    qa: QuantBufs,
    q: BufId,
    k: BufId,
    v: BufId,
    qn: BufId,
    kn: BufId,
    s: BufId,
    att: BufId,
    o: BufId,
    g: BufId,
    u: BufId,
    act: BufId,
    h: BufId,
    hn: BufId,
    logits: BufId,
}

/// A model on a device with `slots` KV caches of `capacity` positions each.
#[derive(Debug)]
pub struct Forward<'m, D: Device> {
    dev: D,
    spec: ModelSpec<'m>,
    layers: Vec<LayerBufs>,
    embd: Mat,
    output: Mat,
    output_norm: BufId,
    sc: Scratch,
    capacity: usize,
    lens: Vec<usize>,
    tile: MatmulTile,
    /// Launches of the last step (what a GPU step launches, in order).
    trace: Vec<Launch>,
}

/// How the matmul shares its outputs among the GPU's warps. A warp takes one weight row with
/// a tile of tokens, or a block of 8 warps a tensor-core tile of 16 rows by 8 tokens (the
/// row's blocks shared among the warps, each output then summed by one thread), or one warp
/// such a tile alone (the whole row, each output summed by the lane that holds it). Each
/// output's arithmetic is the same whatever the tiling (the logits do not change); a larger
/// tile of tokens reads each weight row once for more tokens but leaves fewer threads, and
/// tensor-core tiles form a block's integer products with `mma` instead of `dp4a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulTile {
    /// Tensor-core tiles for launches of at least [`MatmulTile::MMA_MIN_TOKENS`] tokens whose
    /// weights are all quantized, on a device with tensor cores, a warp each where that
    /// makes at least [`MatmulTile::MMA_WARP_MIN_TILES`] tiles (a model's output head), else
    /// a block each; otherwise the largest tile of tokens (1, 2, 4 or 8) that still gives
    /// the launch `min_threads` threads.
    Auto {
        /// Threads a launch keeps at least (where it had them with a tile of one).
        min_threads: usize,
    },
    /// Always this many tokens (1 to 8).
    Fixed(usize),
    /// Always tensor-core tiles (F32/F16 weights, or a device without tensor cores, then
    /// take one thread a row of the tile: the same results, slowly).
    Mma,
    /// Always tensor-core tiles of one warp each (as `Mma` where there are no integer
    /// products).
    MmaWarp,
}

impl std::fmt::Display for MatmulTile {
    /// `auto`, `auto:<min threads>` (another minimum than the default's) or the fixed tile.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            MatmulTile::DEFAULT => f.write_str("auto"),
            MatmulTile::Auto { min_threads } => write!(f, "auto:{min_threads}"),
            MatmulTile::Fixed(t) => write!(f, "{t}"),
            MatmulTile::Mma => f.write_str("mma"),
            MatmulTile::MmaWarp => f.write_str("mma-warp"),
        }
    }
}

impl std::str::FromStr for MatmulTile {
    type Err = String;

    /// Parses what `Display` writes: `auto`, `auto:<min threads>`, a tile of 1 to 8, `mma` or
    /// `mma-warp`.
    fn from_str(s: &str) -> Result<MatmulTile, String> {
        let bad = || {
            format!("matmul tile {s:?}: expected auto, auto:<min threads>, 1 to 8, mma or mma-warp")
        };
        match s {
            "auto" => return Ok(MatmulTile::DEFAULT),
            "mma" => return Ok(MatmulTile::Mma),
            "mma-warp" => return Ok(MatmulTile::MmaWarp),
            _ => {}
        }
        if let Some(n) = s.strip_prefix("auto:") {
            let min_threads = n.parse().map_err(|_| bad())?;
            return Ok(MatmulTile::Auto { min_threads });
        }
        match s.parse::<usize>() {
            Ok(t) if (1..=crate::host::TILE_MAX).contains(&t) => Ok(MatmulTile::Fixed(t)),
            _ => Err(bad()),
        }
    }
}

impl MatmulTile {
    /// The default: tiles only where a launch keeps 32768 threads (1024 warps, one per
    /// output group), about two warps on each scheduler of an H200's 132 multiprocessors. Not
    /// yet tuned on a GPU.
    pub const DEFAULT: MatmulTile = MatmulTile::Auto { min_threads: 32768 };

    /// Tokens a launch needs for `Auto` to take tensor-core tiles (a tile's 8 token columns
    /// are computed whether or not they hold tokens).
    pub const MMA_MIN_TOKENS: usize = 8;

    /// Tensor-core tiles a launch needs for `Auto` to give each its own warp: about as many
    /// warps as an H200's 132 multiprocessors hold at once (64 each), so that the warps fill
    /// the GPU without the block's barriers. Only output heads have that many at the batch
    /// sizes the engine runs (Gemma 3's 262,144 rows make 16,384 tiles at 8 tokens). Not yet
    /// tuned on a GPU.
    pub const MMA_WARP_MIN_TILES: usize = 8192;

    /// The matmul's tile argument for a launch over `rows` weight rows and `ntok` tokens:
    /// tokens per warp (1 to 8), [`crate::host::TILE_MMA`] or [`crate::host::TILE_MMA_WARP`].
    /// `tensor_cores`: whether the device has them and every matrix of the launch is
    /// quantized.
    pub fn for_launch(self, rows: usize, ntok: usize, tensor_cores: bool) -> usize {
        use crate::host::{TILE_MMA, TILE_MMA_WARP, matmul_groups};
        match self {
            MatmulTile::Mma => TILE_MMA,
            MatmulTile::MmaWarp => TILE_MMA_WARP,
            MatmulTile::Auto { .. } if tensor_cores && ntok >= Self::MMA_MIN_TOKENS => {
                if matmul_groups(rows, ntok, TILE_MMA_WARP) >= Self::MMA_WARP_MIN_TILES {
                    TILE_MMA_WARP
                } else {
                    TILE_MMA
                }
            }
            _ => self.for_shape(rows, ntok),
        }
    }

    /// The tile of tokens of a launch over `rows` weight rows and `ntok` tokens where it does
    /// not take tensor-core tiles (`Mma` gives the largest).
    pub fn for_shape(self, rows: usize, ntok: usize) -> usize {
        match self {
            MatmulTile::Fixed(t) => t.clamp(1, crate::host::TILE_MAX),
            MatmulTile::Mma | MatmulTile::MmaWarp => crate::host::TILE_MAX,
            MatmulTile::Auto { min_threads } => {
                let threads = |tile: usize| rows * ntok.div_ceil(tile) * super::MATMUL_LANES;
                let mut tile = 1;
                while tile * 2 <= crate::host::TILE_MAX
                    && tile < ntok
                    && threads(tile * 2) >= min_threads
                {
                    tile *= 2;
                }
                tile
            }
        }
    }
}

/// Hands out buffer ids.
struct Ids(usize);

impl Ids {
    fn next(&mut self) -> BufId {
        self.0 += 1;
        BufId(self.0 - 1)
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Uploads an F32 vector.
fn up_vec<D: Device>(dev: &mut D, ids: &mut Ids, v: &[f32]) -> Result<BufId, ForwardError> {
    let b = ids.next();
    dev.upload(b, Elem::F32, &f32_bytes(v))?;
    Ok(b)
}

/// Uploads a weight matrix after checking its bytes are whole rows of a type the kernels take.
fn up_mat<D: Device>(dev: &mut D, ids: &mut Ids, t: &Tensor<'_>) -> Result<Mat, ForwardError> {
    let rb = crate::host::row_bytes(t.dtype, t.cols);
    if rb == 0 || t.data.len() != rb * t.rows {
        return Err(bad(format!(
            "weight of type {} with {} columns is not {} whole rows",
            t.dtype, t.cols, t.rows
        )));
    }
    let buf = ids.next();
    dev.upload(buf, Elem::U8, t.data)?;
    Ok(Mat {
        buf,
        dtype: t.dtype,
        rows: t.rows,
        cols: t.cols,
        rb,
    })
}

fn bad(msg: impl Into<String>) -> ForwardError {
    ForwardError::BadInput(msg.into())
}

fn int(v: usize, what: &str) -> Result<i32, ForwardError> {
    i32::try_from(v).map_err(|_| bad(format!("{what} {v} exceeds i32")))
}

impl<'m, D: Device> Forward<'m, D> {
    /// Uploads `spec`'s weights to `dev` and allocates `slots` caches of `capacity` positions.
    pub fn new(
        mut dev: D,
        spec: ModelSpec<'m>,
        slots: usize,
        capacity: usize,
    ) -> Result<Self, ForwardError> {
        let ids = &mut Ids(0);
        let (kv, rows) = (spec.kv_dim(), slots * capacity);
        int(rows * kv, "cache elements")?;
        if spec.embd.rows < spec.vocab || spec.output.rows != spec.vocab {
            return Err(bad("embedding or output rows do not match the vocabulary"));
        }
        let mut layers = Vec::with_capacity(spec.layers.len());
        for l in &spec.layers {
            let attn_norm = up_vec(&mut dev, ids, &l.attn_norm)?;
            let ffn_norm = up_vec(&mut dev, ids, &l.ffn_norm)?;
            let mut bias = [None; 3];
            for (slot, b) in bias.iter_mut().zip(&l.bias) {
                if let Some(b) = b {
                    *slot = Some(up_vec(&mut dev, ids, b)?);
                }
            }
            let mut pair =
                |p: &Option<(Vec<f32>, Vec<f32>)>| -> Result<Option<(BufId, BufId)>, ForwardError> {
                    match p {
                        Some((a, b)) => {
                            Ok(Some((up_vec(&mut dev, ids, a)?, up_vec(&mut dev, ids, b)?)))
                        }
                        None => Ok(None),
                    }
                };
            let (qk_norm, post) = (pair(&l.qk_norm)?, pair(&l.post_norms)?);
            let mut m = |t: &Tensor<'_>| up_mat(&mut dev, ids, t);
            let (wq, wk, wv, wo) = (m(&l.wq)?, m(&l.wk)?, m(&l.wv)?, m(&l.wo)?);
            let (gate, up, down) = (m(&l.gate)?, m(&l.up)?, m(&l.down)?);
            // The projections of one input share its quantization (`quantize_rows`).
            let (d, qd, ff) = (spec.n_embd, spec.q_dim(), spec.n_ff);
            for (w, cols) in [
                (wq, d),
                (wk, d),
                (wv, d),
                (gate, d),
                (up, d),
                (wo, qd),
                (down, ff),
            ] {
                if w.cols != cols {
                    return Err(bad(format!(
                        "a layer's weight has {} columns where {cols} are needed",
                        w.cols
                    )));
                }
            }
            let (k_cache, v_cache) = (ids.next(), ids.next());
            dev.alloc(k_cache, Elem::U16, rows * kv)?;
            dev.alloc(v_cache, Elem::U16, rows * kv)?;
            layers.push(LayerBufs {
                attn_norm,
                wq,
                wk,
                wv,
                wo,
                ffn_norm,
                gate,
                up,
                down,
                bias,
                qk_norm,
                post,
                k_cache,
                v_cache,
            });
        }
        let output_norm = up_vec(&mut dev, ids, &spec.output_norm)?;
        let embd = up_mat(&mut dev, ids, &spec.embd)?;
        let output = if std::ptr::eq(spec.output.data, spec.embd.data) {
            embd
        } else {
            up_mat(&mut dev, ids, &spec.output)?
        };
        let mut n = || ids.next();
        let sc = Scratch {
            tokens: n(),
            rows: n(),
            last: n(),
            trig: n(),
            trig_swa: n(),
            meta: n(),
            meta_swa: n(),
            x: n(),
            xn: n(),
            qa: QuantBufs {
                q: n(),
                d: n(),
                s: n(),
            },
            q: n(),
            k: n(),
            v: n(),
            qn: n(),
            kn: n(),
            s: n(),
            att: n(),
            o: n(),
            g: n(),
            u: n(),
            act: n(),
            h: n(),
            hn: n(),
            logits: n(),
        };
        Ok(Forward {
            dev,
            spec,
            layers,
            embd,
            output,
            output_norm,
            sc,
            capacity,
            lens: vec![0; slots],
            tile: MatmulTile::DEFAULT,
            trace: Vec::new(),
        })
    }

    /// How many slots (sequences that can decode together) there are.
    pub fn slots(&self) -> usize {
        self.lens.len()
    }

    /// Positions each slot's cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The same session no longer borrowing the model's bytes: the weights are on the device
    /// since [`Forward::new`], and a step reads only the spec's shapes and small vectors. A
    /// front end can then keep it next to the model it was built from.
    pub fn into_owned(self) -> Forward<'static, D> {
        let Forward {
            dev,
            spec,
            layers,
            embd,
            output,
            output_norm,
            sc,
            capacity,
            lens,
            tile,
            trace,
        } = self;
        Forward {
            dev,
            spec: spec.shapes_only(),
            layers,
            embd,
            output,
            output_norm,
            sc,
            capacity,
            lens,
            tile,
            trace,
        }
    }

    /// Positions stored in `slot`'s cache.
    pub fn len(&self, slot: usize) -> usize {
        self.lens.get(slot).copied().unwrap_or(0)
    }

    /// Empties `slot`'s cache (its old entries are overwritten as new positions arrive).
    pub fn reset(&mut self, slot: usize) {
        if let Some(l) = self.lens.get_mut(slot) {
            *l = 0;
        }
    }

    /// Sets how the matmul shares its outputs among warps; a fixed tile must be 1 to 8.
    pub fn set_matmul_tile(&mut self, tile: MatmulTile) -> Result<(), ForwardError> {
        if let MatmulTile::Fixed(t) = tile
            && !(1..=crate::host::TILE_MAX).contains(&t)
        {
            return Err(bad(format!("matmul tile {t} outside 1..=8")));
        }
        self.tile = tile;
        Ok(())
    }

    /// The launches of the last step, in order.
    pub fn trace(&self) -> &[Launch] {
        &self.trace
    }

    /// Takes back logits rows [`Forward::step`] returned, once read, for a later step to
    /// refill ([`Device::recycle_rows`]).
    pub fn recycle(&mut self, rows: Vec<Vec<f32>>) {
        self.dev.recycle_rows(rows);
    }

    /// The device.
    pub fn device(&mut self) -> &mut D {
        &mut self.dev
    }

    fn run(&mut self, l: Launch) -> Result<(), ForwardError> {
        self.dev.launch(&l)?;
        self.trace.push(l);
        Ok(())
    }
}

mod step;
