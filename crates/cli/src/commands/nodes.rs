//! `aikernel nodes list`: every node that ever registered with GPUManagement, its stake,
//! standing, hardware, earnings (ETH in the kernel, unclaimed EAI block rewards) and slashes.

use std::collections::BTreeMap;

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, U256},
    providers::Provider,
};
use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use aikernel_chain::bindings::{
    DecentralizedInference,
    GPUManagement::{self, NodeRegistered, NodeSlashed},
};
use aikernel_protocol::NodeStatus;

use crate::{
    global::GlobalArgs,
    output::{Table, eai, eth, print_json},
    rpc::{self, Kernel, explain},
};

/// `aikernel nodes ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum NodesCommand {
    /// List every registered node (found from NodeRegistered events).
    List,
}

/// One node's row.
pub(crate) struct NodeRow {
    /// Operator address (the node's identity).
    pub(crate) address: Address,
    /// What `nodeInfo` returns.
    pub(crate) info: GPUManagement::Node,
    /// In its models' pools now.
    pub(crate) eligible: bool,
    /// Unwithdrawn ETH earnings (fee shares, callback gas) in the kernel.
    pub(crate) earnings: U256,
    /// Unclaimed EAI block rewards in GPUManagement.
    pub(crate) pending_rewards: U256,
    /// NodeSlashed events and their total amount.
    pub(crate) slashes: (usize, U256),
}

/// Name of a `GPUManagement.NodeStatus` value.
fn status_name(status: u8) -> &'static str {
    NodeStatus::try_from(status).map_or("unknown", NodeStatus::name)
}

/// Runs `aikernel nodes ...`.
pub(crate) fn run(command: &NodesCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match command {
        NodesCommand::List => runtime.block_on(list(global)),
    }
}

/// Reads every node that registered since the deployment's start block.
pub(crate) async fn read_nodes(kernel: &Kernel) -> anyhow::Result<Vec<NodeRow>> {
    let d = &kernel.deployment;
    let registered =
        rpc::scan::<NodeRegistered>(&kernel.provider, d.gpu, None, d.start_block).await?;
    let slashed = rpc::scan::<NodeSlashed>(&kernel.provider, d.gpu, None, d.start_block).await?;
    let mut slashes: BTreeMap<Address, (usize, U256)> = BTreeMap::new();
    for (event, _) in slashed {
        let entry = slashes.entry(event.node).or_default();
        entry.0 += 1;
        entry.1 += event.amount;
    }
    let gpu = GPUManagement::new(d.gpu, kernel.provider.clone());
    let inference = DecentralizedInference::new(d.kernel, kernel.provider.clone());
    let mut seen = Vec::new();
    for (event, _) in registered {
        if !seen.contains(&event.node) {
            seen.push(event.node);
        }
    }
    let mut rows = Vec::with_capacity(seen.len());
    for address in seen {
        let info = gpu
            .nodeInfo(address)
            .call()
            .await
            .map_err(|e| explain(&format!("reading node {address}"), &e))?;
        let eligible = gpu
            .isEligible(address)
            .call()
            .await
            .map_err(|e| explain(&format!("reading node {address}"), &e))?;
        let earnings = inference
            .earningsOf(address)
            .call()
            .await
            .map_err(|e| explain(&format!("reading the earnings of {address}"), &e))?;
        let pending_rewards = gpu
            .pendingRewards(address)
            .call()
            .await
            .map_err(|e| explain(&format!("reading the block rewards of {address}"), &e))?;
        rows.push(NodeRow {
            address,
            info,
            eligible,
            earnings,
            pending_rewards,
            slashes: slashes.get(&address).copied().unwrap_or_default(),
        });
    }
    Ok(rows)
}

/// One node as `nodes list --json` prints it.
pub(crate) fn node_json(r: &NodeRow) -> serde_json::Value {
    let i = &r.info;
    json!({
        "address": r.address.to_string(),
        "status": status_name(i.status),
        "stake": i.stake.to_string(),
        "unbonding": i.unbonding.to_string(),
        "unbondingEnd": i.unbondingEnd,
        "jailed": i.jailed,
        "jailedUntil": i.jailedUntil,
        "eligible": r.eligible,
        "pooled": i.pooled,
        "hardware": {
            "deviceModel": i.hardware.deviceModel,
            "memoryMiB": i.hardware.memoryMiB,
            "deviceCount": i.hardware.deviceCount,
        },
        "models": i.models.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "earnings": {
            "eth": r.earnings.to_string(),
            "eai": r.pending_rewards.to_string(),
        },
        "slashes": r.slashes.0,
        "slashed": r.slashes.1.to_string(),
    })
}

async fn list(global: &GlobalArgs) -> anyhow::Result<()> {
    let kernel = rpc::connect(global, None).await?;
    let rows = read_nodes(&kernel).await?;
    let now = kernel
        .provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .context("reading the latest block")?
        .map_or(0, |b| b.header.timestamp);
    if global.json {
        let list: Vec<_> = rows.iter().map(node_json).collect();
        return print_json(&json!(list));
    }
    if rows.is_empty() {
        crate::output::outln!("no nodes registered (start one with `aikernel node run`)");
        return Ok(());
    }
    let mut table = Table::new(&[
        "address",
        "status",
        "stake",
        "unbonding",
        "jailed until",
        "eligible",
        "hardware",
        "models",
        "earnings",
        "slashes",
    ]);
    for r in &rows {
        let i = &r.info;
        let models: Vec<String> = i.models.iter().map(ToString::to_string).collect();
        table.push(vec![
            r.address.to_string(),
            status_name(i.status).into(),
            eai(U256::from(i.stake)),
            eai(U256::from(i.unbonding)),
            jail(i.jailed, i.jailedUntil, now),
            if r.eligible { "yes" } else { "no" }.into(),
            format!(
                "{} x{}, {} MiB",
                i.hardware.deviceModel, i.hardware.deviceCount, i.hardware.memoryMiB
            ),
            models.join(","),
            format!("{} / {}", eth(r.earnings), eai(r.pending_rewards)),
            r.slashes.0.to_string(),
        ]);
    }
    crate::output::out!("{}", table.render());
    Ok(())
}

/// "-" when free, else how long the jail lasts from chain time `now`.
fn jail(jailed: bool, until: u64, now: u64) -> String {
    if !jailed {
        return "-".into();
    }
    if until <= now {
        return "ended (unjail)".into();
    }
    let left = until - now;
    format!("in {}m{:02}s", left / 60, left % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jail_times_read_relative_to_the_chain() {
        assert_eq!(jail(false, 0, 100), "-");
        assert_eq!(jail(true, 3700, 100), "in 60m00s");
        assert_eq!(jail(true, 165, 100), "in 1m05s");
        assert_eq!(jail(true, 100, 100), "ended (unjail)");
    }
}
