//! Hyper-parameters from the GGUF header, each checked against the others and against the
//! file's tensor table before anything is sized by them: a header may claim any number, and
//! a number used to size an allocation before it is checked aborts the process.

use crate::gguf::GgufFile;

use super::EngineError;

/// Tensors every transformer block has (two norms, four attention and three FFN matrices).
pub(crate) const TENSORS_PER_BLOCK: usize = 9;
/// Tensors outside the blocks that every model has (`token_embd`, `output_norm`).
const TENSORS_OUTSIDE_BLOCKS: usize = 2;

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
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
    /// Width of one head.
    pub head_dim: usize,
    /// Vocabulary size (rows of the output head).
    pub vocab_size: usize,
    /// Trained context length: the most positions a sequence may use.
    pub context_length: usize,
    /// RoPE frequency base.
    pub rope_base: f32,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
}

fn bad(key: &'static str, value: impl std::fmt::Display, reason: impl Into<String>) -> EngineError {
    EngineError::BadConfig {
        key,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A `llama.*` size that must be at least 1.
fn positive(g: &GgufFile, key: &'static str) -> Result<usize, EngineError> {
    let v = g.meta_u32(key)? as usize;
    if v == 0 {
        return Err(bad(key, v, "must be at least 1"));
    }
    Ok(v)
}

impl ModelConfig {
    /// Reads and checks the header's numbers; `vocab_size` is left 0 (the embedding
    /// tensor gives it). Widths are checked against each other here and against the
    /// tensors by the loader; the block count against the tensor table here.
    pub(crate) fn from_gguf(g: &GgufFile) -> Result<ModelConfig, EngineError> {
        let n_embd = positive(g, "llama.embedding_length")?;
        let n_head = positive(g, "llama.attention.head_count")?;
        let n_head_kv = match g.meta("llama.attention.head_count_kv") {
            None => n_head,
            Some(_) => positive(g, "llama.attention.head_count_kv")?,
        };
        if !n_embd.is_multiple_of(n_head) {
            return Err(bad(
                "llama.attention.head_count",
                n_head,
                format!("does not divide llama.embedding_length = {n_embd}"),
            ));
        }
        if !n_head.is_multiple_of(n_head_kv) {
            return Err(bad(
                "llama.attention.head_count_kv",
                n_head_kv,
                format!("does not divide llama.attention.head_count = {n_head}"),
            ));
        }
        let head_dim = n_embd / n_head;
        if head_dim % 2 != 0 {
            return Err(EngineError::Unsupported(format!(
                "odd head width {head_dim} (llama.embedding_length {n_embd} / \
                 llama.attention.head_count {n_head})"
            )));
        }
        let rope_base = match g.meta("llama.rope.freq_base") {
            None => 10_000.0,
            Some(_) => g.meta_f32("llama.rope.freq_base")?,
        };
        if !(rope_base.is_finite() && rope_base > 0.0) {
            return Err(bad("llama.rope.freq_base", rope_base, "must be above 0"));
        }
        let rms_eps = g.meta_f32("llama.attention.layer_norm_rms_epsilon")?;
        if !(rms_eps.is_finite() && rms_eps >= 0.0) {
            return Err(bad(
                "llama.attention.layer_norm_rms_epsilon",
                rms_eps,
                "must be a finite number, 0 or more",
            ));
        }
        let config = ModelConfig {
            n_layers: block_count(g)?,
            n_embd,
            n_ff: positive(g, "llama.feed_forward_length")?,
            n_head,
            n_head_kv,
            head_dim,
            vocab_size: 0,
            context_length: positive(g, "llama.context_length")?,
            rope_base,
            rms_eps,
        };
        config.check_widths(g)?;
        Ok(config)
    }

    /// The widths the header claims against the tensors that carry them, so a wrong one is
    /// named as the header key (missing tensors are left to the loader to name).
    fn check_widths(&self, g: &GgufFile) -> Result<(), EngineError> {
        let kv = self.n_head_kv * self.head_dim;
        for (key, value, tensor, dim, want) in [
            (
                "llama.embedding_length",
                self.n_embd,
                "token_embd.weight",
                0,
                self.n_embd,
            ),
            (
                "llama.feed_forward_length",
                self.n_ff,
                "blk.0.ffn_up.weight",
                1,
                self.n_ff,
            ),
            (
                "llama.attention.head_count_kv",
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

/// `llama.block_count`, which the tensor table must bear out: 9 tensors per block plus
/// the embedding and output norm, and no `blk.N.*` tensor for a block past the count.
fn block_count(g: &GgufFile) -> Result<usize, EngineError> {
    const KEY: &str = "llama.block_count";
    let n = positive(g, KEY)?;
    let have = g.tensors().len();
    let need = n
        .checked_mul(TENSORS_PER_BLOCK)
        .and_then(|t| t.checked_add(TENSORS_OUTSIDE_BLOCKS));
    if need.is_none_or(|need| need > have) {
        return Err(bad(
            KEY,
            n,
            format!(
                "the file holds {have} tensors, and {n} blocks need {TENSORS_PER_BLOCK} each \
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
            KEY,
            n,
            format!("the file has tensor {name:?} of block {block}"),
        ));
    }
    Ok(n)
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
