//! The architectures the engine runs, chosen from `general.architecture`, and the
//! metadata keys each one reads (every key under the architecture's own prefix).

use super::EngineError;

/// A model architecture the forward pass implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Arch {
    /// `llama`: RMSNorm, RoPE on adjacent pairs, SwiGLU FFN, grouped-query attention; Llama
    /// 3.x's RoPE frequency factors (`rope_freqs.weight`) when the file has them.
    Llama,
    /// `gemma3`: embeddings scaled by `sqrt(n_embd)`, per-head Q/K RMSNorm, pre- and post-
    /// norms around attention and FFN, GELU-tanh gated FFN, RoPE on split halves (NeoX),
    /// sliding-window layers with their own RoPE base between global layers.
    Gemma3,
    /// `qwen2` (Qwen 2, Qwen 2.5): Llama's block with Q/K/V projection biases and RoPE on
    /// split halves (NeoX).
    Qwen2,
    /// `qwen3`: Llama's block with per-head Q/K RMSNorm before RoPE (NeoX), no biases, and a
    /// head width of its own (`attention.key_length`).
    Qwen3,
}

/// Every `general.architecture` value the engine accepts, for error messages.
pub const SUPPORTED_ARCHS: &[&str] = &["llama", "qwen2", "qwen3", "gemma3"];

impl Arch {
    /// The architecture named by `general.architecture`; an unknown name is refused with
    /// an error naming it and the supported ones.
    pub fn from_name(name: &str) -> Result<Arch, EngineError> {
        match name {
            "llama" => Ok(Arch::Llama),
            "gemma3" => Ok(Arch::Gemma3),
            "qwen2" => Ok(Arch::Qwen2),
            "qwen3" => Ok(Arch::Qwen3),
            other => Err(EngineError::Unsupported(format!(
                "architecture {other:?} (supported: {})",
                SUPPORTED_ARCHS.join(", ")
            ))),
        }
    }

    /// The `general.architecture` value.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Gemma3 => "gemma3",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
        }
    }

    /// The metadata keys of this architecture.
    pub(crate) fn keys(self) -> &'static Keys {
        match self {
            Arch::Llama => &LLAMA_KEYS,
            Arch::Gemma3 => &GEMMA3_KEYS,
            Arch::Qwen2 => &QWEN2_KEYS,
            Arch::Qwen3 => &QWEN3_KEYS,
        }
    }

    /// Tensors each block holds at least: Llama's nine (Qwen 2's Q/K/V biases are optional,
    /// as in llama.cpp), plus the Q/K norms of Qwen 3 and Gemma 3, and Gemma 3's post-norms.
    pub(crate) fn tensors_per_block(self) -> usize {
        match self {
            Arch::Llama | Arch::Qwen2 => 9,
            Arch::Qwen3 => 11,
            Arch::Gemma3 => 13,
        }
    }

    /// Whether each block has per-head Q and K RMSNorm weights (`attn_q_norm`, `attn_k_norm`).
    pub(crate) fn has_qk_norm(self) -> bool {
        matches!(self, Arch::Gemma3 | Arch::Qwen3)
    }

    /// Whether RoPE rotates the pairs `(i, i + head_dim/2)` (NeoX, llama.cpp's
    /// `LLAMA_ROPE_TYPE_NEOX`) instead of adjacent pairs `(2i, 2i + 1)`.
    pub(crate) fn rope_neox(self) -> bool {
        self != Arch::Llama
    }
}

/// Metadata keys, with the architecture's prefix (`BadConfig` names them).
#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) embedding_length: &'static str,
    pub(crate) block_count: &'static str,
    pub(crate) feed_forward_length: &'static str,
    pub(crate) context_length: &'static str,
    pub(crate) head_count: &'static str,
    pub(crate) head_count_kv: &'static str,
    pub(crate) key_length: &'static str,
    pub(crate) value_length: &'static str,
    pub(crate) rope_freq_base: &'static str,
    pub(crate) rope_freq_base_swa: &'static str,
    pub(crate) rms_eps: &'static str,
    pub(crate) sliding_window: &'static str,
    pub(crate) sliding_window_pattern: &'static str,
    pub(crate) final_logit_softcapping: &'static str,
    pub(crate) rope_dimension_count: &'static str,
    pub(crate) rope_scaling_type: &'static str,
    pub(crate) rope_scaling_factor: &'static str,
    pub(crate) rope_scale_linear: &'static str,
}

/// Writes the key table of one architecture prefix.
macro_rules! keys {
    ($p:literal) => {
        Keys {
            embedding_length: concat!($p, ".embedding_length"),
            block_count: concat!($p, ".block_count"),
            feed_forward_length: concat!($p, ".feed_forward_length"),
            context_length: concat!($p, ".context_length"),
            head_count: concat!($p, ".attention.head_count"),
            head_count_kv: concat!($p, ".attention.head_count_kv"),
            key_length: concat!($p, ".attention.key_length"),
            value_length: concat!($p, ".attention.value_length"),
            rope_freq_base: concat!($p, ".rope.freq_base"),
            rope_freq_base_swa: concat!($p, ".rope.freq_base_swa"),
            rms_eps: concat!($p, ".attention.layer_norm_rms_epsilon"),
            sliding_window: concat!($p, ".attention.sliding_window"),
            sliding_window_pattern: concat!($p, ".attention.sliding_window_pattern"),
            final_logit_softcapping: concat!($p, ".final_logit_softcapping"),
            rope_dimension_count: concat!($p, ".rope.dimension_count"),
            rope_scaling_type: concat!($p, ".rope.scaling.type"),
            rope_scaling_factor: concat!($p, ".rope.scaling.factor"),
            rope_scale_linear: concat!($p, ".rope.scale_linear"),
        }
    };
}

static LLAMA_KEYS: Keys = keys!("llama");
static GEMMA3_KEYS: Keys = keys!("gemma3");
static QWEN2_KEYS: Keys = keys!("qwen2");
static QWEN3_KEYS: Keys = keys!("qwen3");

#[cfg(test)]
mod tests {
    use super::Arch;

    #[test]
    fn names_round_trip_and_unknown_is_named() {
        for a in [Arch::Llama, Arch::Gemma3, Arch::Qwen2, Arch::Qwen3] {
            assert_eq!(Arch::from_name(a.name()).unwrap(), a);
        }
        let err = Arch::from_name("mamba").unwrap_err().to_string();
        assert!(err.contains("\"mamba\"") && err.contains("gemma3"), "{err}");
        assert!(err.contains("qwen2") && err.contains("qwen3"), "{err}");
        assert_eq!(
            Arch::Gemma3.keys().sliding_window,
            "gemma3.attention.sliding_window"
        );
    }
}
