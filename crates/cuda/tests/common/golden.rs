//! The engine's committed golden requests (`crates/engine/tests/fixtures/golden_*.json`:
//! prompt ids, generated ids, SHA-256 of every step's logits) replayed through the CUDA
//! forward pass: the prompt prefilled, then each generated token fed back (the tokens the
//! engine sampled, so no sampler is needed), every step's logits hashed as `generate` hashes
//! them (each f32 little-endian, in order).
#![allow(dead_code, clippy::expect_used)]

use aikernel_cuda::forward::{Device, Forward};
use sha2::{Digest, Sha256};

/// One golden request.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) text: String,
    pub(crate) prompt: Vec<u32>,
    pub(crate) tokens: Vec<u32>,
    pub(crate) sha: String,
}

/// The committed fixture `fixture`, compiled in so a prebuilt test binary runs from any folder
/// (scripts/gpu-bundle.sh).
fn fixture_text(fixture: &str) -> &'static str {
    match fixture {
        "golden_smollm2_q4_1.json" => {
            include_str!("../../../engine/tests/fixtures/golden_smollm2_q4_1.json")
        }
        "golden_smollm2_q4_k_m.json" => {
            include_str!("../../../engine/tests/fixtures/golden_smollm2_q4_k_m.json")
        }
        "golden_gemma3_270m.json" => {
            include_str!("../../../engine/tests/fixtures/golden_gemma3_270m.json")
        }
        "golden_gemma3_270m_window.json" => {
            include_str!("../../../engine/tests/fixtures/golden_gemma3_270m_window.json")
        }
        other => panic!("no committed golden fixture {other} is compiled in"),
    }
}

/// The committed fixture `fixture`, parsed.
fn fixture_json(fixture: &str) -> serde_json::Value {
    serde_json::from_str(fixture_text(fixture)).unwrap_or_else(|e| panic!("{fixture}: {e}"))
}

/// The token ids listed under `key` in `v`, an entry of `fixture`.
fn token_ids(v: &serde_json::Value, key: &str, fixture: &str) -> Vec<u32> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{fixture}: no {key} list"))
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("token id")).expect("token id"))
        .collect()
}

/// The logits digest of `v`, an entry of a fixture.
fn logits_sha256(v: &serde_json::Value) -> String {
    v["logits_sha256"]
        .as_str()
        .expect("logits_sha256")
        .to_owned()
}

/// The cases of a committed fixture of the engine.
pub(crate) fn cases(fixture: &str) -> Vec<Case> {
    fixture_json(fixture)
        .as_array()
        .unwrap_or_else(|| panic!("{fixture}: not a list"))
        .iter()
        .map(|c| Case {
            text: c["text"].as_str().unwrap_or_default().to_owned(),
            prompt: token_ids(c, "prompt_tokens", fixture),
            tokens: token_ids(c, "tokens", fixture),
            sha: logits_sha256(c),
        })
        .collect()
}

/// The engine's sliding-window request (`gemma3_model`'s
/// `sliding_window_prompt_same_in_chunks_and_threads`, `golden_gemma3_270m_window.json`): BOS
/// and "Counting: 1, 2, ..., 200," (895 tokens with Gemma 3's tokenizer, past its 512-position
/// window), then 3 tokens.
pub(crate) fn window_case() -> Case {
    let fixture = "golden_gemma3_270m_window.json";
    let json = fixture_json(fixture);
    let prompt = token_ids(&json, "prompt_ids", fixture);
    assert_eq!(
        Some(prompt.len() as u64),
        json["prompt_tokens"].as_u64(),
        "{fixture}: prompt_ids and prompt_tokens disagree"
    );
    Case {
        text: "Counting: 1, 2, ..., 200,".to_owned(),
        prompt,
        tokens: token_ids(&json, "tokens", fixture),
        sha: logits_sha256(&json),
    }
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
    replay_with(f, cases, group, pad, vocab, |_, _| {})
}

/// [`replay`], calling `before_step(i, f)` before each group's step `i` (0: the prefill).
pub(crate) fn replay_with<D: Device>(
    f: &mut Forward<'_, D>,
    cases: &[Case],
    group: usize,
    pad: usize,
    vocab: u32,
    mut before_step: impl FnMut(usize, &mut Forward<'_, D>),
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
            before_step(i, f);
            let logits = f.step(&refs).unwrap();
            for ((s, _), l) in batch.iter().zip(&logits) {
                if *s < n {
                    for v in l {
                        hashers[*s].update(v.to_le_bytes());
                    }
                }
            }
        }
        out.extend(hashers.into_iter().map(|h| hex::encode(h.finalize())));
    }
    out
}
