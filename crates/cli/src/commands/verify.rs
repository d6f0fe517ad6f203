//! `aikernel verify <prompt-id>`: re-runs a settled prompt from chain data alone.

use std::path::PathBuf;

use alloy::primitives::U256;
use alloy::providers::{Provider, ProviderBuilder};
use anyhow::{Context as _, bail};
use clap::Args;

use aikernel_chain::Deployment;
use aikernel_node::NodeConfig;
use aikernel_node::contracts::Contracts;
use aikernel_node::models::StoreResolver;

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

/// Re-runs the prompt and compares; exits non-zero when the settled output is not honest.
pub(crate) fn run(args: &VerifyArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let deployment = Deployment::load(&global.deployment).with_context(|| {
        format!(
            "no deployment at {} (run `aikernel devnet` or pass --deployment)",
            global.deployment.display()
        )
    })?;
    let url = global
        .rpc
        .parse()
        .with_context(|| format!("--rpc {} is not a URL", global.rpc))?;
    let mut config = NodeConfig {
        rpc_url: global.rpc.clone(),
        deployment: global.deployment.clone(),
        threads: args.threads,
        progress: !global.quiet && !global.json,
        ..NodeConfig::default()
    };
    if let Some(dir) = &args.cache_dir {
        config.cache_dir.clone_from(dir);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let verdict = runtime.block_on(async {
        let provider = ProviderBuilder::new().connect_http(url).erased();
        let contracts = Contracts::new(provider, deployment);
        contracts.check().await?;
        let resolver = StoreResolver::open(&config)?;
        aikernel_node::verify::verify(&contracts, &config, &resolver, args.prompt_id).await
    })?;
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
