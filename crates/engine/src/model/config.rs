//! Hyper-parameters from the GGUF header, each checked against the others and against the
//! file's tensor table before anything is sized by them: a header may claim any number, and
//! a number used to size an allocation before it is checked aborts the process.

use crate::gguf::{GgufFile, MetaValue};

use super::EngineError;
use super::arch::{Arch, Keys};

/// Tensors outside the blocks that every model has (`token_embd`, `output_norm`).
const TENSORS_OUTSIDE_BLOCKS: usize = 2;
/// Gemma 3's default layer pattern: in each run of six layers the first five use the
/// sliding window and the sixth is global (llama.cpp's `set_swa_pattern(6)`).
const GEMMA3_SWA_PATTERN: u32 = 6;
/// RoPE base of sliding-window layers when the file does not say (llama.cpp's default).
const DEFAULT_ROPE_BASE_SWA: f32 = 10_000.0;

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The architecture (`general.architecture`).
    pub arch: Arch,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Hidden width.
    pub n_embd: usize,
    /// FFN hidden width.
    pub n_ff: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_head_kv: usize,
    /// Width of one head: `attention.key_length` when the file has it (Gemma 3, Qwen 3), else
    /// `n_embd / n_head`.
    pub head_dim: usize,
    /// Vocabulary size (rows of the output head).
    pub vocab_size: usize,
    /// Trained context length: the most positions a sequence may use.
    pub context_length: usize,
    /// RoPE frequency base (global layers).
    pub rope_base: f32,
    /// RoPE frequency base of sliding-window layers.
    pub rope_base_swa: f32,
    /// Linear RoPE scaling: every frequency is multiplied by it (`1 / rope.scaling.factor`
    /// under `rope.scaling.type = linear`, else 1).
    pub rope_freq_scale: f32,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// Sliding window: a query at position `p` sees keys at `p - window < j <= p` on the
    /// layers marked in `swa_layers`. `None`: every layer is global.
    pub sliding_window: Option<usize>,
    /// Per layer, whether it uses the sliding window (all false without one).
    pub swa_layers: Vec<bool>,
    /// Final logit soft-capping `c · tanh(logit / c)`, when the file sets it.
    pub final_logit_softcap: Option<f32>,
}

fn bad(key: &'static str, value: impl std::fmt::Display, reason: impl Into<String>) -> EngineError {
    EngineError::BadConfig {
        key,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A size that must be at least 1.
fn positive(g: &GgufFile, key: &'static str) -> Result<usize, EngineError> {
    let v = g.meta_u32(key)? as usize;
    if v == 0 {
        return Err(bad(key, v, "must be at least 1"));
    }
    Ok(v)
}

/// An optional f32 that must be finite and above 0.
fn positive_f32(g: &GgufFile, key: &'static str) -> Result<Option<f32>, EngineError> {
    if g.meta(key).is_none() {
        return Ok(None);
    }
    let v = g.meta_f32(key)?;
    if !(v.is_finite() && v > 0.0) {
        return Err(bad(key, v, "must be above 0"));
    }
    Ok(Some(v))
}

impl ModelConfig {
    /// Query width: `n_head * head_dim` (Gemma 3's is wider than `n_embd`).
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Key/value width: `n_head_kv * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Reads and checks the header's numbers; `vocab_size` is left 0 (the embedding
    /// tensor gives it). Widths are checked against each other here and against the
    /// tensors by the loader; the block count against the tensor table here.
    pub(crate) fn from_gguf(g: &GgufFile, arch: Arch) -> Result<ModelConfig, EngineError> {
        let k = arch.keys();
        let n_embd = positive(g, k.embedding_length)?;
        let n_head = positive(g, k.head_count)?;
        let n_head_kv = match g.meta(k.head_count_kv) {
            None => n_head,
            Some(_) => positive(g, k.head_count_kv)?,
        };
        let head_dim = head_dim(g, k, n_embd, n_head)?;
        if !n_head.is_multiple_of(n_head_kv) {
            return Err(bad(
                k.head_count_kv,
                n_head_kv,
                format!("does not divide {} = {n_head}", k.head_count),
            ));
        }
        if head_dim % 2 != 0 {
            return Err(EngineError::Unsupported(format!(
                "odd head width {head_dim} ({} {n_embd}, {} {n_head})",
                k.embedding_length, k.head_count
            )));
        }
        let rope_base = positive_f32(g, k.rope_freq_base)?.unwrap_or(10_000.0);
        if g.meta(k.rope_dimension_count).is_some() {
            let n_rot = g.meta_u32(k.rope_dimension_count)? as usize;
            if n_rot != head_dim {
                return Err(EngineError::Unsupported(format!(
                    "{} = {n_rot}: RoPE on part of a head (the head is {head_dim} wide)",
                    k.rope_dimension_count
                )));
            }
        }
        let rope_freq_scale = rope_scaling(g, k)?;
        let rms_eps = g.meta_f32(k.rms_eps)?;
        if !(rms_eps.is_finite() && rms_eps >= 0.0) {
            return Err(bad(
                k.rms_eps,
                rms_eps,
                "must be a finite number, 0 or more",
            ));
        }
        let n_layers = block_count(g, arch)?;
        let (sliding_window, swa_layers) = sliding(g, arch, k, n_layers)?;
        let config = ModelConfig {
            arch,
            n_layers,
            n_embd,
            n_ff: positive(g, k.feed_forward_length)?,
            n_head,
            n_head_kv,
            head_dim,
            vocab_size: 0,
            context_length: positive(g, k.context_length)?,
            rope_base,
            rope_base_swa: positive_f32(g, k.rope_freq_base_swa)?.unwrap_or(DEFAULT_ROPE_BASE_SWA),
            rope_freq_scale,
            rms_eps,
            sliding_window,
            swa_layers,
            final_logit_softcap: match arch {
                Arch::Gemma3 => positive_f32(g, k.final_logit_softcapping)?,
                _ => None,
            },
        };
        config.check_widths(g)?;
        Ok(config)
    }

    /// The widths the header claims against the tensors that carry them, so a wrong one is
    /// named as the header key (missing tensors are left to the loader to name).
    fn check_widths(&self, g: &GgufFile) -> Result<(), EngineError> {
        let kv = self.kv_dim();
        let k = self.arch.keys();
        for (key, value, tensor, dim, want) in [
            (
                k.embedding_length,
                self.n_embd,
                "token_embd.weight",
                0,
                self.n_embd,
            ),
            (
                k.feed_forward_length,
                self.n_ff,
                "blk.0.ffn_up.weight",
                1,
                self.n_ff,
            ),
            (
                k.head_count_kv,
                self.n_head_kv,
                "blk.0.attn_k.weight",
                1,
                kv,
            ),
        ] {
            let Some(t) = g.tensors().iter().find(|t| t.name == tensor) else {
                continue;
            };
            let have = t.dims.get(dim).copied().unwrap_or(1);
            if have != want as u64 {
                return Err(bad(
                    key,
                    value,
                    format!(
                        "tensor {tensor} has {have} in dimension {dim}, the header implies {want}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The block count, which the tensor table must bear out: the architecture's tensors per
/// block plus the embedding and output norm, and no `blk.N.*` tensor for a block past it.
fn block_count(g: &GgufFile, arch: Arch) -> Result<usize, EngineError> {
    let key = arch.keys().block_count;
    let per_block = arch.tensors_per_block();
    let n = positive(g, key)?;
    let have = g.tensors().len();
    let need = n
        .checked_mul(per_block)
        .and_then(|t| t.checked_add(TENSORS_OUTSIDE_BLOCKS));
    if need.is_none_or(|need| need > have) {
        return Err(bad(
            key,
            n,
            format!(
                "the file holds {have} tensors, and {n} blocks need {per_block} each \
                 plus {TENSORS_OUTSIDE_BLOCKS}"
            ),
        ));
    }
    if let Some((name, block)) = g
        .tensors()
        .iter()
        .filter_map(|t| Some((&t.name, block_of(&t.name)?)))
        .find(|&(_, b)| b >= n)
    {
        return Err(bad(
            key,
            n,
            format!("the file has tensor {name:?} of block {block}"),
        ));
    }
    Ok(n)
}

/// The head width: `attention.key_length` (Gemma 3, Qwen 3; llama.cpp reads it for every
/// architecture), default `n_embd / n_head`; `attention.value_length` must equal it.
fn head_dim(g: &GgufFile, k: &Keys, n_embd: usize, n_head: usize) -> Result<usize, EngineError> {
    if g.meta(k.key_length).is_none() {
        if !n_embd.is_multiple_of(n_head) {
            return Err(bad(
                k.head_count,
                n_head,
                format!("does not divide {} = {n_embd}", k.embedding_length),
            ));
        }
        return Ok(n_embd / n_head);
    }
    let hd = positive(g, k.key_length)?;
    if g.meta(k.value_length).is_some() && positive(g, k.value_length)? != hd {
        return Err(EngineError::Unsupported(format!(
            "{} differs from {} = {hd}",
            k.value_length, k.key_length
        )));
    }
    Ok(hd)
}

/// The linear RoPE frequency scale, read as llama.cpp reads it: `rope.scaling.type` (absent:
/// `linear`) `none` gives 1; `linear` gives `1 / rope.scaling.factor` (or the older
/// `rope.scale_linear`; absent or 0: 1). YaRN and LongRoPE are refused. Llama 3.x's scaling is
/// not here: its files carry it as the `rope_freqs.weight` tensor (the model loader).
fn rope_scaling(g: &GgufFile, k: &Keys) -> Result<f32, EngineError> {
    let kind = match g.meta(k.rope_scaling_type) {
        None => "linear",
        Some(_) => g.meta_str(k.rope_scaling_type)?,
    };
    match kind {
        "none" => return Ok(1.0),
        "linear" => {}
        other => {
            return Err(EngineError::Unsupported(format!(
                "{} = {other:?} (supported: none, linear, and Llama 3's rope_freqs.weight)",
                k.rope_scaling_type
            )));
        }
    }
    for key in [k.rope_scaling_factor, k.rope_scale_linear] {
        if g.meta(key).is_some() {
            let factor = g.meta_f32(key)?;
            if factor == 0.0 {
                return Ok(1.0);
            }
            if !(factor.is_finite() && factor > 0.0) {
                return Err(bad(key, factor, "must be above 0"));
            }
            return Ok(1.0 / factor);
        }
    }
    Ok(1.0)
}

/// The sliding window and which layers use it. Gemma 3: `attention.sliding_window` (absent
/// or 0: none) and `attention.sliding_window_pattern`, an integer `n` (default 6: layer
/// `i` slides when `i mod n < n - 1`) or one boolean per layer. Other architectures: none.
fn sliding(
    g: &GgufFile,
    arch: Arch,
    k: &Keys,
    n_layers: usize,
) -> Result<(Option<usize>, Vec<bool>), EngineError> {
    let none = Ok((None, vec![false; n_layers]));
    if arch != Arch::Gemma3 || g.meta(k.sliding_window).is_none() {
        return none;
    }
    let window = g.meta_u32(k.sliding_window)? as usize;
    if window == 0 {
        return none;
    }
    let layers = match g.meta(k.sliding_window_pattern) {
        Some(MetaValue::Array(items)) => {
            let flags: Option<Vec<bool>> = items
                .iter()
                .map(|v| match v {
                    MetaValue::Bool(b) => Some(*b),
                    _ => None,
                })
                .collect();
            match flags {
                Some(f) if f.len() == n_layers => f,
                _ => {
                    return Err(bad(
                        k.sliding_window_pattern,
                        format!("an array of {}", items.len()),
                        format!("must be {n_layers} booleans, one per layer"),
                    ));
                }
            }
        }
        other => {
            let n = match other {
                None => GEMMA3_SWA_PATTERN,
                Some(_) => g.meta_u32(k.sliding_window_pattern)?,
            } as usize;
            (0..n_layers).map(|i| n == 0 || i % n < n - 1).collect()
        }
    };
    Ok((Some(window), layers))
}

/// The block index of a `blk.N.*` tensor name.
fn block_of(name: &str) -> Option<usize> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::block_of;

    #[test]
    fn block_index_of_tensor_names() {
        assert_eq!(block_of("blk.0.attn_q.weight"), Some(0));
        assert_eq!(block_of("blk.31.ffn_up.weight"), Some(31));
        assert_eq!(block_of("token_embd.weight"), None);
        assert_eq!(block_of("blk.x.attn_q.weight"), None);
    }
}
