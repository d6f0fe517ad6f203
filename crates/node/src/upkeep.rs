//! Registration at startup and the periodic duties: leave an expired jail, collect ETH
//! earnings, claim EAI block rewards, keep the stake at its target.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use alloy::primitives::{B256, U256};

use aikernel_chain::bindings::GPUManagement;
use aikernel_protocol::NodeStatus;

use crate::NodeError;
use crate::contracts::Contracts;
use crate::daemon::Ctx;
use crate::standing::eai;

/// Most prompts waiting for compute with which a jailed node rejoins the pools.
const UNJAIL_QUEUE_DEPTH: u64 = 1;

/// Registers and stakes the target (or, short of it, all the node holds above the minimum)
/// on first start; afterwards keeps the served models in sync.
pub async fn ensure_registered(ctx: &Ctx) -> Result<(), NodeError> {
    let c = &ctx.contracts;
    let models: Vec<U256> = ctx.config.models.iter().map(|&m| U256::from(m)).collect();
    let registered = c
        .gpu
        .isRegistered(ctx.me)
        .call()
        .await
        .map_err(|e| NodeError::call("isRegistered", &e))?;
    if !registered {
        return register(ctx, models).await;
    }
    let info = c
        .gpu
        .nodeInfo(ctx.me)
        .call()
        .await
        .map_err(|e| NodeError::call("nodeInfo", &e))?;
    if info.status == NodeStatus::Exiting.as_u8() {
        return Err(NodeError::Misconfigured(format!(
            "node {} is unregistering (exiting): it can no longer serve",
            ctx.me
        )));
    }
    if info.status == NodeStatus::Paused.as_u8() {
        tracing::warn!("the node is paused on chain: it gets no new prompts until `resume`");
    }
    let mut have: Vec<U256> = info.models.clone();
    let mut want = models.clone();
    have.sort();
    want.sort();
    if have != want {
        tracing::info!(?want, ?have, "updating the served models");
        let input = c.gpu.setServedModels(models).calldata().clone();
        ctx.send("setting served models", c.deployment.gpu, input)
            .await?;
    }
    Ok(())
}

async fn register(ctx: &Ctx, models: Vec<U256>) -> Result<(), NodeError> {
    let c = &ctx.contracts;
    let target = ctx.config.target_stake();
    let held = c
        .eai
        .balanceOf(ctx.me)
        .call()
        .await
        .map_err(|e| NodeError::call("EAI.balanceOf", &e))?;
    let minimum = c
        .gpu
        .minStake()
        .call()
        .await
        .map_err(|e| NodeError::call("minStake", &e))?;
    if held < minimum.max(U256::from(1u8)) {
        return Err(NodeError::Misconfigured(format!(
            "node {} holds {} but registering needs at least the minimum stake {} (target \
             stake_eai = {}): get EAI from the genesis holder first",
            ctx.me,
            eai(held),
            eai(minimum),
            eai(target)
        )));
    }
    let stake = target.max(minimum).min(held);
    if stake < target {
        tracing::warn!(
            balance = %eai(held),
            target = %eai(target),
            "registering with all the node holds, below the target stake; it tops up once it \
             holds more EAI"
        );
    }
    let allowance = c
        .eai
        .allowance(ctx.me, c.deployment.gpu)
        .call()
        .await
        .map_err(|e| NodeError::call("EAI.allowance", &e))?;
    if allowance < stake {
        let input = c.eai.approve(c.deployment.gpu, stake).calldata().clone();
        ctx.send("approving the stake", c.deployment.eai, input)
            .await?;
    }
    let hw = if ctx.config.gpu_stand_in() {
        crate::hardware::stand_in()
    } else {
        crate::hardware::detect_for(ctx.config.device)
    };
    tracing::info!(device = %hw.device_model, memory_mib = hw.memory_mib, ?models, stake = %eai(stake), "registering");
    let hardware = GPUManagement::Hardware {
        deviceModel: hw.device_model,
        memoryMiB: hw.memory_mib,
        deviceCount: hw.device_count,
    };
    let input = c.gpu.register(hardware, models, stake).calldata().clone();
    ctx.send("registering the node", c.deployment.gpu, input)
        .await?;
    tracing::info!(node = %ctx.me, "registered and staked");
    Ok(())
}

/// The content root each of `models` has in the ModelFileSystem.
pub async fn model_roots(c: &Contracts, models: &[u64]) -> Result<HashMap<u64, B256>, NodeError> {
    let mut roots = HashMap::new();
    for &id in models {
        let model = c
            .models
            .getModel(U256::from(id))
            .call()
            .await
            .map_err(|e| NodeError::call("getModel", &e))?;
        roots.insert(id, model.spec.contentRoot);
    }
    Ok(roots)
}

/// Joins a chain that replaced the one the node started on: its served models must be the
/// files the node loaded (else [`NodeError::Model`]: restart the node), then it registers.
pub async fn rejoin(ctx: &Ctx) -> Result<(), NodeError> {
    let roots = model_roots(&ctx.contracts, &ctx.config.models).await?;
    for (id, root) in roots {
        let loaded = ctx.model_roots.get(&id).copied().unwrap_or_default();
        if root != loaded {
            return Err(NodeError::Model {
                id,
                reason: format!(
                    "the new chain registers another file (root {root}; this node loaded \
                     {loaded}): restart the node to load it"
                ),
            });
        }
    }
    ensure_registered(ctx).await
}

/// Periodic duties at chain time `now`: leave an expired jail, collect ETH earnings, claim
/// EAI block rewards (before the stake check, so claimed EAI can top the stake up).
pub async fn housekeeping(ctx: &Ctx, now: u64) -> Result<(), NodeError> {
    let c = &ctx.contracts;
    let info = c
        .gpu
        .nodeInfo(ctx.me)
        .call()
        .await
        .map_err(|e| NodeError::call("nodeInfo", &e))?;
    if info.jailed && now >= info.jailedUntil && ctx.config.auto_unjail {
        // After a decline (jailed with no jail time) the node stays out of the pools until
        // its compute queue has drained, so it is not drawn again while still behind.
        let waiting = ctx.metrics.queue_depth.load(Ordering::Relaxed);
        if waiting <= UNJAIL_QUEUE_DEPTH {
            let input = c.gpu.unjail().calldata().clone();
            ctx.send("leaving jail", c.deployment.gpu, input).await?;
            tracing::info!("unjailed");
        } else {
            tracing::info!(
                waiting,
                "staying out of the pools until the compute queue drains"
            );
        }
    }
    if ctx.config.withdraw_min_wei > 0 {
        let earnings = c
            .kernel
            .earningsOf(ctx.me)
            .call()
            .await
            .map_err(|e| NodeError::call("earningsOf", &e))?;
        if !earnings.is_zero() && earnings >= U256::from(ctx.config.withdraw_min_wei) {
            let input = c.kernel.withdraw().calldata().clone();
            ctx.send("withdrawing earnings", c.deployment.kernel, input)
                .await?;
            tracing::info!(eth = %earnings, "earnings withdrawn");
        }
    }
    if ctx.config.claim_min_eai > 0 {
        let pending = c
            .gpu
            .pendingRewards(ctx.me)
            .call()
            .await
            .map_err(|e| NodeError::call("pendingRewards", &e))?;
        let min = crate::standing::eai_wei(ctx.config.claim_min_eai);
        if !pending.is_zero() && pending >= min {
            let input = c.gpu.claimRewards().calldata().clone();
            ctx.send("claiming block rewards", c.deployment.gpu, input)
                .await?;
        }
    }
    Ok(())
}
