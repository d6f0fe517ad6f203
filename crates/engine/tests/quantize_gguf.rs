//! Quantizer: a synthetic F32/F16 model to each type, re-read, error bounds, tensor rule,
//! golden output hashes (same bytes on every machine).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

use aikernel_engine::f16::f32_to_f16;
use aikernel_engine::gguf::{GgmlType, GgufFile, GgufWriter, MetaValue};
use aikernel_engine::quantize::blocks::{dequantize_q4_0, dequantize_q4_1, dequantize_q8_0};
use aikernel_engine::quantize::{QuantType, QuantizeError, quantize_gguf};
use sha2::{Digest, Sha256};

/// Deterministic values in about [-scale, scale] from a 64-bit LCG, via integers only.
fn values(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (s >> 40) as i32 - (1 << 23); // [-2^23, 2^23)
            let v = u as f32 / (1 << 23) as f32 * scale;
            // Some blocks with an outlier, some all-positive, some zero.
            match (i / 32) % 7 {
                3 if i % 32 == 5 => v * 9.0,
                4 => v.abs() + 0.5,
                6 => 0.0,
                _ => v,
            }
        })
        .collect()
}

fn f32_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn synthetic_model() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", MetaValue::Str("llama".into()));
    w.add_metadata("general.file_type", MetaValue::U32(0));
    w.add_metadata("llama.block_count", MetaValue::U32(1));
    w.add_metadata("llama.embedding_length", MetaValue::U32(64));
    w.add_tensor(
        "token_embd.weight",
        &[64, 50],
        GgmlType::F32,
        f32_bytes(&values(1, 64 * 50, 1.0)),
    )
    .unwrap();
    w.add_tensor(
        "blk.0.attn_norm.weight",
        &[64],
        GgmlType::F32,
        f32_bytes(&values(2, 64, 1.0)),
    )
    .unwrap();
    w.add_tensor(
        "blk.0.attn_q.weight",
        &[64, 64],
        GgmlType::F32,
        f32_bytes(&values(3, 64 * 64, 0.1)),
    )
    .unwrap();
    let f16: Vec<u8> = values(4, 64 * 96, 0.05)
        .iter()
        .flat_map(|&v| f32_to_f16(v).to_le_bytes())
        .collect();
    w.add_tensor("blk.0.ffn_up.weight", &[64, 96], GgmlType::F16, f16)
        .unwrap();
    w.add_tensor(
        "blk.0.odd.weight",
        &[40, 3],
        GgmlType::F32,
        f32_bytes(&values(5, 120, 1.0)),
    )
    .unwrap();
    w.add_tensor("blk.0.pre.weight", &[32, 2], GgmlType::Q8_0, vec![0u8; 68])
        .unwrap();
    w.to_bytes().unwrap()
}

fn original(g: &GgufFile, name: &str) -> Vec<f32> {
    let t = g.tensor(name).unwrap();
    match t.dtype {
        GgmlType::F32 => t
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        GgmlType::F16 => aikernel_engine::f16::f16_bytes_to_f32(t.data),
        other => panic!("{other}"),
    }
}

fn dequantize(dtype: GgmlType, data: &[u8]) -> Vec<f32> {
    let mut out = Vec::new();
    match dtype {
        GgmlType::Q8_0 => dequantize_q8_0(data, &mut out),
        GgmlType::Q4_0 => dequantize_q4_0(data, &mut out),
        GgmlType::Q4_1 => dequantize_q4_1(data, &mut out),
        other => panic!("{other}"),
    }
    out
}

/// Largest error the format allows for one 32-value block, f16 scale rounding included.
fn bound(dtype: GgmlType, block: &[f32]) -> f32 {
    let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let (min, max) = block
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    match dtype {
        GgmlType::Q8_0 => 0.5 * amax / 127.0 + amax * 1e-3,
        // The largest value of the opposite sign may clamp from 8 to 7 steps.
        GgmlType::Q4_0 => amax / 8.0 + amax * 5e-3,
        GgmlType::Q4_1 => 0.5 * (max - min) / 15.0 + (max - min) * 1e-2 + min.abs() * 1e-3,
        other => panic!("{other}"),
    }
}

fn run(target: QuantType) -> (Vec<u8>, GgufFile) {
    let input = GgufFile::from_bytes(synthetic_model()).unwrap();
    let mut out = Vec::new();
    let report = quantize_gguf(&input, target, &mut out).unwrap();
    assert_eq!(report.bytes_written, out.len() as u64);
    assert_eq!(
        report.copied,
        [
            "blk.0.attn_norm.weight",
            "blk.0.odd.weight",
            "blk.0.pre.weight"
        ]
    );
    assert_eq!(report.quantized.len(), 3);
    (out, input)
}

fn check(target: QuantType, golden: &str) {
    let (bytes, input) = run(target);
    assert_eq!(run(target).0, bytes, "quantization is not deterministic");
    let g = GgufFile::from_bytes(bytes.clone()).unwrap();
    assert_eq!(g.version(), 3);
    assert_eq!(g.meta_u32("general.file_type").unwrap(), target.file_type());
    assert_eq!(g.meta_u32("general.quantization_version").unwrap(), 2);
    assert_eq!(g.meta_str("general.architecture").unwrap(), "llama");
    assert_eq!(g.meta_u32("llama.embedding_length").unwrap(), 64);
    // The embedding is Q8_0 whatever the target.
    assert_eq!(g.tensor("token_embd.weight").unwrap().dtype, GgmlType::Q8_0);
    for name in ["blk.0.attn_q.weight", "blk.0.ffn_up.weight"] {
        assert_eq!(g.tensor(name).unwrap().dtype, target.ggml_type(), "{name}");
    }
    for name in [
        "blk.0.attn_norm.weight",
        "blk.0.odd.weight",
        "blk.0.pre.weight",
    ] {
        assert_eq!(
            g.tensor(name).unwrap().data,
            input.tensor(name).unwrap().data,
            "{name}"
        );
        assert_eq!(
            g.tensor(name).unwrap().dtype,
            input.tensor(name).unwrap().dtype
        );
    }
    for name in [
        "token_embd.weight",
        "blk.0.attn_q.weight",
        "blk.0.ffn_up.weight",
    ] {
        let t = g.tensor(name).unwrap();
        let x = original(&input, name);
        let y = dequantize(t.dtype, t.data);
        assert_eq!(x.len(), y.len());
        let mut worst = 0.0f32;
        for (bx, by) in x.chunks(32).zip(y.chunks(32)) {
            let b = bound(t.dtype, bx);
            for (a, c) in bx.iter().zip(by) {
                assert!(
                    (a - c).abs() <= b,
                    "{name} {}: {a} vs {c} (bound {b})",
                    t.dtype
                );
                worst = worst.max((a - c).abs() / bx.iter().fold(1e-30f32, |m, v| m.max(v.abs())));
            }
        }
        eprintln!("{target} {name}: worst error {worst:.4} of block max");
    }
    let hash = hex::encode(Sha256::digest(&bytes));
    assert_eq!(hash, golden, "{target} output changed");
}

#[test]
fn q8_0_golden() {
    check(
        QuantType::Q8_0,
        "9003592efe5e8a5d7913a1f7b9ca33b3615f61b9d3d68e6191ee782763ee6b70",
    );
}

#[test]
fn q4_0_golden() {
    check(
        QuantType::Q4_0,
        "b3936edd1ceb099191f8437cb64d7e57a142c2378d158acacac4d21f803a49d6",
    );
}

#[test]
fn q4_1_golden() {
    check(
        QuantType::Q4_1,
        "389d0f22c4963d5936685a52a812960ac994cf0f09fe89e338d6f5b6f8707f2d",
    );
}

#[test]
fn non_finite_weights_are_rejected() {
    let mut w = GgufWriter::new();
    let mut x = values(9, 64, 1.0);
    x[40] = f32::NAN;
    w.add_tensor("w", &[32, 2], GgmlType::F32, f32_bytes(&x))
        .unwrap();
    let g = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let err = quantize_gguf(&g, QuantType::Q4_1, &mut Vec::new()).unwrap_err();
    assert!(
        matches!(err, QuantizeError::NonFinite { ref tensor, index: 40 } if tensor == "w"),
        "{err}"
    );
    assert!("q3_k".parse::<QuantType>().is_err());
    assert_eq!("q5_k".parse::<QuantType>().unwrap(), QuantType::Q5_K);
    assert_eq!("q4_1".parse::<QuantType>().unwrap(), QuantType::Q4_1);
}
