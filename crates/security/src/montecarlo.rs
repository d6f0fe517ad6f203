//! A Monte-Carlo check of the formulas: a pool of real node ids, committees drawn by a partial
//! Fisher-Yates shuffle with a seeded PRNG, and the settlement rules played member by member.

use serde::Serialize;

use crate::params::{Param, ParamError, Resolved};

/// The seed the CLI and the tests use unless told otherwise.
pub const DEFAULT_SEED: u64 = 0x5EC0_417E_2024_0001;

/// The largest pool the simulation holds in memory.
pub const MAX_SIMULATED_NODES: u64 = 100_000_000;

/// SplitMix64: expands one seed into the state of [`Xoshiro256`].
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman and Vigna): small, fast, and good enough for sampling.
#[derive(Debug, Clone)]
pub struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// A generator whose state is four SplitMix64 outputs from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        Self {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `0..n` without modulo bias (Lemire's method); 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }
}

/// A sample mean and its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// The sample mean.
    pub mean: f64,
    /// Its standard error, `sqrt(sample variance / trials)`.
    pub std_error: f64,
}

#[derive(Debug, Default)]
struct Accumulator {
    sum: f64,
    sum_sq: f64,
}

impl Accumulator {
    fn add(&mut self, v: f64) {
        self.sum += v;
        self.sum_sq += v * v;
    }

    fn estimate(&self, n: u64) -> Estimate {
        let n = n as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0) * n / (n - 1.0).max(1.0);
        Estimate {
            mean,
            std_error: (var / n).sqrt(),
        }
    }
}

/// What the simulation measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Simulation {
    /// Prompts simulated.
    pub trials: u64,
    /// The PRNG seed.
    pub seed: u64,
    /// The share of prompts whose round 0 was all adversarial.
    pub p_capture: Estimate,
    /// Wrong answers under the old rule (strict majority of round 0).
    pub p_wrong_majority: Estimate,
    /// Wrong answers under the new rule when the adversary always lies.
    pub p_wrong_always_attack: Estimate,
    /// Wrong answers under the new rule when the adversary follows the given policy.
    pub p_wrong_rational: Estimate,
    /// The policy-following adversary's profit per prompt over answering honestly.
    pub attacker_profit: Estimate,
}

/// What the adversary nets, relative to answering honestly, from one lie with `x` round-0 and
/// `y` escalation seats: the rules applied member by member.
fn play_lie(r: &Resolved, x: u32, y: u32) -> f64 {
    let (k, e) = (r.committee, r.escalation);
    let slash = r.minority_slash * r.stake;
    let honest_pay = f64::from(x) * r.pay() / f64::from(k);
    // The escalation committee sees itself before committing: its adversarial members lie
    // only with a strict majority, which then is the final answer.
    let won = 2 * y > e;
    let (winners, losers, adversary_winners, adversary_losers) = if won {
        (x + y, (k - x) + (e - y), x + y, 0)
    } else {
        ((k - x) + e, x, y, x)
    };
    let pot = f64::from(losers) * slash * (1.0 - r.burn) + r.pay();
    let each = pot / f64::from(winners);
    let mut got = f64::from(adversary_winners) * each - f64::from(adversary_losers) * slash;
    if won {
        got += r.gain;
    }
    got - honest_pay
}

/// Simulates `trials` prompts over a pool of `r.nodes` node ids, the first `A` of them the
/// adversary's. `policy[x]` says whether the adversary lies with `x` round-0 seats (`0 < x <
/// k`; it always lies with `k` and cannot with 0): pass the rational decisions of
/// [`crate::model::analyse`] to check its figures.
pub fn simulate(
    r: &Resolved,
    policy: &[bool],
    trials: u64,
    seed: u64,
) -> Result<Simulation, ParamError> {
    if trials < 2 {
        return Err(ParamError {
            param: Param::Trials,
            reason: format!("must be at least 2, got {trials}"),
        });
    }
    if r.nodes > MAX_SIMULATED_NODES {
        return Err(ParamError {
            param: Param::Nodes,
            reason: format!(
                "must be at most {MAX_SIMULATED_NODES} to simulate, got {}",
                r.nodes
            ),
        });
    }
    let (k, e) = (r.committee as usize, r.escalation as usize);
    let n = r.nodes as usize;
    let adversary = r.adversary_nodes as u32;
    let mut pool: Vec<u32> = (0..n as u32).collect();
    let mut rng = Xoshiro256::new(seed);
    let mut acc: [Accumulator; 5] = Default::default();
    for _ in 0..trials {
        // A partial Fisher-Yates shuffle from any arrangement draws a uniform ordered sample.
        for i in 0..k + e {
            let j = i + rng.below((n - i) as u64) as usize;
            pool.swap(i, j);
        }
        let x = pool[..k].iter().filter(|&&id| id < adversary).count() as u32;
        let y = pool[k..k + e].iter().filter(|&&id| id < adversary).count() as u32;
        let capture = x == r.committee;
        let partial = x > 0 && !capture;
        let lie_wins = partial && 2 * y > r.escalation;
        let lies = partial && policy.get(x as usize).copied().unwrap_or(false);
        let profit = if capture {
            r.gain
        } else if lies {
            play_lie(r, x, y)
        } else {
            0.0
        };
        acc[0].add(f64::from(u8::from(capture)));
        acc[1].add(f64::from(u8::from(2 * x > r.committee)));
        acc[2].add(f64::from(u8::from(capture || lie_wins)));
        acc[3].add(f64::from(u8::from(capture || (lies && lie_wins))));
        acc[4].add(profit);
    }
    Ok(Simulation {
        trials,
        seed,
        p_capture: acc[0].estimate(trials),
        p_wrong_majority: acc[1].estimate(trials),
        p_wrong_always_attack: acc[2].estimate(trials),
        p_wrong_rational: acc[3].estimate(trials),
        attacker_profit: acc[4].estimate(trials),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // The first outputs of SplitMix64 from seed 0 (Vigna's reference implementation).
        let mut sm = SplitMix64::new(0);
        assert_eq!(sm.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(sm.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut rng = Xoshiro256::new(7);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[rng.below(7) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
    }

    #[test]
    fn same_seed_same_result() {
        let r = crate::params::Params::default().resolve().unwrap();
        let a = simulate(&r, &[false; 4], 1000, 1).unwrap();
        let b = simulate(&r, &[false; 4], 1000, 1).unwrap();
        assert_eq!(a, b);
        assert_eq!(simulate(&r, &[], 1, 1).unwrap_err().param, Param::Trials);
    }
}
