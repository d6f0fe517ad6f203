//! Deterministic sampling: greedy, or temperature + top-k 40 + top-p 0.95 with a
//! counter-based RNG `sha256(seed_le ‖ prompt_id ‖ position_le)`.

use sha2::{Digest, Sha256};

/// Candidates kept by top-k.
pub const TOP_K: usize = 40;
/// Cumulative probability kept by top-p.
pub const TOP_P: f32 = 0.95;

/// A uniform value in [0, 1) with 53 random bits, from `(seed, prompt_id, position)`.
pub fn uniform(seed: u64, prompt_id: &[u8; 32], position: u64) -> f64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(prompt_id);
    h.update(position.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The highest finite logit, lowest id on ties; `None` when nothing is finite.
pub fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() || l == f32::NEG_INFINITY {
            continue;
        }
        if best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    best.map(|(i, _)| i as u32)
}

/// The [`TOP_K`] finite candidates `(id, logit / t)` with the highest scaled logit, lowest id
/// first on ties, in that order. The order is total (ids differ), so selecting the top
/// [`TOP_K`] before sorting them gives exactly the first [`TOP_K`] of a full sort, in
/// linear rather than `n log n` time (a 49152-token vocabulary: about six times faster).
fn top_k(logits: &[f32], t: f32) -> Vec<(u32, f32)> {
    let mut cand = candidates(logits, t);
    if cand.len() > TOP_K {
        cand.select_nth_unstable_by(TOP_K - 1, rank);
        cand.truncate(TOP_K);
    }
    cand.sort_by(rank);
    cand
}

/// The candidates' order: highest scaled logit first, lowest id first on ties.
// By reference: the comparator signature of `sort_by` and `select_nth_unstable_by`.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn rank(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Every finite logit as `(id, logit / t)`, in id order.
fn candidates(logits: &[f32], t: f32) -> Vec<(u32, f32)> {
    logits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(i, &l)| (i as u32, l / t))
        .collect()
}

/// Picks a token. `temperature_milli == 0` is greedy; otherwise logits are divided by the
/// temperature, the top 40 (by logit, then lowest id) are softmaxed in that order with
/// `libm::expf`, cut to the smallest prefix reaching 0.95, and one is drawn with `u`.
pub fn sample(logits: &[f32], temperature_milli: u32, u: f64) -> Option<u32> {
    if temperature_milli == 0 {
        return argmax(logits);
    }
    let t = temperature_milli as f32 / 1000.0;
    let cand = top_k(logits, t);
    if cand.is_empty() {
        return None;
    }
    let max = cand[0].1;
    let mut probs: Vec<f32> = cand.iter().map(|&(_, l)| libm::expf(l - max)).collect();
    let mut sum = 0f32;
    for &p in &probs {
        sum += p;
    }
    for p in &mut probs {
        *p /= sum;
    }
    let mut cum = 0f32;
    let mut keep = probs.len();
    for (i, &p) in probs.iter().enumerate() {
        cum += p;
        if cum >= TOP_P {
            keep = i + 1;
            break;
        }
    }
    let mut total = 0f32;
    for &p in &probs[..keep] {
        total += p;
    }
    let r = (u * f64::from(total)) as f32;
    let mut acc = 0f32;
    for (i, &p) in probs[..keep].iter().enumerate() {
        acc += p;
        if r < acc {
            return Some(cand[i].0);
        }
    }
    Some(cand[keep - 1].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The candidates as the full sort gives them (what `sample` did before `top_k`).
    fn sorted(logits: &[f32], t: f32) -> Vec<(u32, u32)> {
        let mut cand = candidates(logits, t);
        cand.sort_by(rank);
        cand.truncate(TOP_K);
        cand.into_iter().map(|(i, v)| (i, v.to_bits())).collect()
    }

    fn bits(c: &[(u32, f32)]) -> Vec<(u32, u32)> {
        c.iter().map(|&(i, v)| (i, v.to_bits())).collect()
    }

    proptest::proptest! {
        /// Coarse logits (many ties), masked ones, signed zeros and vocabularies smaller and
        /// larger than TOP_K: the selection is the full sort's first TOP_K, bit for bit.
        #[test]
        fn top_k_is_the_full_sorts_prefix(
            raw in proptest::collection::vec(-40i32..40, 0..400),
            masked in proptest::collection::vec(0usize..400, 0..40),
            milli in 1u32..3000,
        ) {
            let mut logits: Vec<f32> = raw.iter().map(|&v| v as f32 / 4.0).collect();
            for &m in &masked {
                if let Some(l) = logits.get_mut(m) {
                    *l = match m % 3 {
                        0 => f32::NEG_INFINITY,
                        1 => f32::NAN,
                        _ => -0.0,
                    };
                }
            }
            let t = milli as f32 / 1000.0;
            proptest::prop_assert_eq!(bits(&top_k(&logits, t)), sorted(&logits, t));
        }
    }

    #[test]
    fn top_k_of_a_whole_vocabulary_is_the_full_sorts_prefix() {
        // SmolLM2's vocabulary with a few hundred distinct values: ties across the cut.
        let logits: Vec<f32> = (0..49152u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 23) % 300) as f32 / 16.0 - 9.0)
            .collect();
        for milli in [1, 300, 700, 1000, 2500] {
            let t = milli as f32 / 1000.0;
            assert_eq!(bits(&top_k(&logits, t)), sorted(&logits, t), "t = {t}");
        }
    }
}
