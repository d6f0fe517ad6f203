//! The forward pass: embeddings, blocks (RMSNorm, attention with RoPE and a KV cache,
//! SwiGLU FFN; for Gemma 3 also Q/K norms, post-norms, GELU-tanh and sliding windows),
//! output norm and head. Every reduction runs in one fixed sequential order.

use std::sync::{Mutex, PoisonError};

use super::attend;
use super::ops::{gelu_mul, rmsnorm, rmsnorm_heads, rope, silu_mul, softcap};
use super::{Arch, EngineError, Layer, Model, Weight};
use crate::kernels::attention::{KB, push_key, push_value};
use crate::kernels::{Acts, Ctx, MatJob, dequant_row, matmul, matmul_many, matmul_rows};

/// Keys and values of one sequence, per layer, as binary16 (each the f32 value rounded to
/// nearest, ties to even): values position-major, keys in blocks of eight positions (see
/// `kernels::attention`).
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    k: Vec<Vec<u16>>,
    v: Vec<Vec<u16>>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `model`.
    pub fn new(model: &Model) -> KvCache {
        let n = model.config().n_layers;
        KvCache {
            k: vec![Vec::new(); n],
            v: vec![Vec::new(); n],
            len: 0,
        }
    }

    /// Positions stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the first `len` positions (all of them when `len` is past the end). What is
    /// kept is exactly what a cache fed only those positions holds, so a sequence continued
    /// from a truncated cache computes the same bits as one computed from the start.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        for (k, v) in self.k.iter_mut().zip(&mut self.v) {
            let kv_dim = v.len() / self.len;
            v.truncate(len * kv_dim);
            k.truncate(len.next_multiple_of(KB) * kv_dim);
        }
        self.len = len;
    }

    /// Heap bytes the stored positions take.
    pub fn bytes(&self) -> usize {
        let elems: usize = self.k.iter().chain(&self.v).map(Vec::len).sum();
        elems * std::mem::size_of::<u16>()
    }
}

/// Tokens of one sequence to run through the model, appended after its cache.
#[derive(Debug)]
pub(crate) struct SeqInput<'a> {
    pub(crate) cache: &'a mut KvCache,
    pub(crate) tokens: &'a [u32],
}

/// Calls `f(t, row)` for every `width`-wide row of `out`, spread over the team when there are
/// several: each row is computed the same way whichever thread takes it.
fn per_row(ctx: &Ctx, out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if out.len() <= width || ctx.threads() == 1 {
        for (t, row) in out.chunks_mut(width).enumerate() {
            f(t, row);
        }
        return;
    }
    let rows: Vec<Mutex<&mut [f32]>> = out.chunks_mut(width).map(Mutex::new).collect();
    ctx.parallel(rows.len(), |t| {
        let mut row = rows[t].lock().unwrap_or_else(PoisonError::into_inner);
        f(t, &mut row);
    });
}

fn mm(ctx: &Ctx, model: &Model, w: Weight, a: &Acts<'_>) -> Vec<f32> {
    let view = model.view(w);
    let mut out = vec![0f32; a.n() * view.rows];
    matmul(ctx, &view, a, &mut out);
    out
}

/// Where each token row of a batch comes from: `(sequence, position)` and its token id.
struct Batch {
    rows: Vec<(usize, usize)>,
    tokens: Vec<u32>,
}

impl Batch {
    /// Flattens the sequences' chunks into rows, refusing empty chunks, overlong sequences
    /// and token ids outside the vocabulary.
    fn of(model: &Model, seqs: &[SeqInput<'_>]) -> Result<Batch, EngineError> {
        let cfg = model.config();
        let mut batch = Batch {
            rows: Vec::new(),
            tokens: Vec::new(),
        };
        for (si, s) in seqs.iter().enumerate() {
            if s.tokens.is_empty() {
                return Err(EngineError::BadInput("empty token chunk".into()));
            }
            if s.cache.len + s.tokens.len() > cfg.context_length {
                return Err(EngineError::BadInput(format!(
                    "sequence needs {} positions, the context holds {}",
                    s.cache.len + s.tokens.len(),
                    cfg.context_length
                )));
            }
            for (i, &t) in s.tokens.iter().enumerate() {
                if t as usize >= cfg.vocab_size {
                    return Err(EngineError::BadInput(format!(
                        "token id {t} outside vocabulary {}",
                        cfg.vocab_size
                    )));
                }
                batch.rows.push((si, s.cache.len + i));
                batch.tokens.push(t);
            }
        }
        Ok(batch)
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    /// The token embeddings, one `n_embd` row per token; Gemma 3 multiplies each element
    /// by `sqrtf(n_embd)` (correctly rounded, so one f32 constant per model).
    fn embed(&self, model: &Model) -> Vec<f32> {
        let d = model.config().n_embd;
        let embd = model.view(model.embd);
        let mut x = vec![0f32; self.len() * d];
        for (i, &t) in self.tokens.iter().enumerate() {
            dequant_row(&embd, t as usize, &mut x[i * d..(i + 1) * d]);
        }
        if model.config().arch == Arch::Gemma3 {
            let scale = libm::sqrtf(d as f32);
            for v in &mut x {
                *v *= scale;
            }
        }
        x
    }

    /// `(cos, sin)` of every frequency in `freqs` at every row's position.
    fn rope_table(&self, freqs: &[f32]) -> Vec<Vec<(f32, f32)>> {
        self.rows
            .iter()
            .map(|&(_, p)| {
                freqs
                    .iter()
                    .map(|&f| {
                        let a = p as f32 * f;
                        (libm::cosf(a), libm::sinf(a))
                    })
                    .collect()
            })
            .collect()
    }
}

/// Runs all tokens of all sequences through the model, appending to their caches, and
/// returns the logits of each sequence's last token.
pub(crate) fn forward(
    model: &Model,
    ctx: &Ctx,
    seqs: &mut [SeqInput<'_>],
) -> Result<Vec<Vec<f32>>, EngineError> {
    forward_into(model, ctx, seqs, &mut Vec::new())
}

/// [`forward`], each sequence's logits written into a row taken from `spare` where one is
/// left (rows of an earlier step, handed back once read: memory already mapped, where a
/// fresh row of Gemma 3's 262,144 logits is a megabyte the kernel maps page by page on its
/// first write).
pub(crate) fn forward_into(
    model: &Model,
    ctx: &Ctx,
    seqs: &mut [SeqInput<'_>],
    spare: &mut Vec<Vec<f32>>,
) -> Result<Vec<Vec<f32>>, EngineError> {
    let batch = Batch::of(model, seqs)?;
    let mut x = batch.embed(model);
    let trig = batch.rope_table(&model.rope_freqs);
    let trig_swa = batch.rope_table(&model.rope_freqs_swa);
    for (li, layer) in model.layers.iter().enumerate() {
        let t = if model.config().swa_layers[li] {
            &trig_swa
        } else {
            &trig
        };
        attention_block(model, ctx, li, layer, &batch, t, seqs, &mut x);
        ffn_block(model, ctx, layer, batch.len(), &mut x);
    }
    for s in seqs.iter_mut() {
        s.cache.len += s.tokens.len();
    }
    Ok(head(model, ctx, seqs, &x, spare))
}

/// Normalises every row of `x` with the weight vector `norm` into a new buffer.
fn norm_rows(model: &Model, ctx: &Ctx, norm: Weight, x: &[f32]) -> Vec<f32> {
    let cfg = model.config();
    let d = cfg.n_embd;
    let nw = model.vector(norm);
    let mut xn = vec![0f32; x.len()];
    per_row(ctx, &mut xn, d, |t, out| {
        rmsnorm(&x[t * d..(t + 1) * d], &nw, cfg.rms_eps, out);
    });
    xn
}

/// Adds `y` to `x` element by element; with a post-norm weight (Gemma 3), `y`'s rows are
/// normalised with it first.
fn residual(model: &Model, ctx: &Ctx, post_norm: Option<Weight>, x: &mut [f32], y: &[f32]) {
    let normed;
    let y = match post_norm {
        Some(w) => {
            normed = norm_rows(model, ctx, w, y);
            &normed
        }
        None => y,
    };
    for (xi, yi) in x.iter_mut().zip(y) {
        *xi += *yi;
    }
}

/// `x[i] = x[i] + b[i]`: a projection's bias, each sum rounded on its own.
fn add_bias(x: &mut [f32], b: &[f32]) {
    for (xi, bi) in x.iter_mut().zip(b) {
        *xi += *bi;
    }
}

/// One layer's attention: norm, Q/K/V projections, (Qwen 2: their biases), (Qwen 3, Gemma 3:
/// per-head Q/K norms), RoPE, the
/// new keys and values appended to each sequence's cache, attention over the cache (or its
/// sliding window), output projection, (Gemma 3: post-norm), residual add.
#[allow(clippy::too_many_arguments)]
fn attention_block(
    model: &Model,
    ctx: &Ctx,
    li: usize,
    layer: &Layer,
    batch: &Batch,
    trig: &[Vec<(f32, f32)>],
    seqs: &mut [SeqInput<'_>],
    x: &mut [f32],
) {
    let cfg = model.config();
    let (d, hd, qd) = (cfg.n_embd, cfg.head_dim, cfg.q_dim());
    let kv_dim = cfg.kv_dim();
    let n = batch.len();
    let xn = norm_rows(model, ctx, layer.attn_norm, x);
    let a = Acts::new_in(ctx, &xn, d);
    let (mut q, mut k, mut v) = (
        vec![0f32; n * qd],
        vec![0f32; n * kv_dim],
        vec![0f32; n * kv_dim],
    );
    matmul_many(
        ctx,
        &mut [
            MatJob {
                w: model.view(layer.wq),
                a: &a,
                out: &mut q,
            },
            MatJob {
                w: model.view(layer.wk),
                a: &a,
                out: &mut k,
            },
            MatJob {
                w: model.view(layer.wv),
                a: &a,
                out: &mut v,
            },
        ],
    );
    let [bq, bk, bv] = layer.bias.map(|b| b.map(|w| model.vector(w)));
    let qk_norms = layer
        .qk_norm
        .map(|(qn, kn)| (model.vector(qn), model.vector(kn)));
    for (out, bias, width) in [
        (&mut q, &bq, qd),
        (&mut k, &bk, kv_dim),
        (&mut v, &bv, kv_dim),
    ] {
        if let Some(b) = bias {
            for row in out.chunks_exact_mut(width) {
                add_bias(row, b);
            }
        }
    }
    let neox = cfg.arch.rope_neox();
    for t in 0..n {
        let (qt, kt) = (
            &mut q[t * qd..(t + 1) * qd],
            &mut k[t * kv_dim..(t + 1) * kv_dim],
        );
        if let Some((qn, kn)) = &qk_norms {
            rmsnorm_heads(qt, qn, cfg.rms_eps);
            rmsnorm_heads(kt, kn, cfg.rms_eps);
        }
        rope(qt, hd, &trig[t], neox);
        rope(kt, hd, &trig[t], neox);
        let (si, pos) = batch.rows[t];
        let c = &mut *seqs[si].cache;
        push_key(&mut c.k[li], pos, &k[t * kv_dim..(t + 1) * kv_dim]);
        push_value(&mut c.v[li], &v[t * kv_dim..(t + 1) * kv_dim]);
    }
    let caches: Vec<(&[u16], &[u16])> = seqs
        .iter()
        .map(|s| (&s.cache.k[li][..], &s.cache.v[li][..]))
        .collect();
    let window = cfg.sliding_window.filter(|_| cfg.swa_layers[li]);
    let att = attend::attend_all(model, ctx, &batch.rows, &q, &caches, window);
    let o = mm(ctx, model, layer.wo, &Acts::new_in(ctx, &att, qd));
    residual(model, ctx, layer.gemma.as_ref().map(|g| g.attn_post), x, &o);
}

/// One layer's feed-forward network: norm, gate and up projections, SiLU(gate) x up
/// (Gemma 3: GELU-tanh(gate) x up), down projection, (Gemma 3: post-norm), residual add.
fn ffn_block(model: &Model, ctx: &Ctx, layer: &Layer, n: usize, x: &mut [f32]) {
    let cfg = model.config();
    let nff = cfg.n_ff;
    let xn = norm_rows(model, ctx, layer.ffn_norm, x);
    let a = Acts::new_in(ctx, &xn, cfg.n_embd);
    let (mut g, mut u) = (vec![0f32; n * nff], vec![0f32; n * nff]);
    matmul_many(
        ctx,
        &mut [
            MatJob {
                w: model.view(layer.gate),
                a: &a,
                out: &mut g,
            },
            MatJob {
                w: model.view(layer.up),
                a: &a,
                out: &mut u,
            },
        ],
    );
    // Element by element, so rows can run apart.
    let act = if cfg.arch == Arch::Gemma3 {
        gelu_mul
    } else {
        silu_mul
    };
    per_row(ctx, &mut u, nff, |t, urow| {
        act(ctx.simd(), &g[t * nff..(t + 1) * nff], urow);
    });
    let dn = mm(ctx, model, layer.down, &Acts::new_in(ctx, &u, nff));
    residual(model, ctx, layer.gemma.as_ref().map(|g| g.ffn_post), x, &dn);
}

/// The logits of each sequence's last row: output norm, then the output head, written
/// straight into each sequence's row (one from `spare` where there is one).
fn head(
    model: &Model,
    ctx: &Ctx,
    seqs: &[SeqInput<'_>],
    x: &[f32],
    spare: &mut Vec<Vec<f32>>,
) -> Vec<Vec<f32>> {
    let cfg = model.config();
    let d = cfg.n_embd;
    let mut last = Vec::with_capacity(seqs.len());
    let mut end = 0;
    for s in seqs {
        end += s.tokens.len();
        last.push(end - 1);
    }
    let nw = model.vector(model.output_norm);
    let mut h = vec![0f32; last.len() * d];
    for (i, &t) in last.iter().enumerate() {
        rmsnorm(
            &x[t * d..(t + 1) * d],
            &nw,
            cfg.rms_eps,
            &mut h[i * d..(i + 1) * d],
        );
    }
    let vocab = cfg.vocab_size;
    // A row handed back keeps its length, so taking it writes nothing before the matmul
    // (which sets every value); another length is resized.
    let mut logits: Vec<Vec<f32>> = last
        .iter()
        .map(|_| {
            let mut row = spare.pop().unwrap_or_default();
            row.resize(vocab, 0.0);
            row
        })
        .collect();
    let outs: Vec<&mut [f32]> = logits.iter_mut().map(Vec::as_mut_slice).collect();
    matmul_rows(
        ctx,
        &model.view(model.output),
        &Acts::new_in(ctx, &h, d),
        outs,
    );
    if let Some(c) = cfg.final_logit_softcap {
        for row in &mut logits {
            softcap(row, c);
        }
    }
    logits
}
