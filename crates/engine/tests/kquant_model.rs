//! The K-quant formats on the real model.
//!
//! - `requantized_q4_k_m_golden`: the default model requantized by our own quantizer to the
//!   Q4_K_M mix (Q4_K, Q6_K, Q5_0 and Q8_0 tensors: every new kernel) gives the committed
//!   token ids and logits SHA-256 (`fixtures/golden_smollm2_q4_k_m.json`) on every thread
//!   count and kernel this CPU has. Runs everywhere (no llama.cpp needed). Regenerate
//!   deliberately with `AIKERNEL_BLESS=1`.
//! - `live_llama_quantize_files_are_bit_exact_across_kernels`: files made by `llama-quantize`
//!   (Q4_K_M, Q5_K_M, Q6_K, as people download them) load and give the same bits on every
//!   kernel and thread count; a recorded skip (`llama-cpp`) where llama.cpp is not built.
//! - Round trips of every new block quantizer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aikernel_engine::gguf::{GgmlType, GgufFile};
use aikernel_engine::kernels::{WeightView, dequant_row};
use aikernel_engine::quantize::{QuantType, kblocks, requantize_gguf};
use aikernel_engine::{Kernel, Model};
use serde_json::Value;

use common::{golden, llama_cpp};

/// `golden_logits`' requests but the last (each costs minutes under qemu).
fn run_cases(m: &Model, threads: usize, kernel: Kernel) -> Value {
    golden::run_cases(m, &golden::CASES[..3], threads, kernel)
}

/// The same results on threads 1, 2, 3 and every kernel this CPU has; returns them. (On
/// aarch64, so far only run under qemu, where each run takes minutes: one thread count per
/// kernel; `kernels_match_scalar` covers NEON against scalar on every type.)
fn same_everywhere(m: &Model, label: &str) -> Value {
    let thread_counts: &[usize] = if cfg!(target_arch = "aarch64") {
        &[3]
    } else {
        &[1, 2, 3]
    };
    let want = run_cases(m, 1, Kernel::Scalar);
    // `Auto` is one of the others.
    for kernel in Kernel::ALL
        .into_iter()
        .filter(|&k| k.is_supported() && k != Kernel::Auto)
    {
        for &threads in thread_counts {
            if kernel == Kernel::Scalar && threads == 1 {
                continue;
            }
            let got = run_cases(m, threads, kernel);
            assert_eq!(
                got, want,
                "{label}: {kernel} on {threads} threads differs from scalar"
            );
        }
    }
    want
}

/// How many tensors of each type a file holds.
fn type_counts(g: &GgufFile) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for t in g.tensors() {
        *counts.entry(t.dtype.to_string()).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aikernel-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn requantized_q4_k_m_golden() {
    let input = GgufFile::open(&common::model_path()).unwrap();
    let mut bytes = Vec::new();
    requantize_gguf(&input, QuantType::Q4_K_M, &mut bytes).unwrap();
    let g = GgufFile::from_bytes(bytes).unwrap();
    // llama-quantize's Q4_K_M of this model has the same mix (576-wide rows fall back to Q5_0,
    // `attn_v` of the "more bits" layers to Q8_0): 16 Q4_K, 14 Q6_K, 166 Q5_0, 15 Q8_0.
    let counts = type_counts(&g);
    let count = |t: &str| counts.iter().find(|c| c.0 == t).map_or(0, |c| c.1);
    assert_eq!(
        (count("Q4_K"), count("Q6_K"), count("Q5_0"), count("Q8_0")),
        (16, 14, 166, 15),
        "{counts:?}"
    );
    let m = Model::from_gguf(g).unwrap();
    let got = same_everywhere(&m, "requantized Q4_K_M");
    golden::check_fixture(&got, "golden_smollm2_q4_k_m.json");
}

#[test]
fn live_llama_quantize_files_are_bit_exact_across_kernels() {
    let Some(bin) = llama_cpp::bin("llama-quantize", "LLAMA_QUANTIZE") else {
        return;
    };
    let dir = temp_dir("kquant");
    let src = common::model_path();
    for (target, must_hold) in [
        ("Q4_K_M", [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q5_0]),
        ("Q5_K_M", [GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q5_1]),
        ("Q6_K", [GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q8_0]),
    ] {
        let dst = dir.join(format!("{target}.gguf"));
        quantize_with(&bin, &src, &dst, target);
        let g = GgufFile::open(&dst).unwrap();
        for t in must_hold {
            assert!(g.tensors().iter().any(|i| i.dtype == t), "{target}: no {t}");
        }
        let m = Model::from_gguf(g).unwrap();
        let r = same_everywhere(&m, target);
        eprintln!("{target}: {}", r[0]["logits_sha256"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn quantize_with(bin: &Path, src: &Path, dst: &Path, target: &str) {
    let out = Command::new(bin)
        .arg("--allow-requantize")
        .arg(src)
        .arg(dst)
        .arg(target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pseudo-random weights with the shapes quantizers find hard: outliers, one-signed blocks,
/// constant and zero runs.
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2;
            match (i / 256) % 5 {
                1 if i % 97 == 3 => v * 20.0,
                2 => v.abs() + 0.05,
                3 => -v.abs(),
                4 if i % 256 < 64 => 0.0,
                _ => v,
            }
        })
        .collect()
}

#[test]
fn new_quantizers_round_trip() {
    type Quantizer = fn(&[f32], &mut Vec<u8>);
    // (type, quantizer, bound on RMS error / RMS value: measured 0.070, 0.037, 0.079, 0.038,
    // 0.027 on these values, whose outliers set most blocks' scales)
    let cases: [(GgmlType, Quantizer, f64); 5] = [
        (GgmlType::Q5_0, kblocks::quantize_q5_0, 0.09),
        (GgmlType::Q5_1, kblocks::quantize_q5_1, 0.05),
        (GgmlType::Q4_K, kblocks::quantize_q4_k, 0.1),
        (GgmlType::Q5_K, kblocks::quantize_q5_k, 0.05),
        (GgmlType::Q6_K, kblocks::quantize_q6_k, 0.035),
    ];
    let (rows, cols) = (6, 1280);
    let x = values(42, rows * cols);
    for (dtype, quantize, bound) in cases {
        let mut data = Vec::new();
        quantize(&x, &mut data);
        assert_eq!(
            data.len() as u64,
            dtype.row_bytes(cols as u64).unwrap() * rows as u64
        );
        let w = WeightView {
            dtype,
            rows,
            cols,
            data: &data,
        };
        let mut back = vec![0f32; cols];
        let (mut err, mut mag) = (0f64, 0f64);
        for r in 0..rows {
            dequant_row(&w, r, &mut back);
            for (a, b) in x[r * cols..(r + 1) * cols].iter().zip(&back) {
                let (d, v) = (f64::from(a - b), f64::from(*a));
                err += d * d;
                mag += v * v;
            }
        }
        let rel = (err / mag).sqrt();
        eprintln!("{dtype}: relative RMS error {rel:.4}");
        assert!(rel < bound, "{dtype}: relative RMS error {rel}");
        // Deterministic: the same bytes again.
        let mut again = Vec::new();
        quantize(&x, &mut again);
        assert_eq!(again, data, "{dtype}");
        // Zeros stay zeros.
        let mut z = Vec::new();
        quantize(&vec![0.0; cols], &mut z);
        let wz = WeightView {
            dtype,
            rows: 1,
            cols,
            data: &z,
        };
        dequant_row(&wz, 0, &mut back);
        assert!(back.iter().all(|&v| v == 0.0), "{dtype}: zeros");
    }
}

#[test]
fn truncated_or_misshapen_k_tensors_are_refused_at_load() {
    use aikernel_engine::gguf::GgufWriter;
    for (dtype, bytes) in [
        (GgmlType::Q4_K, 144),
        (GgmlType::Q5_K, 176),
        (GgmlType::Q6_K, 210),
    ] {
        let mut w = GgufWriter::new();
        w.add_tensor(
            "blk.0.ffn_down.weight",
            &[256, 2],
            dtype,
            vec![0u8; 2 * bytes],
        )
        .unwrap();
        let mut file = w.to_bytes().unwrap();
        GgufFile::from_bytes(file.clone()).unwrap();
        file.truncate(file.len() - 40); // past any padding after the data
        let err = GgufFile::from_bytes(file).unwrap_err().to_string();
        assert!(
            err.contains("blk.0.ffn_down.weight") && err.contains(&dtype.to_string()),
            "{err}"
        );
        // A row that is not a whole number of 256-value super-blocks.
        let mut w = GgufWriter::new();
        assert!(
            w.add_tensor("t", &[288, 1], dtype, vec![0u8; bytes])
                .is_err()
        );
    }
}
