//! Tiny valid GGUFs of the `llama` (Llama 3.x RoPE scaling), `qwen2` and `qwen3`
//! architectures built from nothing, with the weight types of a K-quant file: width 256 (one
//! K-quant super-block per row), 4 query heads over 2 key/value heads, FFN 512, two blocks,
//! a byte-level BPE vocabulary (the 256 byte tokens, six merges, BOS and EOS); its digit
//! merges (`12`, `123`, `45`) tell the Llama 3 pre-tokenizer (up to three digits a word) from
//! Qwen 2's (one digit a word).
//!
//! - `llama3`: RoPE base 500000 and a `rope_freqs.weight` tensor of Llama 3.1's factors
//!   (factor 8, low/high frequency factors 1 and 4), computed for an original context of 64
//!   instead of 8192 so that the scaled frequencies matter at the prompts' positions; untied
//!   output head (Q6_K), pre-tokenizer `llama-bpe`.
//! - `qwen2`: Q/K/V biases (F32), tied output head, pre-tokenizer `qwen2`.
//! - `qwen3`: per-head Q/K RMSNorm (F32), head width 96 (`attention.key_length`: queries 384
//!   wide, wider than the stream), untied head (Q8_0), pre-tokenizer `qwen2`.
//!
//! Weight types: Q4_K, Q6_K, Q8_0 and Q5_0 matrices (Q5_0 also on 384-wide rows, which are
//! not whole super-blocks), F32 norms and biases; each file has at least three of them.
#![allow(dead_code, unreachable_pub)]

use aikernel_engine::gguf::{GgmlType, GgufWriter, MetaValue};
use aikernel_engine::quantize::{blocks, kblocks};

/// Width, FFN width, heads, kv heads, blocks, context of the tiny models.
pub const EMBD: u64 = 256;
pub const FF: u64 = 512;
pub const HEADS: u32 = 4;
pub const KV_HEADS: u32 = 2;
pub const BLOCKS: u32 = 2;
pub const CONTEXT: u32 = 256;
/// Tokens after the 256 bytes: merged pieces (in merge order), then BOS and EOS.
pub const MERGED: &[&str] = &["\u{120}t", "he", "\u{120}the", "12", "123", "45"];
/// The merges that make them.
const MERGES: &[&str] = &["\u{120} t", "h e", "\u{120}t he", "1 2", "12 3", "4 5"];
pub const BOS: u32 = 256 + MERGED.len() as u32;
pub const EOS: u32 = BOS + 1;
pub const VOCAB: u64 = EOS as u64 + 1;

/// The three architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `llama` with Llama 3.x RoPE frequency factors.
    Llama3,
    /// `qwen2` with Q/K/V biases.
    Qwen2,
    /// `qwen3` with Q/K norms and a head width of its own.
    Qwen3,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Llama3, Family::Qwen2, Family::Qwen3];

    /// `general.architecture`.
    pub fn arch(self) -> &'static str {
        match self {
            Family::Llama3 => "llama",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
        }
    }

    /// A short name for files and fixtures.
    pub fn name(self) -> &'static str {
        match self {
            Family::Llama3 => "llama3",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
        }
    }

    pub fn head_dim(self) -> u64 {
        match self {
            Family::Qwen3 => 96,
            _ => EMBD / u64::from(HEADS),
        }
    }

    pub fn rope_base(self) -> f32 {
        match self {
            Family::Llama3 => 500_000.0,
            _ => 1_000_000.0,
        }
    }
}

/// GPT-2's byte-to-character map: the tokenizer's spelling of each byte.
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return char::from(b);
    }
    let shifted = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + shifted).unwrap_or('?')
}

/// Deterministic values in [offset - scale, offset + scale).
fn values(n: u64, seed: u64, offset: f32, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            offset + ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// `x` in type `t` (F32, or quantized by the engine's quantizers).
fn encode(t: GgmlType, x: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    match t {
        GgmlType::F32 => return x.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::Q8_0 => blocks::quantize_q8_0(x, &mut out),
        GgmlType::Q5_0 => kblocks::quantize_q5_0(x, &mut out),
        GgmlType::Q4_K => kblocks::quantize_q4_k(x, &mut out),
        GgmlType::Q6_K => kblocks::quantize_q6_k(x, &mut out),
        other => panic!("tiny models do not use {other}"),
    }
    out
}

/// Llama 3.1's RoPE factors (`convert_hf_to_gguf.py`, `rope_type = llama3`) for an original
/// context of `old_ctx`.
pub fn llama3_rope_factors(head_dim: u64, base: f32, old_ctx: f64) -> Vec<f32> {
    let (factor, low, high) = (8.0f64, 1.0f64, 4.0f64);
    let (low_wavelen, high_wavelen) = (old_ctx / low, old_ctx / high);
    (0..head_dim / 2)
        .map(|i| {
            let freq = 1.0 / libm::pow(f64::from(base), (2 * i) as f64 / head_dim as f64);
            let wavelen = 2.0 * std::f64::consts::PI / freq;
            let f = if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (old_ctx / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            f as f32
        })
        .collect()
}

/// The weight type of each matrix: `(name, type in block 0, type in block 1)`.
fn matrix_types(f: Family) -> [(&'static str, GgmlType, GgmlType); 7] {
    use GgmlType::{Q4_K, Q5_0, Q6_K, Q8_0};
    match f {
        Family::Llama3 => [
            ("attn_q", Q4_K, Q4_K),
            ("attn_k", Q4_K, Q4_K),
            ("attn_v", Q6_K, Q5_0),
            ("attn_output", Q4_K, Q4_K),
            ("ffn_gate", Q4_K, Q4_K),
            ("ffn_up", Q4_K, Q4_K),
            ("ffn_down", Q6_K, Q8_0),
        ],
        Family::Qwen2 => [
            ("attn_q", Q5_0, Q4_K),
            ("attn_k", Q5_0, Q4_K),
            ("attn_v", Q8_0, Q6_K),
            ("attn_output", Q4_K, Q4_K),
            ("ffn_gate", Q4_K, Q4_K),
            ("ffn_up", Q6_K, Q4_K),
            ("ffn_down", Q5_0, Q6_K),
        ],
        Family::Qwen3 => [
            ("attn_q", Q4_K, Q4_K),
            ("attn_k", Q6_K, Q4_K),
            ("attn_v", Q8_0, Q6_K),
            ("attn_output", Q5_0, Q8_0),
            ("ffn_gate", Q4_K, Q4_K),
            ("ffn_up", Q4_K, Q4_K),
            ("ffn_down", Q6_K, Q6_K),
        ],
    }
}

/// The tiny model of family `f`.
pub fn tiny(f: Family) -> GgufWriter<'static> {
    build(f, true)
}

/// The tiny Llama 3 without its `rope_freqs.weight` (plain RoPE), to show the factors count.
pub fn tiny_llama3_unscaled() -> GgufWriter<'static> {
    build(Family::Llama3, false)
}

fn build(f: Family, rope_factors: bool) -> GgufWriter<'static> {
    use GgmlType::{F32, Q4_K, Q6_K, Q8_0};
    let arch = f.arch();
    let hd = f.head_dim();
    let (qd, kv) = (hd * u64::from(HEADS), hd * u64::from(KV_HEADS));
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", MetaValue::Str(arch.into()));
    w.add_metadata("general.name", MetaValue::Str(format!("tiny-{}", f.name())));
    for (k, v) in [
        ("block_count", BLOCKS),
        ("embedding_length", EMBD as u32),
        ("feed_forward_length", FF as u32),
        ("attention.head_count", HEADS),
        ("attention.head_count_kv", KV_HEADS),
        ("context_length", CONTEXT),
    ] {
        w.add_metadata(format!("{arch}.{k}"), MetaValue::U32(v));
    }
    if f == Family::Qwen3 {
        for k in ["key_length", "value_length"] {
            w.add_metadata(format!("{arch}.attention.{k}"), MetaValue::U32(hd as u32));
        }
    }
    if f == Family::Llama3 {
        w.add_metadata(
            format!("{arch}.rope.dimension_count"),
            MetaValue::U32(hd as u32),
        );
    }
    w.add_metadata(
        format!("{arch}.rope.freq_base"),
        MetaValue::F32(f.rope_base()),
    );
    w.add_metadata(
        format!("{arch}.attention.layer_norm_rms_epsilon"),
        MetaValue::F32(1e-6),
    );
    let mut tokens: Vec<MetaValue> = (0..=255u8)
        .map(|b| MetaValue::Str(byte_char(b).to_string()))
        .collect();
    tokens.extend(MERGED.iter().map(|t| MetaValue::Str((*t).into())));
    tokens.push(MetaValue::Str("<|begin_of_text|>".into()));
    tokens.push(MetaValue::Str("<|endoftext|>".into()));
    let mut types = vec![MetaValue::I32(1); 256 + MERGED.len()];
    types.extend([MetaValue::I32(3), MetaValue::I32(3)]);
    let merges = MERGES.iter().map(|m| MetaValue::Str((*m).into())).collect();
    let pre = if f == Family::Llama3 {
        "llama-bpe"
    } else {
        "qwen2"
    };
    w.add_metadata("tokenizer.ggml.model", MetaValue::Str("gpt2".into()));
    w.add_metadata("tokenizer.ggml.pre", MetaValue::Str(pre.into()));
    w.add_metadata("tokenizer.ggml.tokens", MetaValue::Array(tokens));
    w.add_metadata("tokenizer.ggml.token_type", MetaValue::Array(types));
    w.add_metadata("tokenizer.ggml.merges", MetaValue::Array(merges));
    w.add_metadata("tokenizer.ggml.bos_token_id", MetaValue::U32(BOS));
    w.add_metadata("tokenizer.ggml.eos_token_id", MetaValue::U32(EOS));
    w.add_metadata(
        "tokenizer.ggml.add_bos_token",
        MetaValue::Bool(f == Family::Llama3),
    );
    let mut seed = 100 * (f as u64 + 1);
    let mut add = |w: &mut GgufWriter<'static>, name: String, dims: &[u64], t, off, sc| {
        seed += 1;
        let x = values(dims.iter().product(), seed, off, sc);
        w.add_tensor(name, dims, t, encode(t, &x))
            .unwrap_or_else(|e| panic!("tiny {}: {e}", f.name()));
    };
    let embd_type = if f == Family::Qwen2 { Q8_0 } else { Q4_K };
    add(
        &mut w,
        "token_embd.weight".into(),
        &[EMBD, VOCAB],
        embd_type,
        0.0,
        1.0,
    );
    add(&mut w, "output_norm.weight".into(), &[EMBD], F32, 1.0, 0.5);
    match f {
        Family::Llama3 => add(
            &mut w,
            "output.weight".into(),
            &[EMBD, VOCAB],
            Q6_K,
            0.0,
            0.15,
        ),
        Family::Qwen3 => add(
            &mut w,
            "output.weight".into(),
            &[EMBD, VOCAB],
            Q8_0,
            0.0,
            0.15,
        ),
        Family::Qwen2 => {} // tied to token_embd
    }
    if f == Family::Llama3 && rope_factors {
        let factors = llama3_rope_factors(hd, f.rope_base(), 64.0);
        let bytes = factors
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>();
        w.add_tensor("rope_freqs.weight", &[hd / 2], F32, bytes)
            .unwrap_or_else(|e| panic!("tiny llama3: {e}"));
    }
    for i in 0..BLOCKS {
        let name = |n: &str, kind: &str| format!("blk.{i}.{n}.{kind}");
        add(&mut w, name("attn_norm", "weight"), &[EMBD], F32, 1.0, 0.5);
        add(&mut w, name("ffn_norm", "weight"), &[EMBD], F32, 1.0, 0.5);
        for (n, t0, t1) in matrix_types(f) {
            let dims = match n {
                "attn_q" => [EMBD, qd],
                "attn_k" | "attn_v" => [EMBD, kv],
                "attn_output" => [qd, EMBD],
                "ffn_gate" | "ffn_up" => [EMBD, FF],
                _ => [FF, EMBD],
            };
            let scale = if n == "attn_output" || n == "ffn_down" {
                0.08
            } else {
                0.12
            };
            let t = if i == 0 { t0 } else { t1 };
            add(&mut w, name(n, "weight"), &dims, t, 0.0, scale);
        }
        if f == Family::Qwen2 {
            for (n, len) in [("attn_q", qd), ("attn_k", kv), ("attn_v", kv)] {
                add(&mut w, name(n, "bias"), &[len], F32, 0.0, 0.5);
            }
        }
        if f == Family::Qwen3 {
            add(&mut w, name("attn_q_norm", "weight"), &[hd], F32, 1.0, 0.5);
            add(&mut w, name("attn_k_norm", "weight"), &[hd], F32, 1.0, 0.5);
        }
    }
    w
}
