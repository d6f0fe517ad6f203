//! One batch step: the launches of the engine's forward pass (`model/forward.rs`) for every
//! token of every sequence, in its order.

use super::super::kernel::{ADD_NORM_MAX, BufId, Elem};
use super::super::ops::{self, AttnShape, Heads, Mat, Part, QK};
use super::super::{Device, ForwardError};
use super::{Forward, LayerBufs, bad, f32_bytes, i32_bytes, int};

/// The rows of one step: `(slot, position)` per token.
struct Rows(Vec<(usize, usize)>);

impl Rows {
    /// `[first cache row, first position seen, position]` per token, and the most positions
    /// any token sees.
    fn meta(
        &self,
        capacity: usize,
        window: Option<usize>,
    ) -> Result<(Vec<i32>, usize), ForwardError> {
        let mut meta = Vec::with_capacity(3 * self.0.len());
        let mut maxn = 1;
        for &(slot, pos) in &self.0 {
            let start = window.map_or(0, |w| (pos + 1).saturating_sub(w));
            maxn = maxn.max(pos + 1 - start);
            meta.extend([
                int(slot * capacity, "cache row")?,
                int(start, "position")?,
                int(pos, "position")?,
            ]);
        }
        Ok((meta, maxn))
    }

    /// `(cos, sin)` of `p · f` for every frequency at every row's position, as the engine
    /// computes its table (`libm`, on the host).
    fn trig(&self, freqs: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.0.len() * 2 * freqs.len());
        for &(_, p) in &self.0 {
            for &f in freqs {
                let a = p as f32 * f;
                out.extend([libm::cosf(a), libm::sinf(a)]);
            }
        }
        out
    }
}

impl<D: Device> Forward<'_, D> {
    /// Runs every token of every `(slot, tokens)` through the model, appending to the slots'
    /// caches, and returns the logits of each sequence's last token. A sequence's logits do
    /// not depend on the others in the batch, nor on how its tokens were split into steps.
    pub fn step(&mut self, seqs: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, ForwardError> {
        self.trace.clear();
        let rows = self.plan_rows(seqs)?;
        let n = rows.0.len();
        let sp = &self.spec;
        let (d, qd, kv, ff) = (sp.n_embd, sp.q_dim(), sp.kv_dim(), sp.n_ff);
        int(n * ff.max(qd).max(d).max(sp.vocab), "step elements")?;
        let sc = self.sc;
        let tokens: Vec<i32> = seqs
            .iter()
            .flat_map(|(_, t)| t.iter().map(|&t| t as i32))
            .collect();
        self.dev.upload(sc.tokens, Elem::I32, &i32_bytes(&tokens))?;
        let cache_rows: Vec<i32> = rows
            .0
            .iter()
            .map(|&(s, p)| int(s * self.capacity + p, "cache row"))
            .collect::<Result<_, _>>()?;
        self.dev
            .upload(sc.rows, Elem::I32, &i32_bytes(&cache_rows))?;
        self.dev
            .upload(sc.trig, Elem::F32, &f32_bytes(&rows.trig(&sp.rope_freqs)))?;
        self.dev.upload(
            sc.trig_swa,
            Elem::F32,
            &f32_bytes(&rows.trig(&sp.rope_freqs_swa)),
        )?;
        let window = sp.layers.iter().find_map(|l| l.window);
        // Score rows are a power of two apart, so that decode steps share their launches
        // (and a CUDA graph) until the context crosses the next one.
        let (meta, maxn) = rows.meta(self.capacity, None)?;
        let (meta_swa, maxn_swa) = rows.meta(self.capacity, window)?;
        let (maxn, maxn_swa) = (maxn.next_power_of_two(), maxn_swa.next_power_of_two());
        self.dev.upload(sc.meta, Elem::I32, &i32_bytes(&meta))?;
        self.dev
            .upload(sc.meta_swa, Elem::I32, &i32_bytes(&meta_swa))?;
        let big = ff.max(qd).max(d).max(kv);
        for (b, len) in [
            (sc.x, n * d),
            (sc.xn, n * d),
            (sc.q, n * qd),
            (sc.k, n * kv),
            (sc.v, n * kv),
            (sc.qn, n * qd),
            (sc.kn, n * kv),
            (sc.att, n * qd),
            (sc.o, n * d),
            (sc.g, n * ff),
            (sc.u, n * ff),
            (sc.act, n * ff),
            (sc.s, n * sp.n_head * maxn.max(maxn_swa)),
            (sc.qa.d, n * big / QK),
        ] {
            self.dev.alloc(b, Elem::F32, len)?;
        }
        self.dev.alloc(sc.qa.q, Elem::I8, n * big)?;
        self.dev.alloc(sc.qa.s, Elem::I32, n * big / QK)?;
        let ns = self.prepare_head(seqs)?;
        let e = self.embd;
        self.run(ops::embed(
            e.dtype, e.buf, e.rb, e.rows, e.cols, sc.tokens, n, sc.x,
        ))?;
        if let Some(c) = self.spec.embd_scale {
            self.run(ops::scale(sc.x, n * d, c))?;
        }
        // Whether the stream's next norm (into xn and its quantization) is done already: Gemma's
        // post-norm with the residual add takes it into its launch.
        let mut normed = false;
        for li in 0..self.layers.len() {
            let swa = self.spec.layers[li].rope_swa;
            let windowed = self.spec.layers[li].window.is_some();
            let (meta, maxn) = if windowed {
                (sc.meta_swa, maxn_swa)
            } else {
                (sc.meta, maxn)
            };
            let trig = if swa { sc.trig_swa } else { sc.trig };
            normed = self.attention_block(li, n, (trig, meta, maxn), normed)?;
            normed = self.ffn_block(li, n, normed)?;
        }
        for &(slot, t) in seqs {
            self.lens[slot] += t.len();
        }
        self.head(n, ns)
    }

    /// Checks the step and lays out its rows.
    fn plan_rows(&self, seqs: &[(usize, &[u32])]) -> Result<Rows, ForwardError> {
        let mut rows = Vec::new();
        for (i, &(slot, toks)) in seqs.iter().enumerate() {
            if slot >= self.lens.len() {
                return Err(bad(format!("slot {slot} of {}", self.lens.len())));
            }
            if seqs[..i].iter().any(|&(s, _)| s == slot) {
                return Err(bad(format!("slot {slot} twice in one step")));
            }
            if toks.is_empty() {
                return Err(bad("empty token chunk"));
            }
            let len = self.lens[slot];
            if len + toks.len() > self.capacity {
                return Err(bad(format!(
                    "slot {slot} needs {} positions, it holds {}",
                    len + toks.len(),
                    self.capacity
                )));
            }
            if let Some(t) = toks.iter().find(|&&t| t as usize >= self.spec.vocab) {
                return Err(bad(format!(
                    "token id {t} outside vocabulary {}",
                    self.spec.vocab
                )));
            }
            rows.extend((0..toks.len()).map(|j| (slot, len + j)));
        }
        if rows.is_empty() {
            return Err(bad("no sequences"));
        }
        Ok(Rows(rows))
    }

    /// Quantizes `n` rows of `cols` in `x` into the step's activation blocks when the rows
    /// are whole blocks (as the engine's `Acts`): every [`Self::project`] of `x` until the
    /// next call reads them, so the projections of one input share one quantization.
    fn quantize_rows(&mut self, x: BufId, n: usize, cols: usize) -> Result<(), ForwardError> {
        if cols.is_multiple_of(QK) {
            self.run(ops::quantize(x, n * cols, self.sc.qa))?;
        }
        Ok(())
    }

    /// RMSNorm of `n` rows of the model's width in `x` with weights `w` into `out`, and their
    /// quantization as [`Self::quantize_rows`] (in the same launch where rows are whole blocks).
    fn norm_rows(&mut self, x: BufId, w: BufId, n: usize, out: BufId) -> Result<(), ForwardError> {
        let (d, eps) = (self.spec.n_embd, self.spec.rms_eps);
        if d.is_multiple_of(QK) {
            self.run(ops::norm_quant(x, w, eps, (d, n), out, self.sc.qa))
        } else {
            self.run(ops::rmsnorm(x, w, eps, d, n, out))
        }
    }

    /// `part.out = x · wᵀ (+ bias)` for every part (matrices of one width) and `n` rows of `x`
    /// in one launch, reading the blocks the last [`Self::quantize_rows`] made (every
    /// quantized type needs them); with `accumulate`, added to what the outputs hold.
    fn project(
        &mut self,
        parts: &[Part],
        x: BufId,
        n: usize,
        accumulate: bool,
    ) -> Result<(), ForwardError> {
        let Some(first) = parts.first() else {
            return Ok(());
        };
        let cols = first.w.cols;
        if parts.len() > ops::PARTS_MAX || parts.iter().any(|p| p.w.cols != cols) {
            return Err(bad(
                "one launch's matrices must share their width (at most 3)",
            ));
        }
        if parts.iter().any(|p| p.w.quantized()) && !cols.is_multiple_of(QK) {
            return Err(bad(format!("quantized rows of {cols} values")));
        }
        let rows = parts.iter().map(|p| p.w.rows).sum();
        let tensor_cores = self.dev.tensor_cores() && parts.iter().all(|p| p.w.quantized());
        let tile = self.tile.for_launch(rows, n, tensor_cores);
        self.run(ops::matmul(
            parts,
            (x, cols, n),
            self.sc.qa,
            tile,
            accumulate,
        ))
    }

    /// Adds the output `y` of the projection `w` of `x` to the stream: in the projection's
    /// launch, or (post-normalised with `post` first) in the norm's. With `post` and `next`
    /// (the norm of the sublayer after it), that launch also normalizes the new stream into
    /// the next sublayer's input (xn and its quantization, as [`Self::norm_rows`]) where its
    /// rows are whole blocks of at most [`ADD_NORM_MAX`]; returns whether it did.
    fn residual(
        &mut self,
        (w, x): (Mat, BufId),
        post: Option<BufId>,
        n: usize,
        next: Option<BufId>,
    ) -> Result<bool, ForwardError> {
        let (d, eps, sc) = (self.spec.n_embd, self.spec.rms_eps, self.sc);
        let Some(post) = post else {
            self.project(&[part(w, sc.x)], x, n, true)?;
            return Ok(false);
        };
        self.project(&[part(w, sc.o)], x, n, false)?;
        match next {
            Some(pre) if d.is_multiple_of(QK) && d <= ADD_NORM_MAX => {
                self.run(ops::add_norm_quant(
                    sc.o,
                    (post, pre),
                    eps,
                    (d, n),
                    (sc.x, sc.xn),
                    sc.qa,
                ))?;
                Ok(true)
            }
            _ => {
                self.run(ops::rmsnorm_add(sc.o, post, eps, d, n, sc.x))?;
                Ok(false)
            }
        }
    }

    /// Layer `li`'s attention and its residual add, its input normalized first unless
    /// `normed` (the add before did it); returns whether the feed-forward's norm is done.
    fn attention_block(
        &mut self,
        li: usize,
        n: usize,
        (trig, meta, maxn): (BufId, BufId, usize),
        normed: bool,
    ) -> Result<bool, ForwardError> {
        let sp = &self.spec;
        let (hd, nh, nkv, eps, neox) = (
            sp.head_dim,
            sp.n_head,
            sp.n_head_kv,
            sp.rms_eps,
            sp.rope_neox,
        );
        let (qd, kv) = (sp.q_dim(), sp.kv_dim());
        let sc = self.sc;
        let l: &LayerBufs = &self.layers[li];
        let (attn_norm, wq, wk, wv, wo, bias, qk_norm, post) = (
            l.attn_norm,
            l.wq,
            l.wk,
            l.wv,
            l.wo,
            l.bias,
            l.qk_norm,
            l.post.map(|p| p.0),
        );
        let (k_cache, v_cache, ffn_norm) = (l.k_cache, l.v_cache, l.ffn_norm);
        let cache_rows = self.lens.len() * self.capacity;
        if !normed {
            self.norm_rows(sc.x, attn_norm, n, sc.xn)?;
        }
        let qkv = [(wq, sc.q), (wk, sc.k), (wv, sc.v)];
        let parts = qkv
            .iter()
            .zip(bias)
            .map(|(&(w, out), bias)| Part { w, bias, out })
            .collect::<Vec<_>>();
        self.project(&parts, sc.xn, n, false)?;
        let heads = Heads {
            ntok: n,
            nh,
            nkv,
            hd,
        };
        // The per-head norms (Qwen 3, Gemma 3) go into the RoPE's launch.
        let q = if let Some((qn, kn)) = qk_norm {
            self.run(ops::norm_rope_kv(
                heads,
                (sc.q, sc.k, sc.v),
                (qn, kn, eps),
                (sc.qn, sc.kn),
                (trig, neox),
                sc.rows,
                (k_cache, v_cache),
                cache_rows,
            ))?;
            sc.qn
        } else {
            self.run(ops::rope_kv(
                heads,
                (sc.q, sc.k, sc.v),
                (trig, neox),
                sc.rows,
                (k_cache, v_cache),
                cache_rows,
            ))?;
            sc.q
        };
        let sh = AttnShape {
            ntok: n,
            nh,
            group: nh / nkv,
            hd,
            kv,
            maxn,
            cache_rows,
        };
        // Heads of whole activation blocks quantize their outputs in the attention's launch.
        let quant = hd.is_multiple_of(QK).then_some(sc.qa);
        self.run(ops::attention(
            sh,
            (q, k_cache, v_cache, meta),
            (sc.s, sc.att),
            quant,
        ))?;
        if quant.is_none() {
            self.quantize_rows(sc.att, n, qd)?;
        }
        self.residual((wo, sc.att), post, n, Some(ffn_norm))
    }

    /// Layer `li`'s feed-forward and its residual add, its input normalized first unless
    /// `normed`; returns whether the next layer's norm is done.
    fn ffn_block(&mut self, li: usize, n: usize, normed: bool) -> Result<bool, ForwardError> {
        let (ff, gelu) = (self.spec.n_ff, self.spec.gelu);
        let sc = self.sc;
        let l = &self.layers[li];
        let (ffn_norm, gate, up, down, post) =
            (l.ffn_norm, l.gate, l.up, l.down, l.post.map(|p| p.1));
        let next = self.layers.get(li + 1).map(|l| l.attn_norm);
        if !normed {
            self.norm_rows(sc.x, ffn_norm, n, sc.xn)?;
        }
        self.project(&[part(gate, sc.g), part(up, sc.u)], sc.xn, n, false)?;
        if ff.is_multiple_of(QK) {
            self.run(ops::gated_quant(gelu, (sc.g, sc.u), n * ff, sc.act, sc.qa))?;
        } else {
            self.run(ops::gated(gelu, sc.g, sc.u, n * ff, sc.act))?;
        }
        self.residual((down, sc.act), post, n, next)
    }

    /// The head's inputs (each sequence's last row) and buffers, set before the step's first
    /// launch so that no copy splits the step's launches; returns the number of sequences.
    fn prepare_head(&mut self, seqs: &[(usize, &[u32])]) -> Result<usize, ForwardError> {
        let (d, vocab) = (self.spec.n_embd, self.spec.vocab);
        let sc = self.sc;
        let mut last = Vec::with_capacity(seqs.len());
        let mut end = 0;
        for (_, t) in seqs {
            end += t.len();
            last.push(int(end - 1, "row")?);
        }
        let ns = last.len();
        self.dev.upload(sc.last, Elem::I32, &i32_bytes(&last))?;
        self.dev.alloc(sc.h, Elem::F32, ns * d)?;
        self.dev.alloc(sc.hn, Elem::F32, ns * d)?;
        self.dev.alloc(sc.logits, Elem::F32, ns * vocab)?;
        Ok(ns)
    }

    /// Each of the `ns` sequences' last row of the `n`: output norm, head, soft-capping; read
    /// back.
    fn head(&mut self, n: usize, ns: usize) -> Result<Vec<Vec<f32>>, ForwardError> {
        let (d, vocab) = (self.spec.n_embd, self.spec.vocab);
        let sc = self.sc;
        self.run(ops::gather(sc.x, n, sc.last, d, ns, sc.h))?;
        self.norm_rows(sc.h, self.output_norm, ns, sc.hn)?;
        self.project(&[part(self.output, sc.logits)], sc.hn, ns, false)?;
        if let Some(c) = self.spec.softcap {
            self.run(ops::softcap(sc.logits, ns * vocab, c))?;
        }
        self.dev.read_f32_rows(sc.logits, ns, vocab)
    }
}

/// A matrix of a launch without a bias.
fn part(w: Mat, out: BufId) -> Part {
    Part { w, bias: None, out }
}
