//! A tiny valid Llama GGUF built from nothing (no model download): one block, width 64,
//! 4 heads / 2 kv heads, a vocabulary of the 256 byte tokens plus an EOS control token,
//! and a chat template. Tests start from it and break one thing at a time.
//!
//! Shared with the CLI's tests (`#[path]`): it uses only the engine's public API.
#![allow(dead_code, unreachable_pub)] // each test crate uses what it needs

use aikernel_engine::gguf::{GgmlType, GgufWriter, MetaValue};

/// Width, FFN width, heads, kv heads, context of the tiny model.
pub const EMBD: u64 = 64;
pub const FF: u64 = 128;
pub const HEADS: u32 = 4;
pub const KV_HEADS: u32 = 2;
pub const CONTEXT: u32 = 256;
/// 256 byte tokens and EOS.
pub const VOCAB: u64 = 257;
pub const EOS: u32 = 256;

/// GPT-2's byte-to-character map: the tokenizer's spelling of each byte.
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return char::from(b);
    }
    let shifted = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + shifted).unwrap_or('?')
}

/// Deterministic weights in [-scale, scale).
fn weights(n: u64, seed: u64, scale: f32) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .flat_map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale;
            v.to_le_bytes()
        })
        .collect()
}

/// The tiny model with `blocks` blocks, all tensors F32.
pub fn tiny_llama(blocks: u32) -> GgufWriter<'static> {
    tiny_llama_shaped(blocks, EMBD, FF)
}

/// The tiny model with another width and FFN width (`embd` a multiple of 8: 4 heads of an
/// even width, 2 kv heads), all tensors F32.
pub fn tiny_llama_shaped(blocks: u32, embd: u64, ff: u64) -> GgufWriter<'static> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", MetaValue::Str("llama".into()));
    w.add_metadata("general.name", MetaValue::Str("tiny".into()));
    for (k, v) in [
        ("block_count", blocks),
        ("embedding_length", embd as u32),
        ("feed_forward_length", ff as u32),
        ("attention.head_count", HEADS),
        ("attention.head_count_kv", KV_HEADS),
        ("context_length", CONTEXT),
    ] {
        w.add_metadata(format!("llama.{k}"), MetaValue::U32(v));
    }
    w.add_metadata("llama.rope.freq_base", MetaValue::F32(10000.0));
    w.add_metadata(
        "llama.attention.layer_norm_rms_epsilon",
        MetaValue::F32(1e-5),
    );
    let mut tokens: Vec<MetaValue> = (0..=255u8)
        .map(|b| MetaValue::Str(byte_char(b).to_string()))
        .collect();
    tokens.push(MetaValue::Str("<|eos|>".into()));
    let mut types = vec![MetaValue::I32(1); 256];
    types.push(MetaValue::I32(3));
    w.add_metadata("tokenizer.ggml.model", MetaValue::Str("gpt2".into()));
    w.add_metadata("tokenizer.ggml.pre", MetaValue::Str("gpt-2".into()));
    w.add_metadata("tokenizer.ggml.tokens", MetaValue::Array(tokens));
    w.add_metadata("tokenizer.ggml.token_type", MetaValue::Array(types));
    w.add_metadata("tokenizer.ggml.merges", MetaValue::Array(Vec::new()));
    w.add_metadata("tokenizer.ggml.eos_token_id", MetaValue::U32(EOS));
    w.add_metadata(
        "tokenizer.chat_template",
        MetaValue::Str("{% for m in messages %}{{ m['content'] }}{% endfor %}".into()),
    );
    let kv = embd / u64::from(HEADS) * u64::from(KV_HEADS);
    let mut seed = 1;
    let mut add = |w: &mut GgufWriter<'static>, name: String, dims: &[u64], scale: f32| {
        seed += 1;
        let n = dims.iter().product();
        w.add_tensor(name, dims, GgmlType::F32, weights(n, seed, scale))
            .unwrap_or_else(|e| panic!("tiny model: {e}"));
    };
    add(&mut w, "token_embd.weight".into(), &[embd, VOCAB], 1.0);
    add(&mut w, "output_norm.weight".into(), &[embd], 1.0);
    for i in 0..blocks {
        for (name, dims) in [
            ("attn_norm", vec![embd]),
            ("ffn_norm", vec![embd]),
            ("attn_q", vec![embd, embd]),
            ("attn_k", vec![embd, kv]),
            ("attn_v", vec![embd, kv]),
            ("attn_output", vec![embd, embd]),
            ("ffn_gate", vec![embd, ff]),
            ("ffn_up", vec![embd, ff]),
            ("ffn_down", vec![ff, embd]),
        ] {
            add(&mut w, format!("blk.{i}.{name}.weight"), &dims, 0.2);
        }
    }
    w
}

/// The bytes of [`tiny_llama`].
pub fn tiny_llama_bytes(blocks: u32) -> Vec<u8> {
    tiny_llama(blocks)
        .to_bytes()
        .unwrap_or_else(|e| panic!("tiny model: {e}"))
}

/// Overwrites dimension `dim` of tensor `name` in the header of a GGUF file's `bytes`
/// (which the writer would refuse to produce).
pub fn patch_dim(bytes: &mut [u8], name: &str, dim: usize, value: u64) {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .unwrap_or_else(|| panic!("tensor {name} not in the header"));
    // name, then the u32 dimension count, then the u64 dimensions.
    let start = at + needle.len() + 4 + 8 * dim;
    bytes[start..start + 8].copy_from_slice(&value.to_le_bytes());
}
