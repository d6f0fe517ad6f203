//! Matmul kernels: scalar and SIMD give identical bits for every weight type, any row
//! count (SIMD groups of eight plus a scalar tail), any thread count, and agree with a
//! dequantized f64 reference up to the activation quantization error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aikernel_engine::f16::f32_to_f16;
use aikernel_engine::gguf::GgmlType;
use aikernel_engine::kernels::{Acts, Ctx, Kernel, WeightView, matmul};
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
    let (rows, cols, n) = (37, 96, 5);
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
        for (threads, kernel) in [
            (1, Kernel::Auto),
            (2, Kernel::Auto),
            (3, Kernel::Scalar),
            (8, Kernel::Auto),
        ] {
            let mut got = vec![0f32; n * rows];
            matmul(&Ctx::new(threads, kernel).unwrap(), &view, &acts, &mut got);
            let same = want
                .iter()
                .zip(&got)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{dtype:?} threads {threads} {kernel:?} differs");
        }
        // One token alone gives the same bits as inside the batch.
        let acts1 = Acts::new(&x[2 * cols..3 * cols], cols);
        let mut one = vec![0f32; rows];
        matmul(&Ctx::new(1, Kernel::Auto).unwrap(), &view, &acts1, &mut one);
        assert!(
            one.iter()
                .zip(&want[2 * rows..3 * rows])
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        for t in 0..n {
            for r in 0..rows {
                let exact: f64 = (0..cols)
                    .map(|i| f64::from(deq[r * cols + i]) * f64::from(x[t * cols + i]))
                    .sum();
                let got = f64::from(want[t * rows + r]);
                let tol = if matches!(dtype, GgmlType::F32 | GgmlType::F16) {
                    1e-4
                } else {
                    0.15
                };
                assert!(
                    (exact - got).abs() < tol,
                    "{dtype:?} row {r} token {t}: {got} vs {exact}"
                );
            }
        }
    }
}
