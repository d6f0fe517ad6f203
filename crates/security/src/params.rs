//! The model's inputs, their defaults, and their validation.

use serde::Serialize;

/// The largest committee (and escalation committee) the protocol forms.
pub const MAX_COMMITTEE: u32 = 15;

/// Basis points in one whole.
const BPS: f64 = 10_000.0;

/// Which input a [`ParamError`] is about (the CLI names the matching flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Param {
    /// [`Params::nodes`].
    Nodes,
    /// [`Params::adversary_share`].
    AdversaryShare,
    /// [`Params::committee`].
    Committee,
    /// [`Params::escalation`].
    Escalation,
    /// [`Params::stake`].
    Stake,
    /// [`Params::minority_slash_bps`].
    MinoritySlash,
    /// [`Params::silent_slash_bps`].
    SilentSlash,
    /// [`Params::burn_bps`].
    Burn,
    /// [`Params::fee`].
    Fee,
    /// [`Params::reward`].
    Reward,
    /// [`Params::gain`].
    Gain,
    /// [`Params::compute_cost`].
    ComputeCost,
    /// The number of Monte-Carlo trials.
    Trials,
}

/// An input outside the model's domain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct ParamError {
    /// The input at fault.
    pub param: Param,
    /// Why, in words (no parameter name: the caller adds its own spelling of it).
    pub reason: String,
}

impl ParamError {
    fn new(param: Param, reason: impl Into<String>) -> Self {
        Self {
            param,
            reason: reason.into(),
        }
    }
}

/// The protocol's parameters and the attacker's situation, as the user states them.
///
/// All amounts (stake, fee, reward, gain, compute cost) are in one unit of account: convert
/// the ETH fee and the EAI stake and reward at a price of your choosing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    /// N: eligible nodes in the model's pool, each with the same stake.
    pub nodes: u64,
    /// f: the adversary's share of the nodes (and so of the stake), in `[0, 1)`.
    pub adversary_share: f64,
    /// k: the round-0 committee, odd, `1..=15`.
    pub committee: u32,
    /// e: the escalation committee; 0 means the default `min(15, 2k + 1)`, never more than
    /// the `N - k` nodes left.
    pub escalation: u32,
    /// S: each node's stake.
    pub stake: f64,
    /// The share of stake slashed from a node whose revealed output differs from the final
    /// answer, in basis points.
    pub minority_slash_bps: u32,
    /// The share of stake slashed from a member that does not commit, in basis points.
    pub silent_slash_bps: u32,
    /// The share of a slash burned, in basis points; the rest is credited to the winners.
    pub burn_bps: u32,
    /// F: the prompt's node fee, split among the nodes that gave the final answer.
    pub fee: f64,
    /// R: the block reward for the prompt, split like the fee.
    pub reward: f64,
    /// G: what a wrong settled answer is worth to the attacker outside the protocol; `None`
    /// means the fee.
    pub gain: Option<f64>,
    /// c: an honest node's cost of computing one answer (for the guessing comparison).
    pub compute_cost: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            nodes: 10_000,
            adversary_share: 0.2,
            committee: 3,
            escalation: 0,
            stake: 1000.0,
            minority_slash_bps: 1000,
            silent_slash_bps: 200,
            burn_bps: 5000,
            fee: 1.0,
            reward: 0.0,
            gain: None,
            compute_cost: 0.0,
        }
    }
}

/// Validated parameters with every default resolved: what the formulas and the simulation
/// use.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolved {
    /// N: nodes in the pool.
    pub nodes: u64,
    /// f as given.
    pub adversary_share: f64,
    /// A = round(f N): adversarial nodes.
    pub adversary_nodes: u64,
    /// k: the round-0 committee.
    pub committee: u32,
    /// e: the escalation committee.
    pub escalation: u32,
    /// S: stake per node.
    pub stake: f64,
    /// The minority slash as a fraction of stake.
    pub minority_slash: f64,
    /// The silent slash as a fraction of stake.
    pub silent_slash: f64,
    /// The burned share of a slash, as a fraction.
    pub burn: f64,
    /// F: the node fee.
    pub fee: f64,
    /// R: the block reward.
    pub reward: f64,
    /// G: the attacker's external gain from a wrong answer.
    pub gain: f64,
    /// c: the cost of computing one answer.
    pub compute_cost: f64,
}

impl Resolved {
    /// F + R: what the nodes giving the final answer share.
    pub fn pay(&self) -> f64 {
        self.fee + self.reward
    }

    /// A copy with another stake (the formulas are re-evaluated at trial stakes).
    #[must_use]
    pub fn with_stake(&self, stake: f64) -> Self {
        Self {
            stake,
            ..self.clone()
        }
    }
}

fn amount(param: Param, value: f64) -> Result<f64, ParamError> {
    if !value.is_finite() || value < 0.0 {
        return Err(ParamError::new(
            param,
            format!("must be a non-negative amount, got {value}"),
        ));
    }
    Ok(value)
}

fn fraction(param: Param, bps: u32) -> Result<f64, ParamError> {
    if bps > 10_000 {
        return Err(ParamError::new(
            param,
            format!("is in basis points and at most 10000, got {bps}"),
        ));
    }
    Ok(f64::from(bps) / BPS)
}

/// The default escalation committee for a round-0 committee of `k` in a pool of `nodes`:
/// `min(15, 2k + 1)`, never more than the `nodes - k` nodes left.
pub fn default_escalation(k: u32, nodes: u64) -> u32 {
    let cap = nodes.saturating_sub(u64::from(k));
    let e = (2 * k + 1).min(MAX_COMMITTEE);
    u64::from(e).min(cap) as u32
}

impl Params {
    /// The gain G, defaulting to the fee.
    pub fn gain_or_fee(&self) -> f64 {
        self.gain.unwrap_or(self.fee)
    }

    /// Checks every input and resolves the defaults.
    pub fn resolve(&self) -> Result<Resolved, ParamError> {
        let f = self.adversary_share;
        if !(0.0..1.0).contains(&f) {
            return Err(ParamError::new(
                Param::AdversaryShare,
                format!("is a share of the nodes in [0, 1), got {f}"),
            ));
        }
        let k = self.committee;
        if k == 0 || k.is_multiple_of(2) || k > MAX_COMMITTEE {
            return Err(ParamError::new(
                Param::Committee,
                format!("must be odd and between 1 and {MAX_COMMITTEE}, got {k}"),
            ));
        }
        if self.escalation > MAX_COMMITTEE {
            return Err(ParamError::new(
                Param::Escalation,
                format!(
                    "must be at most {MAX_COMMITTEE} (0 for the default), got {}",
                    self.escalation
                ),
            ));
        }
        if self.nodes > 1_000_000_000_000 {
            return Err(ParamError::new(
                Param::Nodes,
                format!("must be at most 10^12, got {}", self.nodes),
            ));
        }
        let e = if self.escalation == 0 {
            default_escalation(k, self.nodes)
        } else {
            self.escalation
        };
        if e == 0 || self.nodes < u64::from(k) + u64::from(e) {
            return Err(ParamError::new(
                Param::Nodes,
                format!(
                    "must be at least the committee plus the escalation committee ({k} + {}), got {}",
                    e.max(1),
                    self.nodes
                ),
            ));
        }
        let adversary_nodes = (f * self.nodes as f64).round() as u64;
        Ok(Resolved {
            nodes: self.nodes,
            adversary_share: f,
            adversary_nodes: adversary_nodes.min(self.nodes),
            committee: k,
            escalation: e,
            stake: amount(Param::Stake, self.stake)?,
            minority_slash: fraction(Param::MinoritySlash, self.minority_slash_bps)?,
            silent_slash: fraction(Param::SilentSlash, self.silent_slash_bps)?,
            burn: fraction(Param::Burn, self.burn_bps)?,
            fee: amount(Param::Fee, self.fee)?,
            reward: amount(Param::Reward, self.reward)?,
            gain: amount(Param::Gain, self.gain_or_fee())?,
            compute_cost: amount(Param::ComputeCost, self.compute_cost)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(p: &Params) -> Param {
        p.resolve().unwrap_err().param
    }

    #[test]
    fn defaults_resolve() {
        let r = Params::default().resolve().unwrap();
        assert_eq!(r.adversary_nodes, 2000);
        assert_eq!(r.escalation, 7);
        assert!((r.minority_slash - 0.1).abs() < 1e-15);
        assert!((r.gain - 1.0).abs() < 1e-15);
        assert_eq!(default_escalation(9, 10_000), 15);
        assert_eq!(default_escalation(3, 8), 5);
    }

    #[test]
    fn bad_inputs_name_their_parameter() {
        let base = Params::default();
        for k in [0, 2, 17] {
            assert_eq!(
                err(&Params {
                    committee: k,
                    ..base.clone()
                }),
                Param::Committee
            );
        }
        for f in [-0.1, 1.0, f64::NAN] {
            assert_eq!(
                err(&Params {
                    adversary_share: f,
                    ..base.clone()
                }),
                Param::AdversaryShare
            );
        }
        let p = Params {
            nodes: 9,
            escalation: 7,
            ..base.clone()
        };
        assert_eq!(err(&p), Param::Nodes);
        assert!(p.resolve().unwrap_err().reason.contains("3 + 7"));
        assert_eq!(
            err(&Params {
                fee: -1.0,
                ..base.clone()
            }),
            Param::Fee
        );
        assert_eq!(
            err(&Params {
                gain: Some(f64::INFINITY),
                ..base.clone()
            }),
            Param::Gain
        );
        assert_eq!(
            err(&Params {
                burn_bps: 10_001,
                ..base.clone()
            }),
            Param::Burn
        );
        assert_eq!(
            err(&Params {
                escalation: 16,
                ..base
            }),
            Param::Escalation
        );
    }
}
