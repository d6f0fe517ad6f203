//! The host build of the CUDA one-query attention against the engine's own scalar attention
//! over a binary16 cache (`aikernel_engine::kernels::reference::attention`, which runs
//! `kernels/attention.rs`'s scores, softmax and value sums). The sequence: score
//! `(Σ_d q·k) · (1 / sqrtf(hd))`, max from −∞ in position order, `e = expf(s − m)` summed in
//! order, output `(Σ_j e_j·v_j) / sum`.
#![allow(clippy::unwrap_used)]

mod common;

use aikernel_cuda::host::attention;
use aikernel_engine::f16::f32_to_f16;
use aikernel_engine::kernels::reference;
use common::{Rng, same};

fn engine_attention(q: &[f32], k: &[u16], v: &[u16]) -> Vec<f32> {
    reference::attention(q, k, v).unwrap()
}

#[test]
fn one_query_attention_matches_engine_arithmetic() {
    let mut rng = Rng::new(21);
    for (n, hd, span) in [
        (1usize, 64usize, 2),
        (37, 64, 3),
        (300, 128, 4),
        (9, 256, 1),
        (64, 80, 8),
    ] {
        let q: Vec<f32> = (0..hd).map(|_| rng.wide(span)).collect();
        let f16s = |rng: &mut Rng| -> Vec<u16> {
            (0..n * hd).map(|_| f32_to_f16(rng.wide(span))).collect()
        };
        let k = f16s(&mut rng);
        let v = f16s(&mut rng);
        let got = attention(&q, &k, &v).unwrap();
        let want = engine_attention(&q, &k, &v);
        for i in 0..hd {
            assert!(
                same(got[i], want[i]),
                "n {n} hd {hd} [{i}]: {:e} vs {:e}",
                got[i],
                want[i]
            );
        }
    }
    // Scores far apart (most numerators underflow to zero) and a cache with subnormal halves.
    let hd = 32;
    let q: Vec<f32> = (0..hd).map(|i| if i == 0 { 200.0 } else { 0.0 }).collect();
    let k: Vec<u16> = (0..8 * hd)
        .map(|i| f32_to_f16((i / hd) as f32 * 3.0))
        .collect();
    let v: Vec<u16> = (0..8 * hd).map(|i| (i % 7) as u16).collect();
    assert_eq!(
        attention(&q, &k, &v)
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>(),
        engine_attention(&q, &k, &v)
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    );
}
