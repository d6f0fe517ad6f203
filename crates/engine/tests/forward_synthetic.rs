//! A tiny random Llama (2 layers, width 64, 4 heads / 2 kv heads) written with `GgufWriter`
//! in every supported weight type (F32, F16, Q4_0, Q4_1, Q8_0), with the real model's
//! tokenizer: each loads, runs, and is bit-identical across threads, chunks and kernels.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_engine::f16::f32_to_f16;
use aikernel_engine::gguf::{GgmlType, GgufFile, GgufWriter, MetaValue};
use aikernel_engine::quantize::blocks;
use aikernel_engine::{EngineError, GenerateOptions, Kernel, Model, generate};

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn encode(dtype: GgmlType, w: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    match dtype {
        GgmlType::F32 => out = w.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => {
            out = w
                .iter()
                .flat_map(|&v| f32_to_f16(v).to_le_bytes())
                .collect();
        }
        GgmlType::Q8_0 => blocks::quantize_q8_0(w, &mut out),
        GgmlType::Q4_0 => blocks::quantize_q4_0(w, &mut out),
        _ => blocks::quantize_q4_1(w, &mut out),
    }
    out
}

fn synthetic(real: &GgufFile, dtype: GgmlType) -> Model {
    let (d, ff, layers, vocab) = (64u64, 128u64, 2, 49152u64);
    let mut w = GgufWriter::new();
    for (k, v) in real.metadata() {
        if k.starts_with("tokenizer.") {
            w.add_metadata(k.clone(), v.clone());
        }
    }
    w.add_metadata("general.architecture", MetaValue::Str("llama".into()));
    for (k, v) in [
        ("block_count", 2u32),
        ("embedding_length", 64),
        ("feed_forward_length", 128),
        ("attention.head_count", 4),
        ("attention.head_count_kv", 2),
        ("context_length", 256),
    ] {
        w.add_metadata(format!("llama.{k}"), MetaValue::U32(v));
    }
    w.add_metadata("llama.rope.freq_base", MetaValue::F32(10000.0));
    w.add_metadata(
        "llama.attention.layer_norm_rms_epsilon",
        MetaValue::F32(1e-5),
    );
    let mut rng = Rng(12345);
    let mut mat =
        |name: String, rows: u64, cols: u64, scale: f32, ty: GgmlType, w: &mut GgufWriter<'_>| {
            let v: Vec<f32> = (0..rows * cols).map(|_| rng.f() * scale).collect();
            let dims = if rows == 1 {
                vec![cols]
            } else {
                vec![cols, rows]
            };
            w.add_tensor(name, &dims, ty, encode(ty, &v)).unwrap();
        };
    mat("token_embd.weight".into(), vocab, d, 1.0, dtype, &mut w);
    mat(
        "output_norm.weight".into(),
        1,
        d,
        1.0,
        GgmlType::F32,
        &mut w,
    );
    for i in 0..layers {
        mat(
            format!("blk.{i}.attn_norm.weight"),
            1,
            d,
            1.0,
            GgmlType::F32,
            &mut w,
        );
        mat(
            format!("blk.{i}.ffn_norm.weight"),
            1,
            d,
            1.0,
            GgmlType::F32,
            &mut w,
        );
        for (n, r, c) in [
            ("attn_q", d, d),
            ("attn_k", 32, d),
            ("attn_v", 32, d),
            ("attn_output", d, d),
            ("ffn_gate", ff, d),
            ("ffn_up", ff, d),
            ("ffn_down", d, ff),
        ] {
            mat(format!("blk.{i}.{n}.weight"), r, c, 0.2, dtype, &mut w);
        }
    }
    Model::from_gguf(GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()).unwrap()
}

#[test]
fn every_weight_type_runs_deterministically() {
    let real = GgufFile::open(&common::model_path()).unwrap();
    let prompt: Vec<u32> = (0..20).map(|i| 100 + i * 37).collect();
    let mut hashes = Vec::new();
    for dtype in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
    ] {
        let m = synthetic(&real, dtype);
        assert_eq!(m.config().vocab_size, 49152);
        let base = GenerateOptions {
            max_tokens: 6,
            threads: 1,
            kernel: Kernel::Scalar,
            ..GenerateOptions::default()
        };
        let want = generate(&m, &prompt, &base, None).unwrap();
        for (threads, chunk, kernel) in [
            (2, Some(3), Kernel::Auto),
            (3, Some(1), Kernel::Auto),
            (1, None, Kernel::Auto),
        ] {
            let got = generate(
                &m,
                &prompt,
                &GenerateOptions {
                    threads,
                    prefill_chunk: chunk,
                    kernel,
                    ..base.clone()
                },
                None,
            )
            .unwrap();
            assert_eq!(got, want, "{dtype:?} threads {threads} chunk {chunk:?}");
        }
        hashes.push(want.logits_sha256);
        // The context limit is enforced with an error.
        let long: Vec<u32> = vec![5; 257];
        assert!(matches!(
            generate(&m, &long, &base, None),
            Err(EngineError::BadInput(_))
        ));
    }
    // Different weight encodings give different numbers (the hash covers the logits).
    for i in 0..hashes.len() {
        for j in i + 1..hashes.len() {
            assert_ne!(hashes[i], hashes[j]);
        }
    }
}

#[test]
fn wrong_shapes_are_rejected() {
    let real = GgufFile::open(&common::model_path()).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in real.metadata() {
        w.add_metadata(k.clone(), v.clone());
    }
    w.add_metadata("general.architecture", MetaValue::Str("gpt2".into()));
    let err = Model::from_gguf(GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()).unwrap_err();
    assert!(matches!(err, EngineError::Unsupported(_)), "{err}");
    w.add_metadata("general.architecture", MetaValue::Str("llama".into()));
    // No tensors at all: the block count is the first thing the tensor table contradicts.
    let err = Model::from_gguf(GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::BadConfig {
                key: "llama.block_count",
                ..
            }
        ),
        "missing tensors: {err}"
    );
}
