//! The report `aikernel security` prints, and the comparison table for the docs.

use serde::Serialize;

use crate::model::{Analysis, analyse, min_stake};
use crate::montecarlo::{Simulation, simulate};
use crate::params::{ParamError, Params, Resolved, default_escalation};

/// Adversary shares in the comparison table.
pub const TABLE_SHARES: [f64; 4] = [0.05, 0.1, 0.2, 0.33];

/// Committee sizes in the comparison table.
pub const TABLE_COMMITTEES: [u32; 4] = [1, 3, 5, 7];

/// One parameter set: the inputs, the formulas' figures, and optionally the simulation's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The inputs with every default resolved.
    pub params: Resolved,
    /// The exact figures.
    #[serde(flatten)]
    pub analysis: Analysis,
    /// The Monte-Carlo estimates, when asked for.
    pub simulation: Option<Simulation>,
}

/// Analyses `params`; with `trials > 0` also simulates that many prompts from `seed`, the
/// adversary following the rational policy the formulas found.
pub fn report(params: &Params, trials: u64, seed: u64) -> Result<Report, ParamError> {
    let resolved = params.resolve()?;
    let analysis = analyse(&resolved);
    let simulation = if trials > 0 {
        let policy: Vec<bool> = analysis.seats.iter().map(|s| s.attacks).collect();
        Some(simulate(&resolved, &policy, trials, seed)?)
    } else {
        None
    };
    Ok(Report {
        params: resolved,
        analysis,
        simulation,
    })
}

/// One row of the comparison table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableRow {
    /// f: the adversary's share.
    pub adversary_share: f64,
    /// k: the round-0 committee.
    pub committee: u32,
    /// e: the escalation committee.
    pub escalation: u32,
    /// The old rule: `P(X > k/2)`.
    pub p_wrong_majority: f64,
    /// The new rule, adversary always lies.
    pub p_wrong_always_attack: f64,
    /// The new rule, rational adversary at the given stake and amounts.
    pub p_wrong_rational: f64,
    /// `P(X = k)`: capture of all of round 0, deterred only by committee size.
    pub p_capture: f64,
    /// The stake deterring partial attacks at the given fee, reward and gain (`None`: none
    /// does).
    pub min_stake: Option<f64>,
    /// The stake deterring partial attacks per unit of external gain when fee and reward are
    /// 0 (the pure attacker: `min stake = this * G`); `None`: no stake does.
    pub stake_per_gain: Option<f64>,
}

/// The comparison table over [`TABLE_SHARES`] and [`TABLE_COMMITTEES`], every other input from
/// `base` (its `adversary_share` and `committee` are replaced; its `escalation` too when it is 0,
/// by each committee's default).
pub fn table(base: &Params) -> Result<Vec<TableRow>, ParamError> {
    let mut rows = Vec::new();
    for &f in &TABLE_SHARES {
        for &k in &TABLE_COMMITTEES {
            let params = Params {
                adversary_share: f,
                committee: k,
                escalation: if base.escalation == 0 {
                    default_escalation(k, base.nodes)
                } else {
                    base.escalation
                },
                ..base.clone()
            };
            let r = params.resolve()?;
            let a = analyse(&r);
            let pure = Params {
                fee: 0.0,
                reward: 0.0,
                gain: Some(1.0),
                ..params
            }
            .resolve()?;
            rows.push(TableRow {
                adversary_share: f,
                committee: k,
                escalation: r.escalation,
                p_wrong_majority: a.p_wrong_majority,
                p_wrong_always_attack: a.p_wrong_always_attack,
                p_wrong_rational: a.p_wrong_rational,
                p_capture: a.p_capture,
                min_stake: a.min_stake.min,
                stake_per_gain: min_stake(&pure).min,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shape_and_order() {
        let rows = table(&Params::default()).unwrap();
        assert_eq!(rows.len(), 16);
        assert_eq!(rows[0].committee, 1);
        assert_eq!(rows[0].escalation, 3);
        assert_eq!(rows[15].committee, 7);
        assert_eq!(rows[15].escalation, 15);
        for row in &rows {
            // Unanimity is never worse than a majority, and capture is the floor.
            assert!(row.p_wrong_always_attack <= row.p_wrong_majority + 1e-15);
            assert!(row.p_capture <= row.p_wrong_rational + 1e-15);
            assert!(row.p_wrong_rational <= row.p_wrong_always_attack + 1e-15);
        }
        // k = 1: old and new rules agree (nothing to escalate).
        assert!((rows[0].p_wrong_majority - rows[0].p_wrong_always_attack).abs() < 1e-15);
    }

    #[test]
    fn report_serialises_with_simulation() {
        let r = report(&Params::default(), 1000, 3).unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["params"]["committee"], 3);
        assert_eq!(v["params"]["escalation"], 7);
        assert!(v["pWrongRational"].is_f64());
        assert!(v["minStake"]["min"].is_f64());
        assert_eq!(v["simulation"]["trials"], 1000);
        assert_eq!(v["seats"].as_array().unwrap().len(), 4);
        let none = report(&Params::default(), 0, 3).unwrap();
        assert!(serde_json::to_value(&none).unwrap()["simulation"].is_null());
    }
}
