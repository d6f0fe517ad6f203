//! The chain state a node's standing is judged from, read at one moment.

use alloy::primitives::{Address, U256};

use aikernel_chain::bindings::GPUManagement;

use crate::NodeError;
use crate::contracts::Contracts;

/// `GPUManagement.NodeStatus`, the protocol's enum.
pub use aikernel_protocol::NodeStatus;

/// One model the node wants to serve, as the chain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPool {
    /// Model id.
    pub model: u64,
    /// In the node's registration (`setServedModels`).
    pub registered: bool,
    /// The node is in the model's pool now.
    pub in_pool: bool,
    /// Active in the ModelFileSystem (takes new prompts).
    pub active: bool,
}

/// Everything the rules need, read from the chain at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The node.
    pub node: Address,
    /// Its registration status.
    pub status: NodeStatus,
    /// Active stake (EAI wei).
    pub stake: U256,
    /// Stake unbonding (still slashable).
    pub unbonding: U256,
    /// When the unbonding stake becomes withdrawable (chain time).
    pub unbonding_end: u64,
    /// Jailed (must call `unjail` after `jailed_until`).
    pub jailed: bool,
    /// End of the jail (chain time).
    pub jailed_until: u64,
    /// In the pools (the contract's `isEligible`).
    pub pooled: bool,
    /// The models it wants to serve.
    pub pools: Vec<ModelPool>,
    /// `GPUManagement.minStake`.
    pub min_stake: U256,
    /// The node's EAI balance (what a top-up can use).
    pub balance: U256,
    /// EAI the node allows GPUManagement to take.
    pub allowance: U256,
    /// Chain time (latest block timestamp).
    pub now: u64,
}

/// Reads a snapshot of `node` wanting to serve `models` (none: the models it registered),
/// at chain time `now`.
pub async fn read(
    c: &Contracts,
    node: Address,
    models: &[u64],
    now: u64,
) -> Result<Snapshot, NodeError> {
    let info: GPUManagement::Node = c
        .gpu
        .nodeInfo(node)
        .call()
        .await
        .map_err(|e| NodeError::call("nodeInfo", &e))?;
    let min_stake = c
        .gpu
        .minStake()
        .call()
        .await
        .map_err(|e| NodeError::call("minStake", &e))?;
    let balance = c
        .eai
        .balanceOf(node)
        .call()
        .await
        .map_err(|e| NodeError::call("EAI.balanceOf", &e))?;
    let allowance = c
        .eai
        .allowance(node, c.deployment.gpu)
        .call()
        .await
        .map_err(|e| NodeError::call("EAI.allowance", &e))?;
    let registered: Vec<u64> = info.models.iter().map(U256::saturating_to).collect();
    let wanted = if models.is_empty() {
        registered.clone()
    } else {
        models.to_vec()
    };
    let mut pools = Vec::with_capacity(wanted.len());
    for model in wanted {
        let id = U256::from(model);
        let in_pool = c
            .scheduler
            .inPool(id, node)
            .call()
            .await
            .map_err(|e| NodeError::call("inPool", &e))?;
        let active = c
            .models
            .getModel(id)
            .call()
            .await
            .map(|m| m.active)
            .or_else(|e| match NodeError::call("getModel", &e) {
                NodeError::Call { message, .. } if message.starts_with("UnknownModel") => Ok(false),
                other => Err(other),
            })?;
        pools.push(ModelPool {
            model,
            registered: registered.contains(&model),
            in_pool,
            active,
        });
    }
    Ok(Snapshot {
        node,
        status: NodeStatus::try_from(info.status)
            .map_err(|e| NodeError::Misconfigured(format!("nodeInfo of {node}: {e}")))?,
        stake: U256::from(info.stake),
        unbonding: U256::from(info.unbonding),
        unbonding_end: info.unbondingEnd,
        jailed: info.jailed,
        jailed_until: info.jailedUntil,
        pooled: info.pooled,
        pools,
        min_stake,
        balance,
        allowance,
        now,
    })
}
