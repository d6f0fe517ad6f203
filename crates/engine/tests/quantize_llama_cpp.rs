//! Cross-check against llama.cpp's `llama-quantize --pure` (skipped when it is not built:
//! scripts/build-llama-cpp.sh): every tensor we quantize must be byte-identical to ggml's
//! reference quantizer output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

use std::path::PathBuf;
use std::process::Command;

use aikernel_engine::f16::f32_to_f16;
use aikernel_engine::gguf::{GgmlType, GgufFile, GgufWriter, MetaValue};
use aikernel_engine::quantize::{QuantType, quantize_gguf};

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

#[test]
fn tensors_match_llama_quantize() {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let bin = std::env::var_os("LLAMA_QUANTIZE").map_or_else(
        || home.join(".cache/aikernel/llama.cpp/build/bin/llama-quantize"),
        PathBuf::from,
    );
    if !bin.exists() {
        eprintln!("skipping: {} not built", bin.display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("aikernel-quant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("f32.gguf");
    std::fs::write(&src, tiny_llama()).unwrap();
    let input = GgufFile::open(&src).unwrap();
    let mut compared = 0;
    for target in [QuantType::Q8_0, QuantType::Q4_0, QuantType::Q4_1] {
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
        let theirs = GgufFile::open(&dst).unwrap();
        let mut ours = Vec::new();
        quantize_gguf(&input, target, &mut ours).unwrap();
        let ours = GgufFile::from_bytes(ours).unwrap();
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
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{compared} tensors byte-identical to llama-quantize");
}
