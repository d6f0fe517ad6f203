//! The engine's committed golden requests (`crates/engine/tests/fixtures/golden_*.json`:
//! prompt ids, generated ids, SHA-256 of every step's logits) replayed through the CUDA
//! forward pass: the prompt prefilled, then each generated token fed back (the tokens the
//! engine sampled, so no sampler is needed), every step's logits hashed as `generate` hashes
//! them (each f32 little-endian, in order). SHA-256 and the fixture reader are written here so
//! the crate needs no new dependency.
#![allow(dead_code, clippy::unreadable_literal)]

use aikernel_cuda::forward::{Device, Forward};

/// One golden request.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) text: String,
    pub(crate) prompt: Vec<u32>,
    pub(crate) tokens: Vec<u32>,
    pub(crate) sha: String,
}

/// The value after `"key":` in `obj` (up to the next top-level `,` or the end).
fn field<'a>(obj: &'a str, key: &str) -> &'a str {
    let at = obj
        .find(&format!("\"{key}\""))
        .unwrap_or_else(|| panic!("no {key} in {obj}"));
    let rest = obj[at + key.len() + 2..]
        .trim_start()
        .trim_start_matches(':')
        .trim_start();
    let end = if rest.starts_with('[') {
        rest.find(']').unwrap() + 1
    } else {
        rest.find([',', '\n']).unwrap_or(rest.len())
    };
    &rest[..end]
}

fn ids(v: &str) -> Vec<u32> {
    v.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

/// The cases of a committed fixture of the engine.
pub(crate) fn cases(fixture: &str) -> Vec<Case> {
    let path = format!(
        "{}/../engine/tests/fixtures/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split('{')
        .skip(1)
        .map(|obj| Case {
            text: field(obj, "text").trim_matches('"').to_owned(),
            prompt: ids(field(obj, "prompt_tokens")),
            tokens: ids(field(obj, "tokens")),
            sha: field(obj, "logits_sha256").trim_matches('"').to_owned(),
        })
        .collect()
}

/// Replays `cases` in groups of `group`, each group decoding together with `pad` filler
/// sequences of other lengths in the same steps; returns each case's digest (hex).
pub(crate) fn replay<D: Device>(
    f: &mut Forward<'_, D>,
    cases: &[Case],
    group: usize,
    pad: usize,
    vocab: u32,
) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in cases.chunks(group) {
        let n = chunk.len();
        for s in 0..n + pad {
            f.reset(s);
        }
        let mut hashers: Vec<Sha256> = (0..n).map(|_| Sha256::new()).collect();
        let fillers: Vec<Vec<u32>> = (0..pad)
            .map(|p| {
                (0..3 + p as u32)
                    .map(|i| (i * 7919 + p as u32 * 31) % vocab)
                    .collect()
            })
            .collect();
        let steps = chunk.iter().map(|c| c.tokens.len()).max().unwrap_or(0);
        for i in 0..steps {
            let mut batch: Vec<(usize, Vec<u32>)> = Vec::new();
            for (s, c) in chunk.iter().enumerate() {
                if i < c.tokens.len() {
                    batch.push((
                        s,
                        if i == 0 {
                            c.prompt.clone()
                        } else {
                            vec![c.tokens[i - 1]]
                        },
                    ));
                }
            }
            for (p, fill) in fillers.iter().enumerate() {
                batch.push((
                    n + p,
                    if i == 0 {
                        fill.clone()
                    } else {
                        vec![(i as u32 * 13 + p as u32) % vocab]
                    },
                ));
            }
            let refs: Vec<(usize, &[u32])> =
                batch.iter().map(|(s, t)| (*s, t.as_slice())).collect();
            let logits = f.step(&refs).unwrap();
            for ((s, _), l) in batch.iter().zip(&logits) {
                if *s < n {
                    for v in l {
                        hashers[*s].update(&v.to_le_bytes());
                    }
                }
            }
        }
        out.extend(hashers.into_iter().map(Sha256::hex));
    }
    out
}

/// SHA-256 (FIPS 180-4), streaming.
pub(crate) struct Sha256 {
    h: [u32; 8],
    buf: Vec<u8>,
    len: u64,
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

impl Sha256 {
    pub(crate) fn new() -> Sha256 {
        Sha256 {
            h: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            buf: Vec::with_capacity(64),
            len: 0,
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        for &b in data {
            self.buf.push(b);
            if self.buf.len() == 64 {
                let blk: [u8; 64] = self.buf[..].try_into().unwrap();
                self.block(&blk);
                self.buf.clear();
            }
        }
    }

    fn block(&mut self, blk: &[u8; 64]) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([blk[4 * i], blk[4 * i + 1], blk[4 * i + 2], blk[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = self.h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for (h, x) in self.h.iter_mut().zip(v) {
            *h = h.wrapping_add(x);
        }
    }

    /// The digest as lowercase hex.
    pub(crate) fn hex(mut self) -> String {
        let bits = self.len * 8;
        self.update(&[0x80]);
        while self.buf.len() != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        self.h.iter().fold(String::with_capacity(64), |mut out, x| {
            use std::fmt::Write as _;
            let _ = write!(out, "{x:08x}");
            out
        })
    }
}
