//! Why a node is out of the pools, and why its stake stays below its target.

use std::fmt;

use alloy::primitives::U256;

use super::{NodeStatus, eai};

/// Why a node is not eligible for prompts (of every model it wants to serve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Not registered with GPUManagement.
    NotRegistered,
    /// Unregistered, stake unbonding.
    Exiting {
        /// Unbonding stake.
        unbonding: U256,
        /// When it is withdrawable.
        until: u64,
    },
    /// Paused by its operator.
    Paused,
    /// Jailed after a slash.
    Jailed {
        /// End of the jail.
        until: u64,
        /// Chain time now.
        now: u64,
    },
    /// Stake below `minStake`.
    BelowMinimum {
        /// Active stake.
        stake: U256,
        /// `minStake`.
        minimum: U256,
    },
    /// The node's registration lacks a model it is configured to serve.
    ModelNotServed {
        /// The model.
        model: u64,
    },
    /// The model is inactive in the ModelFileSystem (no new prompts).
    ModelInactive {
        /// The model.
        model: u64,
    },
    /// Otherwise eligible, yet not in the model's pool (the chain was not re-synced).
    NotInPool {
        /// The model.
        model: u64,
    },
}

impl Reason {
    /// Every reason code, for metrics that list them all (0 or 1 each).
    pub const CODES: [&'static str; 8] = [
        "not_registered",
        "exiting",
        "paused",
        "jailed",
        "below_minimum",
        "model_not_served",
        "model_inactive",
        "not_in_pool",
    ];

    /// Short machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::NotRegistered => "not_registered",
            Reason::Exiting { .. } => "exiting",
            Reason::Paused => "paused",
            Reason::Jailed { .. } => "jailed",
            Reason::BelowMinimum { .. } => "below_minimum",
            Reason::ModelNotServed { .. } => "model_not_served",
            Reason::ModelInactive { .. } => "model_inactive",
            Reason::NotInPool { .. } => "not_in_pool",
        }
    }

    /// The model this reason is about, when it concerns one model only.
    pub fn model(&self) -> Option<u64> {
        match self {
            Reason::ModelNotServed { model }
            | Reason::ModelInactive { model }
            | Reason::NotInPool { model } => Some(*model),
            _ => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotRegistered => f.write_str("not registered"),
            Reason::Exiting { unbonding, until } => write!(
                f,
                "unregistered (exiting): {} unbonding until {until}",
                eai(*unbonding)
            ),
            Reason::Paused => f.write_str("paused (run `resume` to take prompts again)"),
            Reason::Jailed { until, now } if until > now => {
                write!(f, "jailed until {until} ({} s from now)", until - now)
            }
            Reason::Jailed { until, .. } => {
                write!(f, "jailed (ended at {until}, waiting for `unjail`)")
            }
            Reason::BelowMinimum { stake, minimum } => write!(
                f,
                "stake {} below the minimum {}",
                eai(*stake),
                eai(*minimum)
            ),
            Reason::ModelNotServed { model } => {
                write!(f, "model {model} is not in the node's registration")
            }
            Reason::ModelInactive { model } => write!(f, "model {model} is inactive on chain"),
            Reason::NotInPool { model } => write!(f, "not in the pool of model {model}"),
        }
    }
}

/// What to do about the stake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// At or above the target.
    AtTarget,
    /// Add this much from the balance (all of the shortfall, or all of the balance).
    TopUp(U256),
    /// Below the target and the node cannot top up.
    Cannot(Shortfall),
}

/// Why a stake below its target stays there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// The node holds no EAI to add.
    NoBalance {
        /// Active stake.
        stake: U256,
        /// The target.
        target: U256,
    },
    /// Stake is unbonding: the operator is reducing the stake, so the node does not undo it.
    Unbonding {
        /// Active stake.
        stake: U256,
        /// The target.
        target: U256,
        /// Unbonding stake.
        unbonding: U256,
    },
    /// Not registered, or exiting: `addStake` is not possible.
    NotStakeable(NodeStatus),
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shortfall::NoBalance { stake, target } => write!(
                f,
                "stake {} below the target {} and no EAI left to add (send EAI to the node)",
                eai(*stake),
                eai(*target)
            ),
            Shortfall::Unbonding {
                stake,
                target,
                unbonding,
            } => write!(
                f,
                "stake {} below the target {} while {} unbonds: not topping up (lower stake_eai \
                 to keep the smaller stake)",
                eai(*stake),
                eai(*target),
                eai(*unbonding)
            ),
            Shortfall::NotStakeable(status) => {
                write!(f, "cannot add stake to a node that is {}", status.name())
            }
        }
    }
}
