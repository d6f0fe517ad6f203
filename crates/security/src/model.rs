//! The attack model and its exact formulas.
//!
//! Round 0 draws `k` of the `N` nodes; `X ~ Hypergeometric(N, A, k)` of them are the
//! adversary's. A wrong answer settles at once only when `X = k` (round 0 must be unanimous).
//! With `0 < X < k` a lie makes round 0 disagree and the prompt escalates to `e` fresh nodes
//! from the `N - k` left, `Y ~ Hypergeometric(N - k, A - X, e)` of them the adversary's; a
//! strict majority decides. The adversary sees the escalation committee before committing, so
//! its escalation members lie only when `Y > e/2` (they win) and answer honestly otherwise.
//!
//! Money is counted relative to answering honestly: the adversary's `x` round-0 members would
//! earn `x/k (F + R)` by telling the truth, so a lie is worth what it pays minus that.

use serde::Serialize;

use crate::hypergeom::Hypergeometric;
use crate::params::Resolved;

/// An amount linear in the stake S: `constant + per_stake * S`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linear {
    /// The part that does not depend on the stake.
    pub constant: f64,
    /// The part per unit of stake.
    pub per_stake: f64,
}

impl Linear {
    /// The amount at stake `stake`.
    pub fn at(self, stake: f64) -> f64 {
        self.constant + self.per_stake * stake
    }
}

fn hypergeometric(population: u64, successes: u64, draws: u32) -> Hypergeometric {
    // Resolved parameters always satisfy the bounds; clamping only guards the arithmetic.
    Hypergeometric::clamped(population, successes, u64::from(draws))
}

/// The round-0 distribution: adversarial seats among the `k` members.
pub fn round0(r: &Resolved) -> Hypergeometric {
    hypergeometric(r.nodes, r.adversary_nodes, r.committee)
}

/// The escalation distribution after `x` adversarial round-0 seats: adversarial seats among
/// `e` nodes drawn from the `N - k` not in round 0.
pub fn escalation(r: &Resolved, x: u32) -> Hypergeometric {
    hypergeometric(
        r.nodes - u64::from(r.committee),
        r.adversary_nodes.saturating_sub(u64::from(x)),
        r.escalation,
    )
}

/// Whether `y` adversarial seats are a strict majority of the escalation committee.
pub fn escalation_won(r: &Resolved, y: u32) -> bool {
    2 * y > r.escalation
}

/// What the adversary's nodes receive (absolute, not relative to honesty) when round 0 has
/// `0 < x < k` adversarial seats, they lie, and the escalation committee has `y`:
///
/// - `y > e/2`, the adversary wins: `G + F + R` (every winner is its own) plus the unburned
///   part of the honest nodes' slashes, `(k - x + e - y) * m * S * (1 - burn)`;
/// - otherwise it loses: its `x` liars are slashed `x * m * S`, and its `y` escalation
///   members, who answered honestly, take their equal share `y / (k - x + e)` of `F + R` and
///   of the liars' unburned slash.
pub fn lie_payoff(r: &Resolved, x: u32, y: u32) -> Linear {
    let (k, e) = (f64::from(r.committee), f64::from(r.escalation));
    let (x, yf) = (f64::from(x), f64::from(y));
    let kept = r.minority_slash * (1.0 - r.burn);
    if escalation_won(r, y) {
        Linear {
            constant: r.gain + r.pay(),
            per_stake: (k - x + e - yf) * kept,
        }
    } else {
        let share = yf / (k - x + e);
        Linear {
            constant: share * r.pay(),
            per_stake: share * x * kept - x * r.minority_slash,
        }
    }
}

/// What the adversary's `x` round-0 members earn by answering honestly: `x/k (F + R)`.
pub fn honest_payoff(r: &Resolved, x: u32) -> f64 {
    f64::from(x) / f64::from(r.committee) * r.pay()
}

/// `EV_attack(x)` as a function of the stake, for `0 < x < k`: the expected payoff of lying
/// (over the escalation draw) minus the honest payoff it forgoes.
pub fn ev_attack_linear(r: &Resolved, x: u32) -> Linear {
    let mut ev = Linear {
        constant: -honest_payoff(r, x),
        per_stake: 0.0,
    };
    let esc = escalation(r, x);
    for y in 0..=r.escalation {
        let p = esc.pmf(u64::from(y));
        let pay = lie_payoff(r, x, y);
        ev.constant += p * pay.constant;
        ev.per_stake += p * pay.per_stake;
    }
    ev
}

/// One row per number of adversarial round-0 seats.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatRow {
    /// x: adversarial seats in round 0.
    pub seats: u32,
    /// `P(X = x)`.
    pub probability: f64,
    /// `P(Y > e/2 | x)`: a lie wins the escalation (1 for `x = k`, 0 for `x = 0`).
    pub p_win: f64,
    /// `EV_attack(x)` at the given stake, relative to answering honestly (`G` for `x = k`).
    pub ev_attack: f64,
    /// Whether the rational adversary lies with `x` seats.
    pub attacks: bool,
}

/// The smallest stake that makes every partial attack (`0 < x < k`) unprofitable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinStake {
    /// The smallest such stake; `None` when no stake deters (a lie wins the escalation
    /// often enough that larger stakes, through the honest slashes it collects, only help).
    pub min: Option<f64>,
    /// Where it exists, the stake above which attacks pay again (the slashed honest stake
    /// credited to a winning adversary grows with S); `None` when there is no such ceiling.
    pub ceiling: Option<f64>,
}

/// Guessing against computing, for a member of a committee on a two-option schema.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Guessing {
    /// Options the guesser picks among, uniformly.
    pub options: u32,
    /// `(F + R)/k - c`: compute and answer.
    pub ev_compute: f64,
    /// `-m S`: the round hash binds the engine's logits trace, which only running the model
    /// gives, so even a right guess disagrees with the committee and ends in the final minority
    /// (committing and then staying silent costs the same).
    pub ev_guess: f64,
    /// `(1/o)(F + R)/k - (1 - 1/o) m S`: the same guess if round hashes bound the output alone
    /// (right by luck and paid, or slashed), for comparison.
    pub ev_guess_output_only: f64,
    /// `-s S`: never commit, slashed the silent slash.
    pub ev_abstain: f64,
    /// Whether guessing beats computing.
    pub guessing_pays: bool,
    /// The stake at and above which computing beats guessing (0 when it always does).
    pub stake_to_deter: f64,
}

/// Everything the formulas say about one parameter set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Per number of adversarial round-0 seats, `0..=k`.
    pub seats: Vec<SeatRow>,
    /// `P(X = k)`: the adversary holds every round-0 seat and settles a wrong answer at once.
    /// Not deterrable by stake, only by committee size.
    pub p_capture: f64,
    /// The old rule, a strict majority of round 0 settles: `P(X > k/2)`.
    pub p_wrong_majority: f64,
    /// The new rule against an adversary that always lies.
    pub p_wrong_always_attack: f64,
    /// The new rule against the rational adversary (lies only when it pays).
    pub p_wrong_rational: f64,
    /// The probability the rational adversary's lies escalate a prompt.
    pub p_escalation_rational: f64,
    /// The rational adversary's expected profit per prompt over answering honestly.
    pub attacker_profit: f64,
    /// The standard deviation of that profit per prompt.
    pub attacker_profit_std_dev: f64,
    /// The expected profit per prompt of always lying (negative when lying does not pay).
    pub attacker_profit_always_attack: f64,
    /// The stake that makes partial attacks unprofitable.
    pub min_stake: MinStake,
    /// Guessing against computing.
    pub guessing: Guessing,
}

/// The smallest stake with `EV_attack(x) <= 0` for every `0 < x < k`: each `EV_attack(x)` is
/// linear in S, so the stakes that deter are an intersection of half-lines.
pub fn min_stake(r: &Resolved) -> MinStake {
    let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
    for x in 1..r.committee {
        let ev = ev_attack_linear(r, x);
        if ev.per_stake < 0.0 {
            lo = lo.max(ev.constant / -ev.per_stake);
        } else if ev.per_stake > 0.0 {
            hi = hi.min(-ev.constant / ev.per_stake);
        } else if ev.constant > 0.0 {
            hi = -1.0;
        }
    }
    let min = (lo <= hi).then_some(lo);
    MinStake {
        min,
        ceiling: min.and((hi.is_finite()).then_some(hi)),
    }
}

/// Guessing on a schema with `options` equally likely options.
pub fn guessing(r: &Resolved, options: u32) -> Guessing {
    let o = f64::from(options.max(1));
    let share = r.pay() / f64::from(r.committee);
    let wrong = 1.0 - 1.0 / o;
    let ev_compute = share - r.compute_cost;
    let ev_guess = -r.minority_slash * r.stake;
    let stake_to_deter = if r.minority_slash > 0.0 {
        ((r.compute_cost - share) / r.minority_slash).max(0.0)
    } else if r.compute_cost > share {
        f64::INFINITY
    } else {
        0.0
    };
    Guessing {
        options,
        ev_compute,
        ev_guess,
        ev_guess_output_only: share / o - wrong * r.minority_slash * r.stake,
        ev_abstain: -r.silent_slash * r.stake,
        guessing_pays: ev_guess > ev_compute,
        stake_to_deter,
    }
}

/// Evaluates every formula for `r`.
pub fn analyse(r: &Resolved) -> Analysis {
    let k = r.committee;
    let round0 = round0(r);
    let mut a = Analysis {
        seats: Vec::with_capacity(k as usize + 1),
        p_capture: round0.pmf(u64::from(k)),
        p_wrong_majority: round0.majority(),
        p_wrong_always_attack: 0.0,
        p_wrong_rational: 0.0,
        p_escalation_rational: 0.0,
        attacker_profit: 0.0,
        attacker_profit_std_dev: 0.0,
        attacker_profit_always_attack: 0.0,
        min_stake: min_stake(r),
        guessing: guessing(r, 2),
    };
    let mut second_moment = 0.0;
    for x in 0..=k {
        let px = round0.pmf(u64::from(x));
        let row = if x == 0 {
            SeatRow {
                seats: 0,
                probability: px,
                p_win: 0.0,
                ev_attack: 0.0,
                attacks: false,
            }
        } else if x == k {
            second_moment += px * r.gain * r.gain;
            SeatRow {
                seats: x,
                probability: px,
                p_win: 1.0,
                ev_attack: r.gain,
                attacks: true,
            }
        } else {
            let esc = escalation(r, x);
            let ev = ev_attack_linear(r, x).at(r.stake);
            let attacks = ev > 0.0;
            if attacks {
                let honest = honest_payoff(r, x);
                for y in 0..=r.escalation {
                    let d = lie_payoff(r, x, y).at(r.stake) - honest;
                    second_moment += px * esc.pmf(u64::from(y)) * d * d;
                }
            }
            SeatRow {
                seats: x,
                probability: px,
                p_win: esc.upper_tail(u64::from(r.escalation / 2)),
                ev_attack: ev,
                attacks,
            }
        };
        a.p_wrong_always_attack += px * row.p_win;
        a.attacker_profit_always_attack += px * row.ev_attack;
        if row.attacks {
            a.p_wrong_rational += px * row.p_win;
            a.attacker_profit += px * row.ev_attack;
            if x < k {
                a.p_escalation_rational += px;
            }
        }
        a.seats.push(row);
    }
    let variance = second_moment - a.attacker_profit * a.attacker_profit;
    a.attacker_profit_std_dev = variance.max(0.0).sqrt();
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    #[allow(clippy::needless_pass_by_value)] // struct literals at the call sites
    fn resolve(p: Params) -> Resolved {
        p.resolve().unwrap()
    }

    #[test]
    fn defaults() {
        let r = resolve(Params::default());
        let a = analyse(&r);
        assert!((a.p_capture - 0.007_990_400_960_480_124).abs() < 1e-14);
        assert!((a.p_wrong_majority - 0.103_971_193_278_559_7).abs() < 1e-14);
        // With G = F and a 1000 stake no partial attack pays: only capture remains.
        assert!(a.seats[1..3].iter().all(|s| !s.attacks));
        assert!((a.p_wrong_rational - a.p_capture).abs() < 1e-15);
        assert!(a.p_wrong_always_attack > a.p_capture);
        assert!(a.p_wrong_always_attack < a.p_wrong_majority);
        assert!((a.attacker_profit - a.p_capture * r.gain).abs() < 1e-15);
        assert!(a.attacker_profit_always_attack < 0.0);
        assert_eq!(a.min_stake.min, Some(0.0));
        let total: f64 = a.seats.iter().map(|s| s.probability).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn escalation_win_probability_by_hand() {
        let r = resolve(Params::default());
        let a = analyse(&r);
        // P(Y >= 4), Y ~ Hypergeometric(9997, 1999, 7): exact rational value.
        assert!((a.seats[1].p_win - 0.033_269_445_723_007_8).abs() < 1e-14);
    }

    #[test]
    fn single_member_committee_is_capture_only() {
        let r = resolve(Params {
            committee: 1,
            ..Params::default()
        });
        let a = analyse(&r);
        assert!((a.p_capture - 0.2).abs() < 1e-12);
        assert!((a.p_wrong_majority - 0.2).abs() < 1e-12);
        assert!((a.p_wrong_rational - 0.2).abs() < 1e-12);
        assert_eq!(a.min_stake.min, Some(0.0));
    }

    #[test]
    fn min_stake_is_where_the_best_partial_attack_breaks_even() {
        let r = resolve(Params {
            adversary_share: 0.33,
            gain: Some(100_000.0),
            ..Params::default()
        });
        let m = min_stake(&r).min.unwrap();
        assert!(m > 0.0);
        let evs = |s: f64| {
            (1..3)
                .map(|x| ev_attack_linear(&r, x).at(s))
                .collect::<Vec<_>>()
        };
        assert!(evs(m * 1.000_001).iter().all(|&ev| ev < 0.0));
        assert!(evs(m * 0.999_999).iter().any(|&ev| ev > 0.0));
        // Below it the rational adversary lies with some partial seats and wins more often.
        let below = analyse(&r.with_stake(m * 0.5));
        let at = analyse(&r.with_stake(m * 1.01));
        assert!(below.p_wrong_rational > at.p_wrong_rational);
        assert!((at.p_wrong_rational - at.p_capture).abs() < 1e-15);
        // Doubling the gain doubles the stake needed when F = R = 0.
        let pure = |g: f64| {
            min_stake(&resolve(Params {
                fee: 0.0,
                gain: Some(g),
                adversary_share: 0.33,
                ..Params::default()
            }))
            .min
            .unwrap()
        };
        assert!((pure(2.0) / pure(1.0) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn no_stake_deters_a_majority_adversary() {
        let r = resolve(Params {
            adversary_share: 0.8,
            gain: Some(1.0),
            ..Params::default()
        });
        let m = min_stake(&r);
        assert_eq!(m.min, None);
        let a = analyse(&r);
        assert!(a.p_wrong_rational > 0.9);
    }

    #[test]
    fn guessing_against_computing() {
        let r = resolve(Params::default());
        let g = guessing(&r, 2);
        assert!((g.ev_compute - 1.0 / 3.0).abs() < 1e-15);
        assert!((g.ev_guess + 100.0).abs() < 1e-12);
        assert!((g.ev_guess_output_only - (1.0 / 6.0 - 50.0)).abs() < 1e-12);
        assert!((g.ev_abstain + 20.0).abs() < 1e-12);
        assert!(!g.guessing_pays);
        assert!(g.stake_to_deter.abs() < f64::MIN_POSITIVE);
        let costly = resolve(Params {
            compute_cost: 10.0,
            stake: 1.0,
            ..Params::default()
        });
        let g = guessing(&costly, 2);
        assert!(g.guessing_pays);
        // (c - F/k) / m = (10 - 1/3) / 0.1.
        assert!((g.stake_to_deter - (10.0 - 1.0 / 3.0) / 0.1).abs() < 1e-9);
    }
}
