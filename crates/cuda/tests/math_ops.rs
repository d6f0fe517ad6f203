//! The host build of the CUDA kernels' `expf`, `tanhf`, RMSNorm, SiLU and GELU gating and
//! soft-capping against the engine's scalar reference, bit for bit.
#![allow(clippy::unwrap_used)]

mod common;

use aikernel_cuda::host::{Unary, rmsnorm, unary};
use aikernel_engine::kernels::reference;
use common::{Rng, same};

/// A sweep of f32 bit patterns of both signs up to infinity, libm's branch thresholds of
/// `expf`, `expm1f` and `tanhf` (and of `expm1f` at tanh's doubled argument) with neighbours,
/// and the specials.
fn sweep(stride: u32) -> Vec<f32> {
    let mut xs = Vec::new();
    let mut b = 0u32;
    while b < 0x7f80_0000 {
        xs.push(f32::from_bits(b));
        xs.push(-f32::from_bits(b));
        b += stride;
    }
    for t in [
        0x42ae_ac50u32,
        0x42b1_7218,
        0x42cf_f1b5,
        0x3eb1_7218,
        0x3f85_1592,
        0x3900_0000,
        0x4195_b844,
        0x42b1_7217,
        0x3300_0000,
        0x0080_0000,
        0x3e82_c578,
        0x3f0c_9f54,
        0x4120_0000,
        0x3eb1_7218 - (1 << 23),
        0x3f85_1592 - (1 << 23),
        0x3300_0000 - (1 << 23),
        0x4195_b844 - (1 << 23),
    ] {
        for d in 0..4 {
            for v in [t - d, t + d] {
                xs.push(f32::from_bits(v));
                xs.push(-f32::from_bits(v));
            }
        }
    }
    xs.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1.0,
        -1.0,
        f32::MAX,
        f32::MIN,
    ]);
    xs.push(f32::from_bits(1));
    xs.push(-f32::from_bits(1));
    xs
}

#[test]
fn expf_matches_engine() {
    let mut xs = sweep(7919);
    let mut v = -104.0f32;
    while v < 90.0 {
        xs.push(v);
        v += 0.003_7;
    }
    let got = unary(Unary::Exp, &xs, &xs).unwrap();
    for (&x, &g) in xs.iter().zip(&got) {
        let want = reference::expf(x);
        assert!(same(g, want), "expf({x:e}) = {g:e}, engine {want:e}");
    }
}

#[test]
fn tanhf_matches_engine() {
    let mut xs = sweep(7919);
    let mut v = -12.0f32;
    while v < 12.0 {
        xs.push(v);
        v += 0.000_97;
    }
    let got = unary(Unary::Tanh, &xs, &xs).unwrap();
    for (&x, &g) in xs.iter().zip(&got) {
        let want = reference::tanhf(x);
        assert!(same(g, want), "tanhf({x:e}) = {g:e}, engine {want:e}");
    }
}

/// Gates over the range activations reach, plus the sweep's extremes; values random.
fn gates(rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let mut g: Vec<f32> = (0..20_000).map(|_| rng.wide(6) * 4.0).collect();
    g.extend(sweep(1 << 20));
    let u: Vec<f32> = g.iter().map(|_| rng.wide(8)).collect();
    (g, u)
}

#[test]
fn silu_and_gelu_gating_match_engine() {
    let mut rng = Rng::new(3);
    let (g, u) = gates(&mut rng);
    let mut want = u.clone();
    reference::silu_mul(&g, &mut want);
    let got = unary(Unary::SiluMul, &g, &u).unwrap();
    for i in 0..g.len() {
        assert!(
            same(got[i], want[i]),
            "silu g={:e} u={:e}: {:e} vs {:e}",
            g[i],
            u[i],
            got[i],
            want[i]
        );
    }
    let mut want = u.clone();
    reference::gelu_mul(&g, &mut want);
    let got = unary(Unary::GeluMul, &g, &u).unwrap();
    for i in 0..g.len() {
        assert!(
            same(got[i], want[i]),
            "gelu g={:e} u={:e}: {:e} vs {:e}",
            g[i],
            u[i],
            got[i],
            want[i]
        );
    }
}

#[test]
fn softcap_matches_engine() {
    let mut rng = Rng::new(4);
    let mut l: Vec<f32> = (0..10_000).map(|_| rng.wide(7) * 30.0).collect();
    l.extend(sweep(1 << 21));
    for c in [30.0f32, 50.0, 0.7] {
        let mut want = l.clone();
        reference::softcap(&mut want, c);
        let got = unary(Unary::Softcap(c), &l, &l).unwrap();
        for i in 0..l.len() {
            assert!(
                same(got[i], want[i]),
                "softcap({:e}, {c}) = {:e} vs {:e}",
                l[i],
                got[i],
                want[i]
            );
        }
    }
}

#[test]
fn rmsnorm_matches_engine() {
    let mut rng = Rng::new(5);
    for (n, span, eps) in [
        (576usize, 4, 1e-5f32),
        (64, 20, 1e-6),
        (2048, 1, 1e-5),
        (7, 60, 0.0),
    ] {
        let rows = 5;
        let mut x: Vec<f32> = (0..n * rows).map(|_| rng.wide(span)).collect();
        // Row 1 all zero (eps only), row 2 subnormal, row 3 with an infinity.
        x[n..2 * n].fill(0.0);
        for v in &mut x[2 * n..3 * n] {
            *v = f32::from_bits(rng.next() as u32 & 0x007f_ffff);
        }
        x[3 * n] = f32::INFINITY;
        let w: Vec<f32> = (0..n).map(|_| 1.0 + rng.unit()).collect();
        let got = rmsnorm(&x, &w, eps).unwrap();
        let mut want = vec![0f32; n];
        for r in 0..rows {
            reference::rmsnorm(&x[r * n..(r + 1) * n], &w, eps, &mut want);
            for i in 0..n {
                assert!(
                    same(got[r * n + i], want[i]),
                    "n={n} row {r} [{i}]: {:e} vs {:e}",
                    got[r * n + i],
                    want[i]
                );
            }
        }
    }
}

#[test]
fn rope_matches_engine_in_both_layouts() {
    let mut rng = Rng::new(6);
    for (hd, heads) in [(64usize, 9usize), (128, 3), (256, 2)] {
        let cs: Vec<(f32, f32)> = (0..hd / 2)
            .map(|i| {
                let a = rng.unit() * 3.0 * i as f32;
                (libm::cosf(a), libm::sinf(a))
            })
            .collect();
        let x: Vec<f32> = (0..hd * heads).map(|_| rng.wide(10)).collect();
        for neox in [false, true] {
            let mut got = x.clone();
            aikernel_cuda::host::rope(&mut got, hd, &cs, neox).unwrap();
            let mut want = x.clone();
            reference::rope(&mut want, hd, &cs, neox);
            for i in 0..x.len() {
                assert!(
                    same(got[i], want[i]),
                    "hd {hd} neox {neox} [{i}]: {:e} vs {:e}",
                    got[i],
                    want[i]
                );
            }
        }
    }
}

#[test]
fn f16_encoding_matches_engine() {
    let mut xs = sweep(4099);
    // Dense around the f16 subnormal, normal and overflow boundaries.
    for t in [0x3380_0000u32, 0x3880_0000, 0x477f_e000, 0x3300_0000] {
        for d in 0..5000 {
            xs.push(f32::from_bits(t - d));
            xs.push(f32::from_bits(t + d));
        }
    }
    let got = aikernel_cuda::host::f32_to_f16(&xs).unwrap();
    for (&x, &g) in xs.iter().zip(&got) {
        let want = aikernel_engine::f16::f32_to_f16(x);
        assert_eq!(g, want, "f32_to_f16({x:e}) = {g:#06x}, engine {want:#06x}");
    }
}
