//! `aikernel verify <prompt-id>`: re-runs a settled prompt from chain data alone.

use std::path::{Path, PathBuf};

use alloy::primitives::U256;
use alloy::providers::{Provider, ProviderBuilder};
use anyhow::{Context as _, bail};
use clap::Args;

use aikernel_chain::Deployment;
use aikernel_node::NodeConfig;
use aikernel_node::contracts::Contracts;
use aikernel_node::models::StoreResolver;
use aikernel_node::verify::Verdict;

use crate::global::{GlobalArgs, parse_threads};
use crate::output::outln;

/// Arguments of `aikernel verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The settled prompt to check.
    prompt_id: U256,

    /// Cache of verified models and content-addressed data.
    #[arg(long)]
    cache_dir: Option<PathBuf>,

    /// Engine threads, 1 to 4 per core (never changes results).
    #[arg(long, default_value_t = 1, value_parser = parse_threads)]
    threads: usize,
}

/// Where and how to re-run a prompt: the chain, the deployment, the model cache, threads.
pub(crate) struct VerifySetup<'a> {
    /// JSON-RPC endpoint.
    pub(crate) rpc: &'a str,
    /// The deployment file.
    pub(crate) deployment: &'a Path,
    /// Cache of verified models and content (default: the node's).
    pub(crate) cache_dir: Option<&'a Path>,
    /// Engine threads.
    pub(crate) threads: usize,
    /// Progress bars on stderr.
    pub(crate) progress: bool,
}

/// Re-runs settled prompt `id` from chain data alone and compares its output with the settled
/// one (`aikernel verify`, and the explorer's re-verify button).
pub(crate) async fn verify_prompt(setup: &VerifySetup<'_>, id: U256) -> anyhow::Result<Verdict> {
    let deployment = Deployment::load(setup.deployment).with_context(|| {
        format!(
            "no deployment at {} (run `aikernel devnet` or pass --deployment)",
            setup.deployment.display()
        )
    })?;
    let url = setup
        .rpc
        .parse()
        .with_context(|| format!("--rpc {} is not a URL", setup.rpc))?;
    let mut config = NodeConfig {
        rpc_url: setup.rpc.to_owned(),
        deployment: setup.deployment.to_path_buf(),
        threads: Some(setup.threads),
        progress: setup.progress,
        ..NodeConfig::default()
    };
    if let Some(dir) = setup.cache_dir {
        config.cache_dir = dir.to_path_buf();
    }
    let provider = ProviderBuilder::new().connect_http(url).erased();
    let contracts = Contracts::new(provider, deployment);
    contracts.check().await?;
    let resolver = StoreResolver::open(&config)?;
    Ok(aikernel_node::verify::verify(&contracts, &config, &resolver, id).await?)
}

/// Re-runs the prompt and compares; exits non-zero when the settled output is not honest.
pub(crate) fn run(args: &VerifyArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let setup = VerifySetup {
        rpc: &global.rpc,
        deployment: &global.deployment,
        cache_dir: args.cache_dir.as_deref(),
        threads: args.threads,
        progress: !global.quiet && !global.json,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let verdict = runtime.block_on(verify_prompt(&setup, args.prompt_id))?;
    if global.json {
        outln!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        outln!("prompt {} (model {})", verdict.prompt_id, verdict.model_id);
        outln!("  context entries rebuilt  {}", verdict.context_entries);
        outln!("  tokens generated         {}", verdict.tokens);
        outln!("  settled output hash      {}", verdict.settled_hash);
        outln!("  recomputed output hash   {}", verdict.recomputed_hash);
        if verdict.honest {
            outln!(
                "  verdict                  HONEST: the settled output is what this machine computes"
            );
        } else {
            outln!(
                "  verdict                  MISMATCH: the settled output is not what this machine computes"
            );
        }
    }
    if !verdict.honest {
        bail!(
            "prompt {}: settled output differs from the recomputed one",
            verdict.prompt_id
        );
    }
    Ok(())
}
