//! The exact formulas against the Monte-Carlo simulation, over a grid of adversary shares,
//! committee sizes, escalation sizes and two economies (one where only capture pays, one where
//! partial attacks pay too).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use aikernel_security::{DEFAULT_SEED, Params, analyse, simulate};

/// The CLI's default; about a second in a debug build.
const TRIALS: u64 = 200_000;

fn within(name: &str, formula: f64, simulated: f64, tolerance: f64, case: &str) {
    assert!(
        (formula - simulated).abs() <= tolerance,
        "{case}: {name} formula {formula} simulated {simulated} (tolerance {tolerance})"
    );
}

fn probability_tolerance(p: f64, n: u64) -> f64 {
    4.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-4
}

#[test]
fn formulas_match_simulation() {
    let economies = [
        // Defaults: S = 1000, G = F = 1; partial attacks never pay.
        ("capture only", 1000.0, None),
        // A small stake and a large external gain: partial attacks pay for some x.
        ("partial attacks pay", 10.0, Some(200.0)),
    ];
    let mut attacking_cases = 0;
    for (seed, (economy, stake, gain)) in economies.into_iter().enumerate() {
        for f in [0.1, 0.2, 0.33] {
            for k in [1, 3, 5] {
                for e in [3, 7, 9] {
                    let params = Params {
                        adversary_share: f,
                        committee: k,
                        escalation: e,
                        stake,
                        gain,
                        ..Params::default()
                    };
                    let case = format!("{economy}, f={f} k={k} e={e}");
                    let r = params.resolve().unwrap();
                    let a = analyse(&r);
                    let policy: Vec<bool> = a.seats.iter().map(|s| s.attacks).collect();
                    if policy[1..k as usize].iter().any(|&p| p) {
                        attacking_cases += 1;
                    }
                    let seed = DEFAULT_SEED ^ (seed as u64) << 32 ^ u64::from(k * 100 + e);
                    let s = simulate(&r, &policy, TRIALS, seed).unwrap();
                    for (name, p, mc) in [
                        ("capture", a.p_capture, s.p_capture.mean),
                        ("old majority", a.p_wrong_majority, s.p_wrong_majority.mean),
                        (
                            "always attack",
                            a.p_wrong_always_attack,
                            s.p_wrong_always_attack.mean,
                        ),
                        ("rational", a.p_wrong_rational, s.p_wrong_rational.mean),
                    ] {
                        within(name, p, mc, probability_tolerance(p, TRIALS), &case);
                    }
                    let profit_tolerance =
                        4.0 * a.attacker_profit_std_dev / (TRIALS as f64).sqrt() + 1e-9;
                    within(
                        "attacker profit",
                        a.attacker_profit,
                        s.attacker_profit.mean,
                        profit_tolerance,
                        &case,
                    );
                }
            }
        }
    }
    assert!(
        attacking_cases >= 5,
        "only {attacking_cases} cases exercise partial attacks"
    );
}

#[test]
fn hand_computed_majorities() {
    // f = 0.2 over 10,000 nodes, drawn without replacement.
    let p = |k: u32| {
        let r = Params {
            committee: k,
            ..Params::default()
        }
        .resolve()
        .unwrap();
        analyse(&r)
    };
    assert!((p(3).p_wrong_majority - 0.104).abs() < 1e-3);
    assert!((p(5).p_wrong_majority - 0.058).abs() < 1e-3);
    assert!((p(3).p_capture - 0.008).abs() < 1e-4);
}
