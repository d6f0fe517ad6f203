//! Matmul kernels: scalar and every SIMD kernel this CPU has give identical bits for every
//! weight type, any row count (groups of sixteen and eight rows plus a scalar tail), any
//! thread count, and agree with a dequantized f64 reference up to the activation
//! quantization error. A kernel the CPU lacks is refused with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aikernel_engine::f16::f32_to_f16;
use aikernel_engine::gguf::GgmlType;
use aikernel_engine::kernels::{Acts, Ctx, Kernel, WeightView, matmul, matmul_rows};
use aikernel_engine::quantize::blocks;

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn encode(dtype: GgmlType, w: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let mut out = Vec::new();
    let mut deq = Vec::new();
    match dtype {
        GgmlType::F32 => {
            out = w.iter().flat_map(|v| v.to_le_bytes()).collect();
            deq = w.to_vec();
        }
        GgmlType::F16 => {
            out = w
                .iter()
                .flat_map(|&v| f32_to_f16(v).to_le_bytes())
                .collect();
            deq = w
                .iter()
                .map(|&v| aikernel_engine::f16::f16_to_f32(f32_to_f16(v)))
                .collect();
        }
        GgmlType::Q8_0 => {
            blocks::quantize_q8_0(w, &mut out);
            blocks::dequantize_q8_0(&out, &mut deq);
        }
        GgmlType::Q4_0 => {
            blocks::quantize_q4_0(w, &mut out);
            blocks::dequantize_q4_0(&out, &mut deq);
        }
        _ => {
            blocks::quantize_q4_1(w, &mut out);
            blocks::dequantize_q4_1(&out, &mut deq);
        }
    }
    (out, deq)
}

#[test]
fn scalar_simd_threads_identical_and_close_to_reference() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // 61 rows: one thread takes chunks of 16, so the last chunk (13) runs a 16-row group
    // nowhere, an 8-row group and a 5-row scalar tail.
    let (rows, cols, n) = (61, 96, 5);
    let kernels: Vec<Kernel> = Kernel::ALL
        .into_iter()
        .filter(|k| k.is_supported())
        .collect();
    eprintln!("kernels on this CPU: {kernels:?}");
    for dtype in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
    ] {
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.f()).collect();
        let x: Vec<f32> = (0..n * cols).map(|_| rng.f() * 3.0).collect();
        let (data, deq) = encode(dtype, &w);
        let view = WeightView {
            dtype,
            rows,
            cols,
            data: &data,
        };
        let acts = Acts::new(&x, cols);
        let mut want = vec![0f32; n * rows];
        matmul(
            &Ctx::new(1, Kernel::Scalar).unwrap(),
            &view,
            &acts,
            &mut want,
        );
        for (threads, &kernel) in [1, 2, 3, 8]
            .into_iter()
            .flat_map(|t| kernels.iter().map(move |k| (t, k)))
        {
            let mut got = vec![0f32; n * rows];
            matmul(&Ctx::new(threads, kernel).unwrap(), &view, &acts, &mut got);
            let same = want
                .iter()
                .zip(&got)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{dtype:?} threads {threads} {kernel:?} differs");
            // Each token's outputs into a row of its own (a step's logits): the same bits.
            let mut rows_out: Vec<Vec<f32>> = (0..n).map(|t| vec![t as f32; rows]).collect();
            let outs: Vec<&mut [f32]> = rows_out.iter_mut().map(Vec::as_mut_slice).collect();
            matmul_rows(&Ctx::new(threads, kernel).unwrap(), &view, &acts, outs);
            let same = rows_out
                .iter()
                .flatten()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{dtype:?} threads {threads} {kernel:?}: rows differ");
        }
        // One token alone gives the same bits as inside the batch, with every kernel.
        let acts1 = Acts::new(&x[2 * cols..3 * cols], cols);
        for &kernel in &kernels {
            let mut one = vec![0f32; rows];
            matmul(&Ctx::new(1, kernel).unwrap(), &view, &acts1, &mut one);
            assert!(
                one.iter()
                    .zip(&want[2 * rows..3 * rows])
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{dtype:?} {kernel:?} one token differs from the batch"
            );
        }
        for t in 0..n {
            for r in 0..rows {
                let exact: f64 = (0..cols)
                    .map(|i| f64::from(deq[r * cols + i]) * f64::from(x[t * cols + i]))
                    .sum();
                let got = f64::from(want[t * rows + r]);
                // Quantized weights see rounded activations: each element is off by at most
                // half its block's step `d`, so the sum is off by at most Σ |w| · d / 2
                // (plus f32 rounding of the accumulation).
                let tol = if matches!(dtype, GgmlType::F32 | GgmlType::F16) {
                    1e-4
                } else {
                    (0..cols)
                        .map(|i| {
                            let d = f64::from(acts.d[(t * cols + i) / 32]);
                            f64::from(deq[r * cols + i]).abs() * d / 2.0
                        })
                        .sum::<f64>()
                        * 1.001
                        + 1e-4
                };
                assert!(
                    (exact - got).abs() < tol,
                    "{dtype:?} row {r} token {t}: {got} vs {exact}"
                );
            }
        }
    }
}

#[test]
fn kernel_names_and_unsupported_kernels_are_clear_errors() {
    for k in Kernel::ALL {
        assert_eq!(k.name().parse::<Kernel>().unwrap(), k);
        match Ctx::new(1, k) {
            Ok(ctx) => {
                assert!(k.is_supported());
                assert_ne!(
                    ctx.kernel(),
                    Kernel::Auto,
                    "auto resolves to a concrete kernel"
                );
                assert!(ctx.kernel() == k || k == Kernel::Auto);
            }
            Err(e) => {
                assert!(!k.is_supported());
                let msg = e.to_string();
                assert!(
                    msg.contains(k.name()) && msg.contains("not supported"),
                    "{msg}"
                );
            }
        }
    }
    let e = "avx1024".parse::<Kernel>().unwrap_err().to_string();
    assert!(e.contains("avx1024") && e.contains("scalar"), "{e}");
    assert_eq!(
        Kernel::Auto.resolve().unwrap(),
        Ctx::new(1, Kernel::Auto).unwrap().kernel()
    );
}

#[test]
fn activation_quantization_is_the_same_on_any_team() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let cols = 96;
    let mut x: Vec<f32> = (0..7 * cols).map(|_| rng.f() * 40.0).collect();
    x[cols..cols + 32].fill(0.0); // a zero block: scale 0, quants 0
    x[2 * cols] = 1.0e30; // one huge value squashes its block
    let want = Acts::new(&x, cols);
    for threads in [1, 2, 3, 8] {
        let got = Acts::new_in(&Ctx::new(threads, Kernel::Scalar).unwrap(), &x, cols);
        assert_eq!(got.q, want.q, "threads {threads}");
        assert_eq!(got.s, want.s, "threads {threads}");
        let bits = |d: &[f32]| d.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got.d), bits(&want.d), "threads {threads}");
    }
    assert_eq!(want.d[cols / 32].to_bits(), 0);
}
