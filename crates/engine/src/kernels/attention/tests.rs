//! The attention steps against a direct transcription of the documented formula, and
//! every SIMD path against the scalar reference, at lengths around block and chunk edges,
//! with sliding windows and head groups wider than one SIMD pass.
#![allow(clippy::float_cmp)]

use super::*;
use crate::kernels::Kernel;

struct Rng(u64);

impl Rng {
    fn f(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
    }
}

/// A cache of `len` positions with `kv_heads` heads of `hd`, and `heads` queries per head.
struct Case {
    k: Vec<u16>,
    v: Vec<u16>,
    q: Vec<f32>,
    kv_dim: usize,
    hd: usize,
    heads: usize,
}

fn case(len: usize, kv_heads: usize, hd: usize, heads: usize, seed: u64) -> Case {
    let mut r = Rng(seed);
    let kv_dim = kv_heads * hd;
    let (mut k, mut v) = (Vec::new(), Vec::new());
    for p in 0..len {
        let row: Vec<f32> = (0..kv_dim).map(|_| r.f()).collect();
        push_key(&mut k, p, &row);
        let row: Vec<f32> = (0..kv_dim).map(|_| r.f()).collect();
        push_value(&mut v, &row);
    }
    let q = (0..kv_heads * heads * hd).map(|_| r.f()).collect();
    Case {
        k,
        v,
        q,
        kv_dim,
        hd,
        heads,
    }
}

impl Case {
    fn span(&self, g: usize, start: usize, pos: usize) -> Span<'_> {
        Span {
            k: &self.k,
            v: &self.v,
            kv_dim: self.kv_dim,
            off: g * self.hd,
            hd: self.hd,
            heads: self.heads,
            start,
            pos,
        }
    }

    fn qs(&self, g: usize) -> &[f32] {
        let n = self.heads * self.hd;
        &self.q[g * n..(g + 1) * n]
    }

    /// The module doc's formula, written out directly.
    fn direct(&self, g: usize, start: usize, pos: usize) -> Vec<f32> {
        let (hd, kv_dim, off) = (self.hd, self.kv_dim, g * self.hd);
        let key = |j: usize, d: usize| {
            crate::f16::f16_to_f32(self.k[(j / KB) * KB * kv_dim + (off + d) * KB + j % KB])
        };
        let val = |j: usize, i: usize| crate::f16::f16_to_f32(self.v[j * kv_dim + off + i]);
        let scale = 1.0 / libm::sqrtf(hd as f32);
        let mut out = Vec::new();
        for q in self.qs(g).chunks_exact(hd) {
            let s: Vec<f32> = (start..=pos)
                .map(|j| {
                    let mut acc = 0f32;
                    for (d, &qd) in q.iter().enumerate() {
                        acc += qd * key(j, d);
                    }
                    acc * scale
                })
                .collect();
            let max = s
                .iter()
                .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
            let e: Vec<f32> = s.iter().map(|&x| libm::expf(x - max)).collect();
            let sum = e.iter().fold(0f32, |a, &x| a + x);
            for i in 0..hd {
                let mut acc = 0f32;
                for (jj, &ej) in e.iter().enumerate() {
                    acc += ej * val(start + jj, i);
                }
                out.push(acc / sum);
            }
        }
        out
    }
}

fn kernels() -> Vec<Ctx> {
    Kernel::ALL
        .into_iter()
        .filter(|k| *k != Kernel::Auto && k.is_supported())
        .filter_map(|k| Ctx::new(1, k).ok())
        .collect()
}

fn check(c: &Case, start: usize, pos: usize) {
    for g in 0..c.kv_dim / c.hd {
        let want = c.direct(g, start, pos);
        for ctx in kernels() {
            let mut out = vec![0f32; c.heads * c.hd];
            attend(&ctx, &c.span(g, start, pos), c.qs(g), &mut out);
            let same = out
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{:?}: heads {} hd {} span {start}..={pos} head {g}",
                ctx.kernel(),
                c.heads,
                c.hd
            );
        }
    }
}

#[test]
fn every_kernel_matches_the_formula_around_block_and_chunk_edges() {
    let c = case(2 * CH + 2 * KB + 1, 2, 16, 3, 1);
    for pos in (0..2 * KB + 2)
        .chain(CH - 2..CH + 2)
        .chain([2 * CH + 2 * KB])
    {
        check(&c, 0, pos);
    }
}

#[test]
fn every_kernel_matches_the_formula_on_sliding_windows() {
    let c = case(2 * CH + 5, 1, 8, 2, 2);
    for (start, pos) in [
        (1, 9),
        (7, 8),
        (8, 8),
        (9, 70),
        (CH - 1, CH),
        (CH, 2 * CH + 4),
        (70, 71),
    ] {
        check(&c, start, pos);
    }
}

#[test]
fn every_kernel_matches_the_formula_for_every_group_width() {
    // Five heads take two passes of the SIMD kernels; hd 24 and 20 give value pieces of 8
    // and of 4 (the reference's).
    for (heads, hd) in [(1, 24), (2, 8), (4, 16), (5, 24), (3, 20)] {
        let c = case(KB + 3, 2, hd, heads, heads as u64);
        check(&c, 0, KB + 2);
        check(&c, 2, KB + 1);
    }
}

/// A tile of query tokens (`tokens`: each its own span) against one key/value head, on
/// every kernel, against each token's own [`attend`] on the scalar kernel.
fn check_tile(c: &Case, tokens: &[(usize, usize)], seed: u64) {
    let mut r = Rng(seed);
    let n = c.heads * c.hd;
    let qs: Vec<Vec<f32>> = tokens
        .iter()
        .map(|_| (0..n).map(|_| r.f()).collect())
        .collect();
    let scalar = Ctx::new(1, Kernel::Scalar).unwrap();
    for g in 0..c.kv_dim / c.hd {
        let spans: Vec<Span<'_>> = tokens.iter().map(|&(s, p)| c.span(g, s, p)).collect();
        let want: Vec<Vec<f32>> = spans
            .iter()
            .zip(&qs)
            .map(|(sp, q)| {
                let mut out = vec![0f32; n];
                attend(&scalar, sp, q, &mut out);
                out
            })
            .collect();
        for ctx in kernels() {
            let mut outs = vec![vec![0f32; n]; tokens.len()];
            let q: Vec<&[f32]> = qs.iter().map(Vec::as_slice).collect();
            let mut o: Vec<&mut [f32]> = outs.iter_mut().map(Vec::as_mut_slice).collect();
            attend_tile(&ctx, &spans, &q, &mut o);
            let same = outs
                .iter()
                .flatten()
                .zip(want.iter().flatten())
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{:?}: heads {} hd {} tokens {tokens:?} head {g}",
                ctx.kernel(),
                c.heads,
                c.hd
            );
        }
    }
}

#[test]
fn a_tile_of_tokens_matches_each_token_alone() {
    let c = case(3 * CH + 9, 2, 16, 3, 5);
    for p0 in [0, 5, KB - 2, CH - 2, CH + 7, 2 * CH - 1, 3 * CH + 4] {
        let tokens: Vec<(usize, usize)> = (p0..(p0 + 4).min(3 * CH + 9)).map(|p| (0, p)).collect();
        check_tile(&c, &tokens, p0 as u64 + 1);
        // A sliding window of 70 positions: the tokens' spans start at different positions.
        let slid: Vec<(usize, usize)> = tokens
            .iter()
            .map(|&(_, p)| ((p + 1).saturating_sub(70), p))
            .collect();
        check_tile(&c, &slid, p0 as u64 + 2);
    }
    for (heads, hd) in [(1, 24), (5, 24), (3, 20), (4, 8)] {
        let c = case(CH + 3, 1, hd, heads, heads as u64 + 9);
        check_tile(&c, &[(0, CH - 1), (0, CH), (0, CH + 1), (0, CH + 2)], 3);
        check_tile(&c, &[(0, 4), (0, 5), (0, 6)], 4);
    }
}

#[test]
fn cache_rows_round_to_nearest_even_binary16() {
    let (mut k, mut v) = (Vec::new(), Vec::new());
    // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: it rounds to the even one, 1.
    let row = [1.0 + 1.0 / 2048.0, 65520.0, -0.0, 1e-8];
    push_key(&mut k, 0, &row);
    push_value(&mut v, &row);
    assert_eq!(v, [0x3c00, 0x7c00, 0x8000, 0x0000]);
    assert_eq!(k.len(), KB * row.len());
    assert_eq!(
        [k[0], k[KB], k[2 * KB], k[3 * KB]],
        [0x3c00, 0x7c00, 0x8000, 0x0000]
    );
}

#[test]
fn every_kernel_takes_the_max_as_the_sequential_pass_does() {
    let mut r = Rng(11);
    for len in [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 64] {
        for special in [
            None,
            Some(f32::NAN),
            Some(0.0),
            Some(-0.0),
            Some(f32::INFINITY),
        ] {
            let mut seg: Vec<f32> = (0..len).map(|_| r.f()).collect();
            if let (Some(x), true) = (special, len > 0) {
                seg[len / 2] = x;
            }
            for m in [f32::NEG_INFINITY, -0.0, 0.0, 1.5] {
                let want = max_into_scalar(&seg, m);
                for ctx in kernels() {
                    let got = max_into(&ctx, &seg, m);
                    // Bit-equal, or both zeros (the sign of a zero max changes no s_j - m).
                    assert!(
                        got.to_bits() == want.to_bits() || (got == 0.0 && want == 0.0),
                        "len {len} special {special:?} m {m} kernel {ctx:?}: {got} != {want}"
                    );
                }
            }
        }
    }
}
