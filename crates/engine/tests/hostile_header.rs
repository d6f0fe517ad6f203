//! Header numbers that would size a huge allocation (`llama.block_count = 0xFFFFFFFF` once
//! aborted the process with "memory allocation of 1236950580960 bytes failed"), widths that
//! disagree with the tensors, tensor dims past the file, and runs whose KV cache cannot fit:
//! each is a typed error naming the key or tensor and the value, before anything is
//! allocated. No model download needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/tiny.rs"]
mod tiny;

use aikernel_engine::gguf::{GgufError, GgufFile, GgufWriter, MetaValue};
use aikernel_engine::kernels::{Ctx, CtxError, MAX_THREADS, thread_limit};
use aikernel_engine::{EngineError, GenerateOptions, Kernel, Model, generate};

fn load(w: &GgufWriter<'_>) -> Result<Model, EngineError> {
    Model::from_gguf(GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap())
}

fn load_bytes(bytes: Vec<u8>) -> Result<Model, EngineError> {
    Model::from_gguf(GgufFile::from_bytes(bytes)?)
}

/// Sets `llama.<key>` and expects a `BadConfig` naming that key and value.
fn assert_refused(key: &str, value: u32) {
    let mut w = tiny::tiny_llama(1);
    w.add_metadata(format!("llama.{key}"), MetaValue::U32(value));
    let err = load(&w).expect_err(key);
    match &err {
        EngineError::BadConfig {
            key: k, value: v, ..
        } => {
            assert_eq!(*k, format!("llama.{key}"), "{err}");
            assert_eq!(*v, value.to_string(), "{err}");
        }
        other => panic!("llama.{key} = {value}: expected BadConfig, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("llama.{key}")) && msg.contains(&value.to_string()),
        "{msg}"
    );
}

#[test]
fn the_tiny_model_loads_and_generates() {
    let m = load(&tiny::tiny_llama(1)).unwrap();
    assert_eq!(m.config().vocab_size, tiny::VOCAB as usize);
    let opts = GenerateOptions {
        max_tokens: 4,
        kernel: Kernel::Scalar,
        ..GenerateOptions::default()
    };
    let g = generate(&m, &[1, 2, 3], &opts, None).unwrap();
    assert!(!g.tokens.is_empty());
}

#[test]
fn a_huge_block_count_is_refused_from_memory_and_from_disk() {
    assert_refused("block_count", u32::MAX);
    let mut w = tiny::tiny_llama(1);
    w.add_metadata("llama.block_count", MetaValue::U32(u32::MAX));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("huge-block-count.gguf");
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    let err = Model::load(&path).unwrap_err();
    assert!(
        err.to_string().contains("llama.block_count = 4294967295"),
        "{err}"
    );
}

#[test]
fn the_block_count_must_match_the_tensor_table() {
    // More blocks than tensors for them.
    assert_refused("block_count", 2);
    // Fewer blocks than the file has.
    let mut w = tiny::tiny_llama(2);
    w.add_metadata("llama.block_count", MetaValue::U32(1));
    let err = load(&w).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::BadConfig {
                key: "llama.block_count",
                ..
            }
        ) && err.to_string().contains("blk.1."),
        "{err}"
    );
}

#[test]
fn zero_sizes_are_refused() {
    for key in [
        "block_count",
        "embedding_length",
        "feed_forward_length",
        "attention.head_count",
        "attention.head_count_kv",
        "context_length",
    ] {
        assert_refused(key, 0);
    }
}

#[test]
fn huge_widths_and_head_counts_are_refused() {
    assert_refused("embedding_length", 0x8000_0000);
    assert_refused("embedding_length", 128);
    assert_refused("feed_forward_length", u32::MAX);
    assert_refused("attention.head_count", u32::MAX);
    assert_refused("attention.head_count_kv", u32::MAX);
    // Divides the head count, but disagrees with the key/value tensors.
    assert_refused("attention.head_count_kv", 4);
}

#[test]
fn tensor_dims_past_the_file_are_refused() {
    for (name, dim, value) in [
        ("token_embd.weight", 1, 1u64 << 40),
        ("token_embd.weight", 0, 1u64 << 62),
        ("blk.0.ffn_up.weight", 1, u64::from(u32::MAX)),
        ("blk.0.attn_q.weight", 0, i64::MAX as u64),
    ] {
        let mut bytes = tiny::tiny_llama_bytes(1);
        tiny::patch_dim(&mut bytes, name, dim, value);
        let err = load_bytes(bytes).unwrap_err();
        assert!(
            matches!(&err, EngineError::Gguf(GgufError::BadTensor { tensor, .. }) if tensor == name),
            "{name}[{dim}] = {value}: {err}"
        );
    }
}

#[test]
fn a_vocabulary_that_disagrees_with_the_embedding_is_refused() {
    let mut w = tiny::tiny_llama(1);
    let tokens: Vec<MetaValue> = (0..300).map(|i| MetaValue::Str(format!("t{i}"))).collect();
    w.add_metadata("tokenizer.ggml.token_type", MetaValue::Array(Vec::new()));
    w.add_metadata("tokenizer.ggml.tokens", MetaValue::Array(tokens));
    let err = load(&w).unwrap_err();
    // The token types no longer match either; make them agree so the embedding is checked.
    assert!(matches!(err, EngineError::Tokenizer(_)), "{err}");
    w.add_metadata(
        "tokenizer.ggml.token_type",
        MetaValue::Array(vec![MetaValue::I32(1); 300]),
    );
    let err = load(&w).unwrap_err();
    assert!(
        matches!(&err, EngineError::BadTensor { tensor, .. } if tensor == "token_embd.weight")
            && err.to_string().contains("300"),
        "{err}"
    );
}

#[test]
fn a_kv_cache_larger_than_memory_is_refused_before_the_run() {
    let mut w = tiny::tiny_llama(1);
    w.add_metadata("llama.context_length", MetaValue::U32(u32::MAX));
    let m = load(&w).unwrap();
    // 2^32 positions of 2 x 32 binary16 values each: half a terabyte of KV cache.
    assert!(m.kv_cache_bytes(u32::MAX as usize).unwrap() > (1 << 39) - 256);
    let opts = GenerateOptions {
        max_tokens: u32::MAX,
        kernel: Kernel::Scalar,
        ..GenerateOptions::default()
    };
    let err = generate(&m, &[1, 2, 3], &opts, None).unwrap_err();
    assert!(
        matches!(err, EngineError::OutOfMemory { .. }) && err.to_string().contains("KV cache"),
        "{err}"
    );
    // A run that fits is not refused.
    let opts = GenerateOptions {
        max_tokens: 2,
        ..opts
    };
    generate(&m, &[1, 2, 3], &opts, None).unwrap();
}

#[test]
fn thread_counts_are_capped() {
    let err = Ctx::new(MAX_THREADS + 1, Kernel::Scalar).unwrap_err();
    assert!(
        matches!(err, CtxError::TooManyThreads { requested } if requested == MAX_THREADS + 1),
        "{err}"
    );
    assert!(err.to_string().contains(&MAX_THREADS.to_string()), "{err}");
    assert!((1..=MAX_THREADS).contains(&thread_limit()));
    let m = load(&tiny::tiny_llama(1)).unwrap();
    let opts = GenerateOptions {
        threads: 1000,
        max_tokens: 1,
        kernel: Kernel::Scalar,
        ..GenerateOptions::default()
    };
    let err = generate(&m, &[1], &opts, None).unwrap_err();
    assert!(err.to_string().contains("1000"), "{err}");
}
