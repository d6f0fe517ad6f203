//! `aikernel node run`: the compute node daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use aikernel_node::{Byzantine, NodeConfig};

use crate::global::GlobalArgs;

/// `aikernel node ...`
#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Run a compute node: register and stake if needed, then compute, commit and reveal
    /// every prompt assigned to it until Ctrl-C or SIGTERM.
    Run(NodeRunArgs),
}

/// Flags of `aikernel node run`; each overrides the config file's value.
#[derive(Debug, Args)]
pub(crate) struct NodeRunArgs {
    /// TOML config file (see docs/node.md); flags override its values.
    #[arg(long, short)]
    config: Option<PathBuf>,

    /// File with the operator's hex private key (else the key_env variable, AIKERNEL_NODE_KEY).
    #[arg(long)]
    key_file: Option<PathBuf>,

    /// Folder for the node's jobs, outputs and event checkpoint.
    #[arg(long)]
    data_dir: Option<PathBuf>,

    /// Shared cache of verified models and content-addressed data.
    #[arg(long)]
    cache_dir: Option<PathBuf>,

    /// Engine threads per computation (never changes results).
    #[arg(long)]
    threads: Option<usize>,

    /// Model ids to serve, comma-separated.
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<u64>>,

    /// EAI staked on first registration (whole tokens).
    #[arg(long)]
    stake_eai: Option<u64>,

    /// Serve Prometheus /metrics and /health here (e.g. 127.0.0.1:9101).
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,

    /// No download progress bars.
    #[arg(long)]
    no_progress: bool,

    /// Test-only misbehaviour: lie, copy or silent. The network slashes such nodes.
    #[arg(long, hide = true)]
    byzantine: Option<Byzantine>,

    /// Test-only: sleep this many seconds after each mined commit.
    #[arg(long, hide = true)]
    pause_after_commit: Option<u64>,
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
            c.threads = v;
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
        if self.byzantine.is_some() {
            c.byzantine = self.byzantine;
        }
        if let Some(v) = self.pause_after_commit {
            c.pause_after_commit_s = v;
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
            runtime.block_on(aikernel_node::run(config, super::shutdown_signal()))?;
            Ok(())
        }
    }
}
