//! A tiny valid Gemma 3 GGUF built from nothing: width 64, 2 query heads / 1 kv head of
//! width 48 (queries 96 wide, wider than the stream, as in the real model), FFN 128, a
//! sliding window of 4 on every other layer (pattern 2), its own RoPE base, logit
//! soft-capping, and a SentencePiece vocabulary: `<pad>`, `<eos>`, `<bos>`, the 256 byte
//! tokens `<0xNN>` and a few scored pieces. All tensors F32 (quantize it for the kernels).
#![allow(dead_code, unreachable_pub)]

use aikernel_engine::gguf::{GgmlType, GgufWriter, MetaValue};

/// Width, FFN width, head width, heads, kv heads, window, context of the tiny model.
pub const EMBD: u64 = 64;
pub const FF: u64 = 128;
pub const HEAD_DIM: u64 = 48;
pub const HEADS: u32 = 2;
pub const KV_HEADS: u32 = 1;
pub const WINDOW: u32 = 4;
pub const CONTEXT: u32 = 128;
/// Scored pieces after the byte tokens: (text, score).
pub const PIECES: &[(&str, f32)] = &[
    ("\u{2581}", -1.0),
    ("a", -2.0),
    ("b", -2.0),
    ("ab", -1.5),
    ("\u{2581}a", -1.2),
    ("\u{2581}ab", -0.5),
    ("ba", -3.0),
];
/// Ids of `<bos>` and `<eos>`.
pub const BOS: u32 = 2;
pub const EOS: u32 = 1;

/// Deterministic weights in [offset - scale, offset + scale).
fn weights(n: u64, seed: u64, offset: f32, scale: f32) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .flat_map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = offset + ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale;
            v.to_le_bytes()
        })
        .collect()
}

/// The vocabulary: texts, scores and types.
fn vocab() -> (Vec<MetaValue>, Vec<MetaValue>, Vec<MetaValue>) {
    let mut texts = vec!["<pad>".to_owned(), "<eos>".into(), "<bos>".into()];
    let mut scores = vec![0f32; 3];
    let mut types = vec![3i32; 3];
    for b in 0..=255u8 {
        texts.push(format!("<0x{b:02X}>"));
        scores.push(0.0);
        types.push(6);
    }
    for &(t, s) in PIECES {
        texts.push(t.to_owned());
        scores.push(s);
        types.push(1);
    }
    (
        texts.into_iter().map(MetaValue::Str).collect(),
        scores.into_iter().map(MetaValue::F32).collect(),
        types.into_iter().map(MetaValue::I32).collect(),
    )
}

/// Vocabulary size.
pub fn vocab_size() -> u64 {
    3 + 256 + PIECES.len() as u64
}

/// The tiny Gemma 3 model with `blocks` blocks.
pub fn tiny_gemma3(blocks: u32) -> GgufWriter<'static> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", MetaValue::Str("gemma3".into()));
    for (k, v) in [
        ("block_count", blocks),
        ("embedding_length", EMBD as u32),
        ("feed_forward_length", FF as u32),
        ("attention.head_count", HEADS),
        ("attention.head_count_kv", KV_HEADS),
        ("attention.key_length", HEAD_DIM as u32),
        ("attention.value_length", HEAD_DIM as u32),
        ("attention.sliding_window", WINDOW),
        ("attention.sliding_window_pattern", 2),
        ("context_length", CONTEXT),
    ] {
        w.add_metadata(format!("gemma3.{k}"), MetaValue::U32(v));
    }
    for (k, v) in [
        ("rope.freq_base", 1e6),
        ("rope.freq_base_swa", 1e4),
        ("attention.layer_norm_rms_epsilon", 1e-6),
        ("final_logit_softcapping", 1.5),
    ] {
        w.add_metadata(format!("gemma3.{k}"), MetaValue::F32(v));
    }
    let (texts, scores, types) = vocab();
    w.add_metadata("tokenizer.ggml.model", MetaValue::Str("llama".into()));
    w.add_metadata("tokenizer.ggml.pre", MetaValue::Str("default".into()));
    w.add_metadata("tokenizer.ggml.tokens", MetaValue::Array(texts));
    w.add_metadata("tokenizer.ggml.scores", MetaValue::Array(scores));
    w.add_metadata("tokenizer.ggml.token_type", MetaValue::Array(types));
    w.add_metadata("tokenizer.ggml.bos_token_id", MetaValue::U32(BOS));
    w.add_metadata("tokenizer.ggml.eos_token_id", MetaValue::U32(EOS));
    w.add_metadata("tokenizer.ggml.add_bos_token", MetaValue::Bool(true));
    w.add_metadata("tokenizer.ggml.add_space_prefix", MetaValue::Bool(false));
    let (q, kv) = (HEAD_DIM * u64::from(HEADS), HEAD_DIM * u64::from(KV_HEADS));
    let mut seed = 7;
    let mut add = |w: &mut GgufWriter<'static>, name: String, dims: &[u64], off: f32, sc: f32| {
        seed += 1;
        let n = dims.iter().product();
        w.add_tensor(name, dims, GgmlType::F32, weights(n, seed, off, sc))
            .unwrap_or_else(|e| panic!("tiny gemma: {e}"));
    };
    add(
        &mut w,
        "token_embd.weight".into(),
        &[EMBD, vocab_size()],
        0.0,
        0.2,
    );
    add(&mut w, "output_norm.weight".into(), &[EMBD], 1.0, 0.5);
    for i in 0..blocks {
        for (name, dims, off, sc) in [
            ("attn_norm", vec![EMBD], 1.0, 0.5),
            ("attn_q_norm", vec![HEAD_DIM], 1.0, 0.5),
            ("attn_k_norm", vec![HEAD_DIM], 1.0, 0.5),
            ("post_attention_norm", vec![EMBD], 1.0, 0.5),
            ("ffn_norm", vec![EMBD], 1.0, 0.5),
            ("post_ffw_norm", vec![EMBD], 1.0, 0.5),
            ("attn_q", vec![EMBD, q], 0.0, 0.3),
            ("attn_k", vec![EMBD, kv], 0.0, 0.3),
            ("attn_v", vec![EMBD, kv], 0.0, 0.3),
            ("attn_output", vec![q, EMBD], 0.0, 0.2),
            ("ffn_gate", vec![EMBD, FF], 0.0, 0.3),
            ("ffn_up", vec![EMBD, FF], 0.0, 0.3),
            ("ffn_down", vec![FF, EMBD], 0.0, 0.2),
        ] {
            add(&mut w, format!("blk.{i}.{name}.weight"), &dims, off, sc);
        }
    }
    w
}
