//! `aikernel deploy`: deploys the kernel to any EVM chain by RPC URL and key.

use alloy::{primitives::Address, providers::ProviderBuilder};
use anyhow::{Context as _, bail};
use clap::Args;

use aikernel_chain::{DeployConfig, Deployment, deploy_kernel};

use crate::global::GlobalArgs;
use crate::keys::KeyArgs;
use crate::output::print_json;

/// Arguments of `aikernel deploy`.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// The deployer, who becomes the kernel's admin.
    #[command(flatten)]
    key: KeyArgs,

    /// Treasury for protocol fees and penalties (defaults to the deployer).
    #[arg(long)]
    treasury: Option<Address>,

    /// Replace an existing deployment file (its kernel stays on its chain, but the CLI and
    /// nodes that read the file lose track of it).
    #[arg(long)]
    force: bool,
}

/// Deploys, wires and writes the deployment file named by `--deployment`.
pub(crate) fn run(args: &DeployArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    refuse_overwrite(&global.deployment, args.force)?;
    let signer = args.key.required()?;
    let admin = signer.address();
    let url = global
        .rpc
        .parse()
        .with_context(|| format!("--rpc {} is not a URL", global.rpc))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let deployment = runtime.block_on(async {
        let provider = ProviderBuilder::new().wallet(signer).connect_http(url);
        let config = DeployConfig::with_treasury(args.treasury.unwrap_or(admin));
        deploy_kernel(provider, admin, &config).await
    })?;
    deployment.save(&global.deployment)?;
    if global.json {
        print_json(&serde_json::to_value(&deployment)?)?;
    } else {
        super::print_deployment(&deployment, &global.deployment);
    }
    Ok(())
}

/// An existing deployment file is another kernel's record: replaced only with `--force`.
fn refuse_overwrite(file: &std::path::Path, force: bool) -> anyhow::Result<()> {
    if force || !file.exists() {
        return Ok(());
    }
    let what = match Deployment::load(file) {
        Ok(d) => format!("the kernel {} on chain {}", d.kernel, d.chain_id),
        Err(_) => "a deployment".to_owned(),
    };
    bail!(
        "{} already records {what}: pass --force to replace it, or --deployment PATH to write \
         another file",
        file.display()
    )
}
