//! `aikernel node run`: startup checks, registration, then the work loop.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;

use aikernel_chain::Deployment;

use crate::NodeError;
use crate::config::NodeConfig;
use crate::context::DataResolver;
use crate::context_log::ContextLogs;
use crate::contracts::Contracts;
use crate::jobs::Store;
use crate::metrics::{self, Metrics};
use crate::models::{self, StoreResolver};
use crate::protocol;
use crate::stake;
use crate::tx::{TxSender, TxSettings};
use crate::upkeep;
use crate::work::WorkLoop;
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
    /// Calls the kernel rejected for good (never estimated or sent again).
    pub rejections: crate::rejections::Rejections,
    /// Set when the chain changed this node's standing (a slash, a jail): check the stake
    /// at the next tick instead of waiting for the periodic check.
    pub stake_check_due: AtomicBool,
    /// Content roots of the loaded models (a replaced chain must register the same files).
    pub model_roots: HashMap<u64, B256>,
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
                // A revert is the kernel's answer, not a failed transaction: the prompt's duty
                // counts it once (`tx_rejected`).
                if e.revert_reason().is_none() {
                    Metrics::inc(&self.metrics.tx_failures);
                }
                Err(e.into())
            }
        }
    }
}

/// Runs the node until `shutdown` completes; returns an error for anything the operator
/// must fix (wrong chain, no stake, model refused).
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let signer = crate::keys::load_signer(&config)?;
    run_as(config, signer, shutdown).await
}

/// [`run`] with a signer the caller already holds (`aikernel node run --key`).
pub async fn run_as(
    config: NodeConfig,
    signer: PrivateKeySigner,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let ctx = Arc::new(start(config, signer).await?);
    let mut work = WorkLoop::open(&ctx).await?;
    let mut shutdown = std::pin::pin!(shutdown);
    let poll = Duration::from_millis(ctx.config.poll_interval_ms);
    tracing::info!(node = %ctx.me, "following the kernel");
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(poll) => {}
        }
        match work.follower.tick(&ctx).await {
            Ok(head) => work.round(&ctx, head).await?,
            Err(e) => tracing::warn!(error = %e, "poll failed; retrying"),
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
pub async fn start(mut config: NodeConfig, signer: PrivateKeySigner) -> Result<Ctx, NodeError> {
    let me = signer.address();
    let secret = protocol::salt_secret(&signer);
    let (provider, contracts) = connect(&config, signer).await?;
    require_gas(&provider, me, contracts.deployment.chain_id).await?;
    let store = Store::open(&config.data_dir)?;
    let drivers = Arc::new(models::load(&contracts, &config).await?);
    // Serve (and register for) only what loaded.
    config.models.retain(|id| drivers.contains_key(id));
    let model_roots = upkeep::model_roots(&contracts, &config.models).await?;
    let resolver: Arc<dyn DataResolver> = Arc::new(StoreResolver::open(&config)?);
    let metrics = serve_metrics(&config).await?;
    let ctx = Ctx {
        tx: TxSender::new(provider, me, tx_settings(&config)),
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
        rejections: crate::rejections::Rejections::default(),
        stake_check_due: AtomicBool::new(false),
        model_roots,
    };
    upkeep::ensure_registered(&ctx).await?;
    let now = chain_now(&ctx.contracts).await?;
    if let Err(e) = stake::maintain(&ctx, now).await {
        tracing::warn!(error = %e, "checking the stake failed");
    }
    #[cfg(feature = "test-hooks")]
    if let Some(mode) = ctx.config.byzantine {
        tracing::warn!(
            ?mode,
            "BYZANTINE TEST MODE: this node misbehaves on purpose and will be slashed"
        );
    }
    summary(&ctx).await;
    Ok(ctx)
}

/// The signing provider for the configured chain and the deployment's contracts, checked:
/// the chain answers and holds the deployment's kernel.
async fn connect(
    config: &NodeConfig,
    signer: PrivateKeySigner,
) -> Result<(DynProvider, Contracts), NodeError> {
    let deployment = Deployment::load(&config.deployment).map_err(|e| {
        NodeError::Misconfigured(format!(
            "{e} (run `aikernel devnet` or `aikernel deploy`, or set deployment in the config)"
        ))
    })?;
    let url = config.rpc_url.parse().map_err(|_| {
        NodeError::Misconfigured(format!("rpc_url {:?} is not a URL", config.rpc_url))
    })?;
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
    Ok((provider, contracts))
}

/// Refuses to start a node without ETH for gas.
async fn require_gas(provider: &DynProvider, me: Address, chain_id: u64) -> Result<(), NodeError> {
    let balance = provider
        .get_balance(me)
        .await
        .map_err(|e| NodeError::rpc("reading the node's balance", &e))?;
    if balance.is_zero() {
        return Err(NodeError::Misconfigured(format!(
            "node {me} has no ETH for gas on chain {chain_id}"
        )));
    }
    Ok(())
}

/// The transaction sender's settings from the config.
fn tx_settings(config: &NodeConfig) -> TxSettings {
    TxSettings {
        gas_margin_percent: config.gas_margin_percent,
        replace_after: Duration::from_secs(config.tx_replace_after_s.max(1)),
        max_fee_wei: u128::from(config.max_fee_gwei) * 1_000_000_000,
        poll: Duration::from_millis(config.poll_interval_ms.min(1000)),
        retry_budget: Duration::from_mins(2),
    }
}

/// The node's metrics, served on `metrics_addr` when it is set.
async fn serve_metrics(config: &NodeConfig) -> Result<Arc<Metrics>, NodeError> {
    let metrics = Arc::new(Metrics::default());
    metrics
        .chain_clock_tolerance_s
        .store(config.chain_clock_tolerance_s, Ordering::Relaxed);
    if let Some(addr) = config.metrics_addr {
        let bound = crate::http::serve(addr, Arc::clone(&metrics)).await?;
        tracing::info!(%bound, "metrics on /metrics, health on /health");
    }
    Ok(metrics)
}

/// The latest block's timestamp (the wall clock when the chain has no block).
async fn chain_now(contracts: &Contracts) -> Result<u64, NodeError> {
    Ok(contracts
        .provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(|e| NodeError::rpc("reading the latest block", &e))?
        .map_or_else(metrics::unix_now, |b| b.header.timestamp))
}

/// One startup line an operator sees at the default log level: who, where, what it serves,
/// with what stake, where its data and metrics are.
async fn summary(ctx: &Ctx) {
    let d = &ctx.contracts.deployment;
    let stake = match ctx.contracts.gpu.nodeInfo(ctx.me).call().await {
        Ok(info) => format!(
            "{} EAI staked (target {} EAI){}",
            crate::standing::eai(U256::from(info.stake)),
            ctx.config.stake_eai,
            if info.pooled {
                ", eligible"
            } else {
                ", NOT eligible (see the warnings)"
            }
        ),
        Err(e) => format!("stake unknown ({})", NodeError::call("nodeInfo", &e)),
    };
    let metrics = ctx
        .config
        .metrics_addr
        .map_or_else(|| "off".to_owned(), |a| format!("http://{a}/metrics"));
    tracing::info!(
        target: crate::SUMMARY_TARGET,
        "aikernel node {} on chain {} ({}), kernel {}; serving models {:?} with {} threads; {}; data {}; metrics {}",
        ctx.me,
        d.chain_id,
        ctx.config.rpc_url,
        d.kernel,
        ctx.config.models,
        ctx.config.thread_count(),
        stake,
        ctx.config.data_dir.display(),
        metrics
    );
}
