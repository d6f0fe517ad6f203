//! `aikernel node run`: startup checks, registration, then the work loop.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use tokio::task::JoinSet;

use aikernel_chain::Deployment;
use aikernel_chain::bindings::GPUManagement;

use crate::NodeError;
use crate::config::NodeConfig;
use crate::context::DataResolver;
use crate::context_log::ContextLogs;
use crate::contracts::Contracts;
use crate::follow::Follower;
use crate::jobs::{Job, Store, priority};
use crate::metrics::{self, Metrics};
use crate::models::{self, StoreResolver};
use crate::protocol;
use crate::tx::{TxSender, TxSettings};
use crate::worker::Worker;

/// Everything the node's tasks share.
#[derive(Debug)]
pub struct Ctx {
    /// The config.
    pub config: NodeConfig,
    /// This node's address.
    pub me: Address,
    /// The salt secret derived from the key.
    pub secret: B256,
    /// The kernel contracts.
    pub contracts: Contracts,
    /// The transaction sender.
    pub tx: TxSender,
    /// Durable state.
    pub store: Store,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The compute thread.
    pub worker: Worker,
    /// Off-chain data.
    pub resolver: Arc<dyn DataResolver>,
    /// Context-chain entries already read from the logs.
    pub context_logs: ContextLogs,
    /// (prompt, round) pairs already announced as assigned to this node.
    pub announced: std::sync::Mutex<HashSet<(U256, u8)>>,
}

impl std::fmt::Debug for dyn DataResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataResolver")
    }
}

impl Ctx {
    /// Sends a call to one of the kernel contracts.
    pub async fn send(
        &self,
        what: &str,
        to: Address,
        input: alloy::primitives::Bytes,
    ) -> Result<alloy::rpc::types::TransactionReceipt, NodeError> {
        self.send_with_floor(what, to, input, 0).await
    }

    /// Like [`Ctx::send`], with at least `min_gas` as the gas limit.
    pub async fn send_with_floor(
        &self,
        what: &str,
        to: Address,
        input: alloy::primitives::Bytes,
        min_gas: u64,
    ) -> Result<alloy::rpc::types::TransactionReceipt, NodeError> {
        let mut request = TransactionRequest::default().with_to(to).with_input(input);
        if min_gas > 0 {
            request = request.with_gas_limit(min_gas);
        }
        match self.tx.send(what, request).await {
            Ok(receipt) => Ok(receipt),
            Err(e) => {
                Metrics::inc(&self.metrics.tx_failures);
                Err(e.into())
            }
        }
    }
}

/// Runs the node until `shutdown` completes; returns an error for anything the operator
/// must fix (wrong chain, no stake, model refused).
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let signer = crate::keys::load_signer(&config)?;
    let ctx = Arc::new(start(config, signer).await?);
    let mut follower = Follower::open(&ctx)?;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut running: JoinSet<(Job, Result<Step, NodeError>)> = JoinSet::new();
    let mut busy: HashSet<U256> = HashSet::new();
    // Which prompt each running step belongs to, so a step that panics frees its prompt.
    let mut step_of: HashMap<tokio::task::Id, U256> = HashMap::new();
    let mut computing: Option<U256> = None;
    let mut compute_task: JoinSet<(U256, Result<(), NodeError>)> = JoinSet::new();
    let mut want_compute: HashMap<U256, Job> = HashMap::new();
    let mut last_housekeeping = tokio::time::Instant::now() - Duration::from_hours(1);
    let poll = Duration::from_millis(ctx.config.poll_interval_ms);
    tracing::info!(node = %ctx.me, "following the kernel");
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(poll) => {}
        }
        let head = match follower.tick(&ctx).await {
            Ok(head) => head,
            Err(e) => {
                tracing::warn!(error = %e, "poll failed; retrying");
                continue;
            }
        };
        ctx.metrics
            .last_poll_unix
            .store(metrics::unix_now(), Ordering::Relaxed);
        while let Some(done) = running.try_join_next_with_id() {
            let (task, job, step) = match done {
                Ok((task, (job, step))) => (task, job, step),
                Err(e) => {
                    if let Some(id) = step_of.remove(&e.id()) {
                        busy.remove(&id);
                        tracing::error!(prompt = %id, error = %e, "prompt step panicked; will retry");
                    }
                    continue;
                }
            };
            let Some(id) = step_of.remove(&task) else {
                continue;
            };
            busy.remove(&id);
            match step {
                Ok(Step::Done) if follower.job(id) == Some(&job) => {
                    if let Err(e) = follower.remove(&ctx, id) {
                        tracing::warn!(prompt = %id, error = %e, "could not forget the job");
                    }
                }
                Ok(Step::NeedCompute) => {
                    if let Some(job) = follower.job(id) {
                        want_compute.insert(id, job.clone());
                    }
                }
                // Done for a job that changed meanwhile (a new round's draw): another look.
                Ok(Step::Done | Step::Wait) => {}
                Err(e) if e.is_transient() => {
                    tracing::warn!(prompt = %id, error = %e, "will retry");
                }
                Err(e) => tracing::error!(prompt = %id, error = %e, "prompt step failed"),
            }
        }
        while let Some(done) = compute_task.try_join_next() {
            match (done, computing.take()) {
                (Ok((id, Err(e))), _) => {
                    tracing::error!(prompt = %id, error = %e, "computation failed; not committing");
                }
                (Err(e), Some(id)) => {
                    tracing::error!(prompt = %id, error = %e, "computation panicked; not committing");
                }
                _ => {}
            }
        }
        for id in follower.finished_jobs() {
            want_compute.remove(&id);
        }
        for job in follower.jobs() {
            let id = job.id;
            if busy.insert(id) {
                let ctx = Arc::clone(&ctx);
                let job = job.clone();
                let task = running.spawn(async move {
                    let step = crate::duty::advance(&ctx, &job, head).await;
                    (job, step)
                });
                step_of.insert(task.id(), id);
            }
        }
        ctx.metrics
            .queue_depth
            .store(want_compute.len() as u64, Ordering::Relaxed);
        if computing.is_none()
            && let Some(job) = want_compute.values().max_by_key(|j| priority(j)).cloned()
        {
            want_compute.remove(&job.id);
            computing = Some(job.id);
            let ctx = Arc::clone(&ctx);
            compute_task.spawn(async move { (job.id, crate::duty::compute(&ctx, &job).await) });
        }
        if last_housekeeping.elapsed() > Duration::from_secs(30) {
            last_housekeeping = tokio::time::Instant::now();
            if let Err(e) = housekeeping(&ctx, head.timestamp).await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
        }
    }
    tracing::info!("shutting down");
    Ok(())
}

/// What a job needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The prompt is final (or gone): forget the job.
    Done,
    /// The output must be computed before committing.
    NeedCompute,
    /// Nothing to do until a later block.
    Wait,
}

/// Checks the chain, loads the models, registers and stakes if needed.
pub async fn start(config: NodeConfig, signer: PrivateKeySigner) -> Result<Ctx, NodeError> {
    let deployment = Deployment::load(&config.deployment).map_err(|e| {
        NodeError::Misconfigured(format!(
            "{e} (run `aikernel devnet` or `aikernel deploy`, or set deployment in the config)"
        ))
    })?;
    let url = config.rpc_url.parse().map_err(|_| {
        NodeError::Misconfigured(format!("rpc_url {:?} is not a URL", config.rpc_url))
    })?;
    let me = signer.address();
    let secret = protocol::salt_secret(&signer);
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_chain_id(deployment.chain_id)
        .wallet(EthereumWallet::from(signer))
        .connect_http(url)
        .erased();
    let contracts = Contracts::new(provider.clone(), deployment);
    contracts.check().await.map_err(|e| match e {
        NodeError::Rpc { message, .. } => NodeError::Misconfigured(format!(
            "cannot reach the chain at {}: {message}",
            config.rpc_url
        )),
        other => other,
    })?;
    let balance = provider
        .get_balance(me)
        .await
        .map_err(|e| NodeError::rpc("reading the node's balance", &e))?;
    if balance.is_zero() {
        return Err(NodeError::Misconfigured(format!(
            "node {me} has no ETH for gas on chain {}",
            contracts.deployment.chain_id
        )));
    }
    let store = Store::open(&config.data_dir)?;
    let drivers = Arc::new(models::load(&contracts, &config).await?);
    let resolver: Arc<dyn DataResolver> = Arc::new(StoreResolver::open(&config)?);
    let settings = TxSettings {
        gas_margin_percent: config.gas_margin_percent,
        replace_after: Duration::from_secs(config.tx_replace_after_s.max(1)),
        max_fee_wei: u128::from(config.max_fee_gwei) * 1_000_000_000,
        poll: Duration::from_millis(config.poll_interval_ms.min(1000)),
        retry_budget: Duration::from_mins(2),
    };
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = config.metrics_addr {
        let bound = metrics::serve(addr, Arc::clone(&metrics)).await?;
        tracing::info!(%bound, "metrics on /metrics, health on /health");
    }
    let ctx = Ctx {
        tx: TxSender::new(provider, me, settings),
        worker: Worker::start(drivers)?,
        config,
        me,
        secret,
        contracts,
        store,
        metrics,
        resolver,
        context_logs: ContextLogs::new(),
        announced: std::sync::Mutex::new(HashSet::new()),
    };
    ensure_registered(&ctx).await?;
    if let Some(mode) = ctx.config.byzantine {
        tracing::warn!(
            ?mode,
            "BYZANTINE TEST MODE: this node misbehaves on purpose and will be slashed"
        );
    }
    Ok(ctx)
}

/// Registers and stakes on first start; afterwards keeps the served models in sync.
async fn ensure_registered(ctx: &Ctx) -> Result<(), NodeError> {
    let c = &ctx.contracts;
    let models: Vec<U256> = ctx.config.models.iter().map(|&m| U256::from(m)).collect();
    let registered = c
        .gpu
        .isRegistered(ctx.me)
        .call()
        .await
        .map_err(|e| NodeError::call("isRegistered", &e))?;
    if !registered {
        let stake = U256::from(ctx.config.stake_eai) * U256::from(10u64).pow(U256::from(18u8));
        let held = c
            .eai
            .balanceOf(ctx.me)
            .call()
            .await
            .map_err(|e| NodeError::call("EAI.balanceOf", &e))?;
        if held < stake {
            return Err(NodeError::Misconfigured(format!(
                "node {} holds {held} EAI wei but stake_eai = {} needs {stake}: get EAI from the genesis holder first",
                ctx.me, ctx.config.stake_eai
            )));
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
        let hw = crate::hardware::detect();
        tracing::info!(device = %hw.device_model, memory_mib = hw.memory_mib, ?models, %stake, "registering");
        let hardware = GPUManagement::Hardware {
            deviceModel: hw.device_model,
            memoryMiB: hw.memory_mib,
            deviceCount: hw.device_count,
        };
        let input = c.gpu.register(hardware, models, stake).calldata().clone();
        ctx.send("registering the node", c.deployment.gpu, input)
            .await?;
        tracing::info!(node = %ctx.me, "registered and staked");
        return Ok(());
    }
    let info = c
        .gpu
        .nodeInfo(ctx.me)
        .call()
        .await
        .map_err(|e| NodeError::call("nodeInfo", &e))?;
    if info.status == 3 {
        return Err(NodeError::Misconfigured(format!(
            "node {} is unregistering (exiting): it can no longer serve",
            ctx.me
        )));
    }
    if info.status == 2 {
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

/// Periodic duties: leave an expired jail, collect ETH earnings, claim EAI block rewards.
async fn housekeeping(ctx: &Ctx, now: u64) -> Result<(), NodeError> {
    let c = &ctx.contracts;
    let info = c
        .gpu
        .nodeInfo(ctx.me)
        .call()
        .await
        .map_err(|e| NodeError::call("nodeInfo", &e))?;
    if info.jailed && now >= info.jailedUntil && ctx.config.auto_unjail {
        let input = c.gpu.unjail().calldata().clone();
        ctx.send("leaving jail", c.deployment.gpu, input).await?;
        tracing::info!("unjailed");
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
        let min = U256::from(ctx.config.claim_min_eai) * U256::from(10u64).pow(U256::from(18u8));
        if !pending.is_zero() && pending >= min {
            let input = c.gpu.claimRewards().calldata().clone();
            ctx.send("claiming block rewards", c.deployment.gpu, input)
                .await?;
        }
    }
    Ok(())
}
