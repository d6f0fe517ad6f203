//! `aikernel node run`: the compute node daemon; `aikernel node status`: one node's standing
//! (registration, stake against the minimum and the target, jail, unbonding, eligibility per
//! model and why not, rewards, earnings, EAI balance).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alloy::primitives::{Address, U256};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;

use aikernel_chain::bindings::{DecentralizedInference, GPUManagement};
use aikernel_node::NodeConfig;
use aikernel_node::contracts::Contracts;
use aikernel_node::standing::{self, Reason, Standing, eai};

use super::stake::{NodeKey, chain_time, duration, unbonding};
use crate::global::GlobalArgs;
use crate::output::{eth, out, print_json};
use crate::rpc::{self, explain};

/// `aikernel node ...`
#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Run a compute node: register and stake if needed, then compute, commit and reveal
    /// every prompt assigned to it until Ctrl-C or SIGTERM.
    Run(NodeRunArgs),
    /// One node's standing: registered, stake vs minimum vs target, jail, pause, unbonding,
    /// eligibility for each served model (and why not), rewards, earnings, EAI balance.
    Status(NodeStatusArgs),
    /// Write a commented node config (every key at its default) to start from.
    Init(NodeInitArgs),
}

/// Arguments of `aikernel node init`.
#[derive(Debug, Args)]
pub(crate) struct NodeInitArgs {
    /// Where to write the config.
    #[arg(default_value = "node.toml")]
    path: PathBuf,

    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

/// Arguments of `aikernel node status`.
#[derive(Debug, Args)]
pub(crate) struct NodeStatusArgs {
    /// The node's address (default: the address of --key-file / --key, else of the config's
    /// key).
    address: Option<Address>,

    #[command(flatten)]
    key: NodeKey,

    /// The node's config file: its stake_eai is the target, its models the ones checked.
    #[arg(long, short)]
    config: Option<PathBuf>,

    /// Target stake in whole EAI (default: the config's stake_eai, else 1500).
    #[arg(long)]
    stake_eai: Option<u64>,
}

/// Flags of `aikernel node run`; each overrides the config file's value.
#[derive(Debug, Args)]
pub(crate) struct NodeRunArgs {
    /// TOML config file (see docs/node.md); flags override its values.
    #[arg(long, short)]
    config: Option<PathBuf>,

    /// Hex private key of the node's account, as every signing command takes it (a key file
    /// is safer for a daemon: the value shows in the process list).
    #[arg(long, env = "AIKERNEL_KEY", hide_env_values = true)]
    key: Option<String>,

    /// File with the operator's hex private key; wins over --key (else the config's key_file,
    /// else the key_env variable, AIKERNEL_NODE_KEY).
    #[arg(long)]
    key_file: Option<PathBuf>,

    /// Folder for the node's jobs, outputs and event checkpoint.
    #[arg(long)]
    data_dir: Option<PathBuf>,

    /// Shared cache of verified models and content-addressed data.
    #[arg(long)]
    cache_dir: Option<PathBuf>,

    /// Engine threads per computation, also hashing and sampling a batch (never changes
    /// results; default: 1 on cpu, every core on cuda).
    #[arg(long)]
    threads: Option<usize>,

    /// MiB of recent prompts' key/value caches kept per model (never changes results; 0: off).
    #[arg(long)]
    prefix_cache_mib: Option<u64>,

    /// Most prompts of one model computed together (never changes results; default: 4 on
    /// cpu, 32 on cuda).
    #[arg(long)]
    max_batch: Option<usize>,

    /// Model ids to serve, comma-separated.
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<u64>>,

    /// Target stake in whole EAI: staked at registration, topped up from the node's EAI
    /// balance whenever the stake falls below it.
    #[arg(long)]
    stake_eai: Option<u64>,

    /// Serve Prometheus /metrics and /health here (e.g. 127.0.0.1:9101).
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,

    /// No download progress bars.
    #[arg(long)]
    no_progress: bool,

    #[command(flatten)]
    #[cfg(feature = "test-hooks")]
    hooks: TestHooks,
}

/// Test-only flags of `aikernel node run`, only in builds with the `test-hooks` feature (the
/// node tests'); the operator's binary does not have them.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Args)]
pub(crate) struct TestHooks {
    /// Test-only misbehaviour: lie, copy or silent. The network slashes such nodes.
    #[arg(long)]
    byzantine: Option<aikernel_node::Byzantine>,

    /// Test-only: sleep this many seconds after each mined commit.
    #[arg(long)]
    pause_after_commit: Option<u64>,

    /// Test-only: compute as a GPU node (`device = "cuda"`) with the host build of the CUDA
    /// kernels standing in for the GPU.
    #[arg(long)]
    gpu_stand_in: bool,
}

impl NodeRunArgs {
    /// The config file (or defaults) with every given flag applied.
    fn config(&self, global: &GlobalArgs) -> anyhow::Result<NodeConfig> {
        let mut c = match &self.config {
            Some(path) => NodeConfig::from_file(path)?,
            None => NodeConfig::default(),
        };
        // The global --rpc/--deployment win over the file only when set away from their defaults.
        if self.config.is_none() || global.rpc != "http://127.0.0.1:8545" {
            c.rpc_url.clone_from(&global.rpc);
        }
        if self.config.is_none() || global.deployment != Path::new(".aikernel/deployment.json") {
            c.deployment.clone_from(&global.deployment);
        }
        if let Some(v) = &self.key_file {
            c.key_file = Some(v.clone());
        }
        if let Some(v) = &self.data_dir {
            c.data_dir.clone_from(v);
        }
        if let Some(v) = &self.cache_dir {
            c.cache_dir.clone_from(v);
        }
        if let Some(v) = self.threads {
            c.threads = Some(v);
        }
        if let Some(v) = self.prefix_cache_mib {
            c.prefix_cache_mib = v;
        }
        if self.max_batch.is_some() {
            c.max_batch = self.max_batch;
        }
        if let Some(v) = &self.models {
            c.models.clone_from(v);
        }
        if let Some(v) = self.stake_eai {
            c.stake_eai = v;
        }
        if self.metrics_addr.is_some() {
            c.metrics_addr = self.metrics_addr;
        }
        if self.no_progress || global.quiet || global.json {
            c.progress = false;
        }
        #[cfg(feature = "test-hooks")]
        {
            if self.hooks.byzantine.is_some() {
                c.byzantine = self.hooks.byzantine;
            }
            if let Some(v) = self.hooks.pause_after_commit {
                c.pause_after_commit_s = v;
            }
            if self.hooks.gpu_stand_in {
                c.device = aikernel_node::config::Device::Cuda;
                c.gpu_stand_in = true;
            }
        }
        c.expand_home();
        c.check()
            .map_err(|reason| anyhow::anyhow!("invalid node settings: {reason}"))?;
        Ok(c)
    }
}

/// Runs the subcommand.
pub(crate) fn run(cmd: NodeCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Run(args) => {
            let config = args.config(global)?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            match args.key.as_deref().filter(|_| args.key_file.is_none()) {
                Some(key) => {
                    let signer = aikernel_node::keys::parse(key)
                        .map_err(|e| anyhow::anyhow!("--key / AIKERNEL_KEY: {e}"))?;
                    runtime.block_on(aikernel_node::run_as(
                        config,
                        signer,
                        super::shutdown_signal(),
                    ))?;
                }
                None => runtime.block_on(aikernel_node::run(config, super::shutdown_signal()))?,
            }
            Ok(())
        }
        NodeCommand::Status(args) => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(status(&args, global))
        }
        NodeCommand::Init(args) => init(&args),
    }
}

/// Writes the commented config template; refuses to replace a file unless `--force`.
fn init(args: &NodeInitArgs) -> anyhow::Result<()> {
    if args.path.exists() && !args.force {
        anyhow::bail!("{} exists: pass --force to replace it", args.path.display());
    }
    crate::files::write_replacing(&args.path, |w| {
        use std::io::Write as _;
        w.write_all(aikernel_node::config::TEMPLATE.as_bytes())?;
        Ok(())
    })
    .with_context(|| format!("writing {}", args.path.display()))?;
    out!(
        "wrote {} (every key at its default); edit it, then: aikernel node run --config {}",
        args.path.display(),
        args.path.display()
    );
    Ok(())
}

/// What `node status` reads besides the standing.
struct Extra {
    pending_rewards: U256,
    earnings: U256,
    target_source: &'static str,
}

async fn status(args: &NodeStatusArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let config = args
        .config
        .as_deref()
        .map(NodeConfig::from_file)
        .transpose()?;
    let node = match (args.address, args.key.signer()?, &config) {
        (Some(address), _, _) => address,
        (None, Some(signer), _) => signer.address(),
        (None, None, Some(config)) => aikernel_node::keys::load_signer(config)?.address(),
        (None, None, None) => anyhow::bail!(
            "which node? pass its ADDRESS, --key-file PATH, --key HEX or --config node.toml"
        ),
    };
    let (target, target_source) = match (args.stake_eai, &config) {
        (Some(v), _) => (v, "flag"),
        (None, Some(c)) => (c.stake_eai, "config"),
        (None, None) => (aikernel_node::config::DEFAULT_STAKE_EAI, "default"),
    };
    let models = config
        .as_ref()
        .map(|c| c.models.clone())
        .unwrap_or_default();
    let kernel = rpc::connect(global, None).await?;
    let now = chain_time(&kernel).await?;
    let contracts = Contracts::new(kernel.provider.clone(), kernel.deployment.clone());
    let snapshot = standing::read(&contracts, node, &models, now)
        .await
        .with_context(|| format!("reading node {node}"))?;
    let standing = Standing::assess(snapshot, standing::eai_wei(target));
    let d = &kernel.deployment;
    let pending_rewards = GPUManagement::new(d.gpu, kernel.provider.clone())
        .pendingRewards(node)
        .call()
        .await
        .map_err(|e| explain("reading the block rewards", &e))?;
    let earnings = DecentralizedInference::new(d.kernel, kernel.provider.clone())
        .earningsOf(node)
        .call()
        .await
        .map_err(|e| explain("reading the earnings", &e))?;
    let extra = Extra {
        pending_rewards,
        earnings,
        target_source,
    };
    if global.json {
        return print_json(&status_json(&standing, &extra));
    }
    out!("{}", status_text(&standing, &extra));
    Ok(())
}

fn reasons_json(reasons: &[&Reason]) -> serde_json::Value {
    reasons
        .iter()
        .map(|r| json!({ "code": r.code(), "message": r.to_string() }))
        .collect()
}

fn status_json(s: &Standing, extra: &Extra) -> serde_json::Value {
    let n = &s.snapshot;
    let models: Vec<_> = n
        .pools
        .iter()
        .map(|p| {
            let why = s.reasons_for(p.model);
            json!({
                "id": p.model.to_string(),
                "eligible": why.is_empty(),
                "inPool": p.in_pool,
                "reasons": reasons_json(&why),
            })
        })
        .collect();
    let all: Vec<&Reason> = s.reasons.iter().collect();
    let plan = match &s.plan {
        standing::Plan::AtTarget => json!({ "action": "none" }),
        standing::Plan::TopUp(a) => json!({ "action": "topUp", "amount": a.to_string() }),
        standing::Plan::Cannot(why) => json!({ "action": "cannot", "reason": why.to_string() }),
    };
    json!({
        "address": n.node.to_string(),
        "registered": n.status != standing::NodeStatus::None,
        "status": n.status.name(),
        "stake": n.stake.to_string(),
        "minStake": n.min_stake.to_string(),
        "target": s.target.to_string(),
        "targetSource": extra.target_source,
        "jailed": n.jailed,
        "jailedUntil": n.jailed_until,
        "paused": n.status == standing::NodeStatus::Paused,
        "unbonding": n.unbonding.to_string(),
        "unbondingEnd": n.unbonding_end,
        "eligible": s.eligible(),
        "reasons": reasons_json(&all),
        "models": models,
        "stakePlan": plan,
        "pendingRewards": extra.pending_rewards.to_string(),
        "earnings": extra.earnings.to_string(),
        "balance": n.balance.to_string(),
        "chainTime": n.now,
    })
}

fn status_text(s: &Standing, extra: &Extra) -> String {
    use std::fmt::Write as _;
    let n = &s.snapshot;
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut out = String::new();
    let _ = writeln!(out, "node             {}", n.node);
    let _ = writeln!(
        out,
        "registered       {} ({})",
        yes(n.status != standing::NodeStatus::None),
        n.status.name()
    );
    let _ = writeln!(
        out,
        "stake            {} (minimum {}, target {} from {})",
        eai(n.stake),
        eai(n.min_stake),
        eai(s.target),
        extra.target_source
    );
    let jail = match (n.jailed, n.jailed_until > n.now) {
        (false, _) => "no".to_owned(),
        (true, true) => format!(
            "until {} (in {})",
            n.jailed_until,
            duration(n.jailed_until - n.now)
        ),
        (true, false) => format!("jail ended at {}: waiting for `unjail`", n.jailed_until),
    };
    let _ = writeln!(out, "jailed           {jail}");
    let _ = writeln!(
        out,
        "paused           {}",
        yes(n.status == standing::NodeStatus::Paused)
    );
    let _ = writeln!(
        out,
        "unbonding        {}",
        unbonding(n.unbonding, n.unbonding_end, n.now)
    );
    let eligible = if s.eligible() {
        "yes".to_owned()
    } else {
        format!("no: {}", s.why_not())
    };
    let _ = writeln!(out, "eligible         {eligible}");
    for p in &n.pools {
        let why: Vec<String> = s
            .reasons_for(p.model)
            .iter()
            .map(ToString::to_string)
            .collect();
        let line = if why.is_empty() {
            "eligible".to_owned()
        } else {
            format!("not eligible: {}", why.join("; "))
        };
        let _ = writeln!(out, "  model {:<10} {line}", p.model);
    }
    let plan = match &s.plan {
        standing::Plan::AtTarget => "at or above the target".to_owned(),
        standing::Plan::TopUp(a) => format!("a running node adds {} from its balance", eai(*a)),
        standing::Plan::Cannot(why) => why.to_string(),
    };
    let _ = writeln!(out, "top-up           {plan}");
    let _ = writeln!(out, "EAI balance      {}", eai(n.balance));
    let _ = writeln!(out, "pending rewards  {}", eai(extra.pending_rewards));
    let _ = writeln!(out, "earnings         {}", eth(extra.earnings));
    out
}
