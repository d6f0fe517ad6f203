//! A node's standing on chain: is it in the pools that committees are drawn from, and if not,
//! why; is its stake at the operator's target, and if not, can it be topped up from the
//! node's EAI balance. One set of rules, read by the node (which acts on them and reports them
//! in its logs, `/health` and metrics) and by `aikernel node status`.

mod reason;
mod snapshot;

use alloy::primitives::U256;

pub use reason::{Plan, Reason, Shortfall};
pub use snapshot::{ModelPool, NodeStatus, Snapshot, read};

/// The rules applied to a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The chain state it was made from.
    pub snapshot: Snapshot,
    /// The operator's target stake.
    pub target: U256,
    /// Why the node is not eligible (empty: eligible).
    pub reasons: Vec<Reason>,
    /// What to do about the stake.
    pub plan: Plan,
}

impl Standing {
    /// Applies the rules to `snapshot` with target stake `target`.
    pub fn assess(snapshot: Snapshot, target: U256) -> Standing {
        Standing {
            reasons: reasons(&snapshot),
            plan: plan(&snapshot, target),
            snapshot,
            target,
        }
    }

    /// Eligible for prompts of every model it wants to serve.
    pub fn eligible(&self) -> bool {
        self.reasons.is_empty()
    }

    /// The reasons as one line (empty when eligible).
    pub fn why_not(&self) -> String {
        let parts: Vec<String> = self.reasons.iter().map(ToString::to_string).collect();
        parts.join("; ")
    }

    /// Why the stake stays below its target, if it does.
    pub fn shortfall(&self) -> Option<&Shortfall> {
        match &self.plan {
            Plan::Cannot(s) => Some(s),
            _ => None,
        }
    }

    /// Reasons that keep the node out of the pool of `model`.
    pub fn reasons_for(&self, model: u64) -> Vec<&Reason> {
        self.reasons
            .iter()
            .filter(|r| r.model().is_none_or(|m| m == model))
            .collect()
    }
}

/// Why the node is not eligible, most fundamental first.
pub fn reasons(s: &Snapshot) -> Vec<Reason> {
    let mut out = Vec::new();
    match s.status {
        NodeStatus::None => return vec![Reason::NotRegistered],
        NodeStatus::Exiting => out.push(Reason::Exiting {
            unbonding: s.unbonding,
            until: s.unbonding_end,
        }),
        NodeStatus::Paused => out.push(Reason::Paused),
        NodeStatus::Active => {}
    }
    if s.jailed {
        out.push(Reason::Jailed {
            until: s.jailed_until,
            now: s.now,
        });
    }
    if s.stake < s.min_stake {
        out.push(Reason::BelowMinimum {
            stake: s.stake,
            minimum: s.min_stake,
        });
    }
    let node_level = out.len();
    for pool in &s.pools {
        if !pool.registered {
            out.push(Reason::ModelNotServed { model: pool.model });
        } else if !pool.active {
            out.push(Reason::ModelInactive { model: pool.model });
        } else if node_level == 0 && !pool.in_pool {
            out.push(Reason::NotInPool { model: pool.model });
        }
    }
    out
}

/// What to do about a stake below `target` (never less than `minStake`).
pub fn plan(s: &Snapshot, target: U256) -> Plan {
    let target = target.max(s.min_stake);
    if s.stake >= target {
        return Plan::AtTarget;
    }
    if matches!(s.status, NodeStatus::None | NodeStatus::Exiting) {
        return Plan::Cannot(Shortfall::NotStakeable(s.status));
    }
    if !s.unbonding.is_zero() {
        return Plan::Cannot(Shortfall::Unbonding {
            stake: s.stake,
            target,
            unbonding: s.unbonding,
        });
    }
    if s.balance.is_zero() {
        return Plan::Cannot(Shortfall::NoBalance {
            stake: s.stake,
            target,
        });
    }
    Plan::TopUp((target - s.stake).min(s.balance))
}

/// `whole` EAI in wei.
pub fn eai_wei(whole: u64) -> U256 {
    U256::from(whole) * U256::from(10u64).pow(U256::from(18u8))
}

/// An amount of EAI wei as EAI, trailing zeros trimmed: `980 EAI`, `1.5 EAI`.
pub fn eai(wei: U256) -> String {
    format!("{} EAI", eai_number(wei))
}

/// An amount of EAI wei as a decimal number of EAI: `980`, `1.5`.
pub fn eai_number(wei: U256) -> String {
    let unit = eai_wei(1);
    let (whole, frac) = (wei / unit, wei % unit);
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{frac:0>18}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;

    use super::*;

    fn active(stake: u64) -> Snapshot {
        Snapshot {
            node: Address::repeat_byte(1),
            status: NodeStatus::Active,
            stake: eai_wei(stake),
            unbonding: U256::ZERO,
            unbonding_end: 0,
            jailed: false,
            jailed_until: 0,
            pooled: true,
            pools: vec![ModelPool {
                model: 1,
                registered: true,
                in_pool: true,
                active: true,
            }],
            min_stake: eai_wei(1000),
            balance: eai_wei(10_000),
            allowance: U256::ZERO,
            now: 100,
        }
    }

    #[test]
    fn a_healthy_node_at_its_target_is_eligible_and_left_alone() {
        let s = Standing::assess(active(1500), eai_wei(1500));
        assert!(s.eligible(), "{}", s.why_not());
        assert_eq!(s.plan, Plan::AtTarget);
    }

    #[test]
    fn a_slashed_node_below_the_minimum_tops_up_to_its_target() {
        let mut snap = active(980);
        snap.pooled = false;
        let s = Standing::assess(snap.clone(), eai_wei(1500));
        assert_eq!(
            s.reasons,
            vec![Reason::BelowMinimum {
                stake: eai_wei(980),
                minimum: eai_wei(1000)
            }]
        );
        assert_eq!(s.why_not(), "stake 980 EAI below the minimum 1000 EAI");
        assert_eq!(s.plan, Plan::TopUp(eai_wei(520)));
        // Only what it holds when that is less than the shortfall.
        snap.balance = eai_wei(10);
        assert_eq!(plan(&snap, eai_wei(1500)), Plan::TopUp(eai_wei(10)));
    }

    #[test]
    fn says_why_it_cannot_top_up() {
        let mut snap = active(980);
        snap.balance = U256::ZERO;
        let s = Standing::assess(snap.clone(), eai_wei(1500));
        assert!(!s.eligible());
        let why = s.shortfall().unwrap().to_string();
        assert!(why.contains("980 EAI") && why.contains("1500 EAI"), "{why}");
        snap.balance = eai_wei(5);
        snap.unbonding = eai_wei(100);
        assert!(matches!(
            plan(&snap, eai_wei(1500)),
            Plan::Cannot(Shortfall::Unbonding { .. })
        ));
        snap.unbonding = U256::ZERO;
        assert_eq!(
            plan(&snap, eai_wei(500)),
            Plan::TopUp(eai_wei(5)),
            "a target under the minimum still keeps the minimum"
        );
        snap.status = NodeStatus::Exiting;
        assert_eq!(
            plan(&snap, eai_wei(1500)),
            Plan::Cannot(Shortfall::NotStakeable(NodeStatus::Exiting))
        );
    }

    #[test]
    fn lists_every_reason_most_fundamental_first() {
        let mut snap = active(980);
        snap.status = NodeStatus::Paused;
        snap.jailed = true;
        snap.jailed_until = 160;
        snap.pools.push(ModelPool {
            model: 2,
            registered: false,
            in_pool: false,
            active: true,
        });
        let s = Standing::assess(snap.clone(), eai_wei(1500));
        let codes: Vec<_> = s.reasons.iter().map(Reason::code).collect();
        assert_eq!(
            codes,
            ["paused", "jailed", "below_minimum", "model_not_served"]
        );
        assert!(s.why_not().contains("jailed until 160 (60 s from now)"));
        assert_eq!(s.reasons_for(1).len(), 3);
        assert_eq!(s.reasons_for(2).len(), 4);
        snap.status = NodeStatus::None;
        assert_eq!(reasons(&snap), vec![Reason::NotRegistered]);
    }

    #[test]
    fn a_node_missing_from_a_pool_for_no_known_reason_says_so() {
        let mut snap = active(1500);
        snap.pools[0].in_pool = false;
        assert_eq!(reasons(&snap), vec![Reason::NotInPool { model: 1 }]);
        snap.pools[0].active = false;
        assert_eq!(reasons(&snap), vec![Reason::ModelInactive { model: 1 }]);
    }

    #[test]
    fn formats_eai() {
        assert_eq!(eai(eai_wei(980)), "980 EAI");
        assert_eq!(eai(eai_wei(3) / U256::from(2u8)), "1.5 EAI");
        assert_eq!(eai_number(U256::from(1u8)), "0.000000000000000001");
    }
}
