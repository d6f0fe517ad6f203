//! `aikernel deploy`: deploys the kernel to any EVM chain by RPC URL and key.

use alloy::{primitives::Address, providers::ProviderBuilder, signers::local::PrivateKeySigner};
use anyhow::Context as _;
use clap::Args;

use aikernel_chain::{DeployConfig, deploy_kernel};

use crate::global::GlobalArgs;
use crate::output::outln;

/// Arguments of `aikernel deploy`.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// Hex private key of the deployer, who becomes the kernel's admin.
    #[arg(long, env = "AIKERNEL_PRIVATE_KEY", hide_env_values = true)]
    private_key: String,

    /// Treasury for protocol fees and penalties (defaults to the deployer).
    #[arg(long)]
    treasury: Option<Address>,
}

/// Deploys, wires and writes the deployment file named by `--deployment`.
pub(crate) fn run(args: &DeployArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let signer: PrivateKeySigner = args
        .private_key
        .parse()
        .context("--private-key is not a valid hex private key")?;
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
        outln!("{}", serde_json::to_string_pretty(&deployment)?);
    } else {
        super::print_deployment(&deployment, &global.deployment);
    }
    Ok(())
}
