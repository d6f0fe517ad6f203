//! Cross-check against llama.cpp's `llama-quantize --pure`: every tensor we quantize must be
//! byte-identical to ggml's reference quantizer output. The sha256 of every tensor llama.cpp
//! wrote is committed (`fixtures/llama_cpp_quantize.json`) and checked on every run; a live
//! llama-quantize (scripts/build-llama-cpp.sh) is compared byte for byte as well, and skips
//! only as docs/testing.md allows (key `llama-cpp`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

mod common;

use std::process::Command;

use aikernel_engine::f16::f32_to_f16;
use aikernel_engine::gguf::{GgmlType, GgufFile, GgufWriter, MetaValue};
use aikernel_engine::quantize::{QuantType, quantize_gguf};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use common::llama_cpp;

/// The committed digests of llama-quantize's output.
const FIXTURE: &str = "llama_cpp_quantize.json";
/// The targets compared: the types whose rounding is ggml's reference rule (the K-quants are
/// our own rule, not ggml's scale search: engine-formats.md).
const TARGETS: [QuantType; 5] = [
    QuantType::Q8_0,
    QuantType::Q4_0,
    QuantType::Q4_1,
    QuantType::Q5_0,
    QuantType::Q5_1,
];

fn values(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = ((s >> 40) as i32 - (1 << 23)) as f32 / (1 << 23) as f32 * scale;
            match (i / 32) % 5 {
                1 if i % 32 == 7 => v * 11.0,
                2 => v.abs() + 0.25,
                3 => -v.abs(),
                _ => v,
            }
        })
        .collect()
}

fn f32_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A one-layer Llama with every hyperparameter llama.cpp needs to load it.
fn tiny_llama() -> Vec<u8> {
    let (e, f, v) = (64u64, 96u64, 40u64);
    let mut w = GgufWriter::new();
    let s = |x: &str| MetaValue::Str(x.into());
    w.add_metadata("general.architecture", s("llama"));
    w.add_metadata("general.file_type", MetaValue::U32(0));
    w.add_metadata("llama.context_length", MetaValue::U32(128));
    w.add_metadata("llama.embedding_length", MetaValue::U32(e as u32));
    w.add_metadata("llama.block_count", MetaValue::U32(1));
    w.add_metadata("llama.feed_forward_length", MetaValue::U32(f as u32));
    w.add_metadata("llama.attention.head_count", MetaValue::U32(2));
    w.add_metadata("llama.attention.head_count_kv", MetaValue::U32(2));
    w.add_metadata(
        "llama.attention.layer_norm_rms_epsilon",
        MetaValue::F32(1e-5),
    );
    w.add_metadata("llama.rope.dimension_count", MetaValue::U32(32));
    w.add_metadata("llama.vocab_size", MetaValue::U32(v as u32));
    let mut seed = 0;
    let mut add = |w: &mut GgufWriter<'_>, name: &str, dims: &[u64], f16: bool| {
        seed += 1;
        let n = dims.iter().product::<u64>() as usize;
        let x = values(seed, n, 0.5);
        if f16 {
            let b: Vec<u8> = x
                .iter()
                .flat_map(|&v| f32_to_f16(v).to_le_bytes())
                .collect();
            w.add_tensor(name, dims, GgmlType::F16, b).unwrap();
        } else {
            w.add_tensor(name, dims, GgmlType::F32, f32_bytes(&x))
                .unwrap();
        }
    };
    add(&mut w, "token_embd.weight", &[e, v], false);
    add(&mut w, "output_norm.weight", &[e], false);
    add(&mut w, "output.weight", &[e, v], false);
    add(&mut w, "blk.0.attn_norm.weight", &[e], false);
    add(&mut w, "blk.0.attn_q.weight", &[e, e], false);
    add(&mut w, "blk.0.attn_k.weight", &[e, e], true);
    add(&mut w, "blk.0.attn_v.weight", &[e, e], false);
    add(&mut w, "blk.0.attn_output.weight", &[e, e], false);
    add(&mut w, "blk.0.ffn_norm.weight", &[e], false);
    add(&mut w, "blk.0.ffn_gate.weight", &[e, f], false);
    add(&mut w, "blk.0.ffn_up.weight", &[e, f], true);
    add(&mut w, "blk.0.ffn_down.weight", &[f, e], false);
    w.to_bytes().unwrap()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Our quantization of the tiny model to `target`.
fn ours(input: &GgufFile, target: QuantType) -> GgufFile {
    let mut out = Vec::new();
    quantize_gguf(input, target, &mut out).unwrap();
    GgufFile::from_bytes(out).unwrap()
}

/// A quantized file as the fixture records it: the file type and each tensor's type, shape
/// and sha256.
fn summary(target: QuantType, file: &GgufFile) -> Value {
    let mut tensors = Map::new();
    for info in file.tensors() {
        let t = file.tensor(&info.name).unwrap();
        tensors.insert(
            info.name.clone(),
            json!({ "dtype": t.dtype.to_string(), "dims": t.dims, "sha256": sha256(t.data) }),
        );
    }
    json!({
        "type": target.to_string(),
        "file_type": file.meta_u32("general.file_type").unwrap(),
        "tensors": tensors,
    })
}

#[test]
fn tensors_match_llama_quantize_fixture() {
    let fixture = llama_cpp::read_fixture(FIXTURE);
    let input_bytes = tiny_llama();
    assert_eq!(
        fixture["input_sha256"].as_str(),
        Some(sha256(&input_bytes).as_str()),
        "the test's input model changed: rerun scripts/gen-llama-cpp-fixtures.sh"
    );
    let input = GgufFile::from_bytes(input_bytes).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), TARGETS.len(), "{FIXTURE} is stale");
    let mut compared = 0;
    for (target, want) in TARGETS.into_iter().zip(cases) {
        let got = summary(target, &ours(&input, target));
        assert_eq!(got["type"], want["type"], "{FIXTURE} is stale");
        assert_eq!(got["file_type"], want["file_type"], "{target} file type");
        let (got, want) = (&got["tensors"], want["tensors"].as_object().unwrap());
        assert_eq!(
            got.as_object().unwrap().len(),
            want.len(),
            "{target} tensors"
        );
        for (name, want) in want {
            assert_eq!(
                &got[name], want,
                "{target} {name}: differs from llama-quantize's output"
            );
            compared += 1;
        }
    }
    eprintln!("{compared} tensors identical to llama-quantize's committed digests");
}

#[test]
fn tensors_match_live_llama_quantize() {
    let Some(bin) = llama_cpp::bin("llama-quantize", "LLAMA_QUANTIZE") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("aikernel-quant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("f32.gguf");
    let input_bytes = tiny_llama();
    std::fs::write(&src, &input_bytes).unwrap();
    let input = GgufFile::from_bytes(input_bytes.clone()).unwrap();
    let mut outputs = Vec::new();
    for target in TARGETS {
        let dst = dir.join(format!("{target}.gguf"));
        let status = Command::new(&bin)
            .args([
                "--pure",
                "--token-embedding-type",
                "q8_0",
                "--output-tensor-type",
                "q8_0",
            ])
            .arg(&src)
            .arg(&dst)
            .arg(target.to_string())
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        outputs.push((target, GgufFile::open(&dst).unwrap()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    if llama_cpp::writing_fixtures() {
        let mut head = llama_cpp::head(None);
        head["input_sha256"] = sha256(&input_bytes).into();
        let cases: Vec<Value> = outputs.iter().map(|(t, f)| summary(*t, f)).collect();
        llama_cpp::write_fixture(FIXTURE, &head, &cases);
    }
    let mut compared = 0;
    for (target, theirs) in &outputs {
        let ours = ours(&input, *target);
        for info in ours.tensors() {
            let a = ours.tensor(&info.name).unwrap();
            let b = theirs.tensor(&info.name).unwrap();
            assert_eq!(a.dtype, b.dtype, "{target} {}", info.name);
            assert_eq!(a.dims, b.dims);
            assert!(
                a.data == b.data,
                "{target} {}: bytes differ from llama-quantize",
                info.name
            );
            compared += 1;
        }
        assert_eq!(
            theirs.meta_u32("general.file_type").unwrap(),
            target.file_type()
        );
    }
    eprintln!("{compared} tensors byte-identical to llama-quantize");
}
