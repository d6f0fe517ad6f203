//! `aikernel status`: a summary of the network: prompts, nodes, stake, fees paid to nodes,
//! block rewards emitted by GPUManagement, EAI supply and the treasury, from views and events.

use alloy::{primitives::U256, providers::Provider};
use anyhow::Context as _;
use clap::Args;
use serde_json::json;

use aikernel_chain::bindings::{
    DecentralizedInference::{
        self, CallbackDelivered, PromptRefunded, PromptSettled, PromptSubmitted, RewardPaid,
    },
    EAI,
    GPUManagement::{self, RewardsClaimed},
    ModelFileSystem,
};
use aikernel_protocol::NodeStatus;

use crate::{
    global::GlobalArgs,
    output::{eai, eth, outln, print_json},
    rpc::{self, explain},
};

/// Arguments of `aikernel status` (none beyond the global ones).
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {}

/// Runs `aikernel status`.
pub(crate) fn run(_args: &StatusArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(status(global))
}

async fn status(global: &GlobalArgs) -> anyhow::Result<()> {
    let kernel = rpc::connect(global, None).await?;
    let d = kernel.deployment.clone();
    let p = &kernel.provider;
    let block = p.get_block_number().await.context("reading the block")?;

    let submitted = rpc::scan::<PromptSubmitted>(p, d.kernel, None, d.start_block).await?;
    let settled = rpc::scan::<PromptSettled>(p, d.kernel, None, d.start_block).await?;
    let refunded = rpc::scan::<PromptRefunded>(p, d.kernel, None, d.start_block).await?;
    let callbacks = rpc::scan::<CallbackDelivered>(p, d.kernel, None, d.start_block).await?;
    let rewards = rpc::scan::<RewardPaid>(p, d.kernel, None, d.start_block).await?;
    let pending = submitted
        .len()
        .saturating_sub(settled.len() + refunded.len());
    let fees: U256 = submitted.iter().map(|(e, _)| e.fee).sum();
    let callbacks_ok = callbacks.iter().filter(|(e, _)| e.ok).count();
    let reward_eth: U256 = rewards.iter().map(|(e, _)| e.eth).sum();
    let claims = rpc::scan::<RewardsClaimed>(p, d.gpu, None, d.start_block).await?;
    let claimed: U256 = claims.iter().map(|(e, _)| e.amount).sum();

    let nodes = super::nodes::read_nodes(&kernel).await?;
    let registered = nodes
        .iter()
        .filter(|n| n.info.status != NodeStatus::None.as_u8())
        .count();
    let eligible = nodes.iter().filter(|n| n.eligible).count();
    let stake: U256 = nodes.iter().map(|n| U256::from(n.info.stake)).sum();
    let unbonding: U256 = nodes.iter().map(|n| U256::from(n.info.unbonding)).sum();
    let slashes: usize = nodes.iter().map(|n| n.slashes.0).sum();
    let slashed: U256 = nodes.iter().map(|n| n.slashes.1).sum();

    let inference = DecentralizedInference::new(d.kernel, p.clone());
    let last_prompt_id = inference
        .lastPromptId()
        .call()
        .await
        .map_err(|e| explain("reading the last prompt id", &e))?;
    let gpu = GPUManagement::new(d.gpu, p.clone());
    let emitted = gpu
        .emittedRewards()
        .call()
        .await
        .map_err(|e| explain("reading the emitted block rewards", &e))?;
    let models = ModelFileSystem::new(d.models, p.clone())
        .modelCount()
        .call()
        .await
        .map_err(|e| explain("reading the model count", &e))?;
    let token = EAI::new(d.eai, p.clone());
    let supply = token
        .totalSupply()
        .call()
        .await
        .map_err(|e| explain("reading the EAI supply", &e))?;
    let burned = token
        .totalBurned()
        .call()
        .await
        .map_err(|e| explain("reading the EAI burned", &e))?;
    let cap = token
        .cap()
        .call()
        .await
        .map_err(|e| explain("reading the EAI cap", &e))?;
    let treasury_eai = token
        .balanceOf(d.treasury)
        .call()
        .await
        .map_err(|e| explain("reading the treasury's EAI", &e))?;
    let treasury_eth = p
        .get_balance(d.treasury)
        .await
        .context("reading the treasury's balance")?;
    // Protocol fees are credited to the treasury's `withdraw` balance at each settlement.
    let accrued = inference
        .earningsOf(d.treasury)
        .call()
        .await
        .map_err(|e| explain("reading the treasury's earnings", &e))?;

    if global.json {
        return print_json(&json!({
            "chainId": d.chain_id,
            "block": block,
            "rpc": global.rpc,
            "deployment": d,
            "prompts": {
                "submitted": submitted.len(),
                "settled": settled.len(),
                "refunded": refunded.len(),
                "pending": pending,
                "lastPromptId": last_prompt_id.to_string(),
                "feesPaid": fees.to_string(),
                "callbacks": { "ok": callbacks_ok, "failed": callbacks.len() - callbacks_ok },
            },
            "models": models.to_string(),
            "nodes": {
                "registered": registered,
                "eligible": eligible,
                "stake": stake.to_string(),
                "unbonding": unbonding.to_string(),
                "slashes": slashes,
                "slashed": slashed.to_string(),
            },
            "rewards": {
                "payments": rewards.len(),
                "eth": reward_eth.to_string(),
                "eaiEmitted": emitted.to_string(),
                "eaiClaimed": claimed.to_string(),
            },
            "eai": {
                "supply": supply.to_string(),
                "burned": burned.to_string(),
                "cap": cap.to_string(),
            },
            "treasury": {
                "address": d.treasury.to_string(),
                "eth": treasury_eth.to_string(),
                "eai": treasury_eai.to_string(),
                "accruedFees": accrued.to_string(),
            },
        }));
    }
    outln!("chain {} at block {block} ({})", d.chain_id, global.rpc);
    outln!("kernel    {}", d.kernel);
    outln!(
        "prompts   {} submitted: {} settled, {} refunded, {pending} pending ({} paid in fees)",
        submitted.len(),
        settled.len(),
        refunded.len(),
        eth(fees)
    );
    outln!(
        "callbacks {callbacks_ok} delivered, {} failed",
        callbacks.len() - callbacks_ok
    );
    outln!("models    {models} registered");
    outln!(
        "nodes     {registered} registered, {eligible} eligible; stake {}, unbonding {}; \
         {slashes} slashes ({})",
        eai(stake),
        eai(unbonding),
        eai(slashed)
    );
    outln!(
        "rewards   {} of fees paid to nodes in {} payments; block rewards {} emitted, {} claimed",
        eth(reward_eth),
        rewards.len(),
        eai(emitted),
        eai(claimed)
    );
    outln!(
        "EAI       supply {} of cap {}, burned {}",
        eai(supply),
        eai(cap),
        eai(burned)
    );
    outln!(
        "treasury  {}: {}, {}; {} protocol fees accrued in the kernel",
        d.treasury,
        eth(treasury_eth),
        eai(treasury_eai),
        eth(accrued)
    );
    Ok(())
}
