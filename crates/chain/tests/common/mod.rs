//! A fresh anvil with the kernel deployed, for the chain crate's integration tests.
#![allow(dead_code, clippy::expect_used)] // each test crate uses what it needs

use aikernel_chain::{DeployConfig, Deployment, deploy_kernel, tools::foundry_bin};
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

/// A running anvil (stopped on drop) and the kernel deployed on it by account #0.
pub(crate) struct Deployed {
    pub(crate) anvil: AnvilInstance,
    /// Signs as account #0, the admin.
    pub(crate) provider: DynProvider,
    pub(crate) admin: Address,
    pub(crate) config: DeployConfig,
    pub(crate) deployment: Deployment,
}

/// Starts anvil and deploys the kernel with account #9 as the treasury.
pub(crate) async fn deployed() -> Deployed {
    let anvil = Anvil::new()
        .path(
            foundry_bin("anvil")
                .expect("anvil: set AIKERNEL_FOUNDRY_BIN or run ./scripts/setup.sh"),
        )
        .try_spawn()
        .expect("anvil must start: run ./scripts/setup.sh first");
    let signer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let admin = signer.address();
    let provider = ProviderBuilder::new()
        .wallet(signer)
        .connect_http(anvil.endpoint_url())
        .erased();
    let config = DeployConfig::with_treasury(anvil.addresses()[9]);
    let deployment = deploy_kernel(provider.clone(), admin, &config)
        .await
        .expect("deploys");
    Deployed {
        anvil,
        provider,
        admin,
        config,
        deployment,
    }
}
