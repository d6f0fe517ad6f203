//! Talking to a deployed kernel from the CLI: the deployment file, the RPC endpoint, the
//! signing key, event scans, and revert reasons decoded to the contracts' custom errors.

use std::{path::Path, time::Duration};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, Log},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use anyhow::{Context as _, bail};

use aikernel_chain::{CheckError, Deployment};

use crate::global::GlobalArgs;

/// Anvil's account #0, the devnet's deployer and admin (it holds every admin role and the
/// genesis EAI). Public knowledge: never use it on a real chain.
pub(crate) const DEVNET_ADMIN_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// Blocks per `eth_getLogs` request, below the limits public RPC providers apply.
const LOG_CHUNK: u64 = 10_000;

/// How long the first RPC request may take before the endpoint counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected kernel: the provider (with a wallet when a key was given) and its addresses.
pub(crate) struct Kernel {
    /// The provider; signs and sends when built with a key.
    pub(crate) provider: DynProvider,
    /// The kernel's contract addresses.
    pub(crate) deployment: Deployment,
}

/// Reads the deployment file, with a hint on how to get one when it is missing.
pub(crate) fn load_deployment(path: &Path) -> anyhow::Result<Deployment> {
    if !path.exists() {
        bail!(
            "no deployment file at {}: start a local chain with `aikernel devnet`, deploy with \
             `aikernel deploy`, or pass --deployment PATH (or set AIKERNEL_DEPLOYMENT)",
            path.display()
        );
    }
    Ok(Deployment::load(path)?)
}

/// Parses `--key` / `AIKERNEL_KEY`; explains where to get one when it is missing (commands
/// that take [`crate::keys::KeyArgs`] use its `required` instead).
pub(crate) fn signer(key: Option<&str>) -> anyhow::Result<PrivateKeySigner> {
    let Some(key) = key else {
        bail!(
            "this command sends a transaction: pass --key HEX or set AIKERNEL_KEY (on the devnet, \
             anvil account #0 is the admin: {DEVNET_ADMIN_KEY})"
        );
    };
    key.trim()
        .parse()
        .context("--key / AIKERNEL_KEY is not a valid hex private key")
}

/// Connects to `--rpc`, checks that the deployment file belongs to that chain, and that the
/// kernel's code is there (a restarted anvil loses it).
pub(crate) async fn connect(
    global: &GlobalArgs,
    signer: Option<PrivateKeySigner>,
) -> anyhow::Result<Kernel> {
    let deployment = load_deployment(&global.deployment)?;
    let url = global
        .rpc
        .parse()
        .with_context(|| format!("--rpc {} is not a URL", global.rpc))?;
    let provider = match signer {
        Some(s) => ProviderBuilder::new().wallet(s).connect_http(url).erased(),
        None => ProviderBuilder::new().connect_http(url).erased(),
    };
    let unreachable = || {
        format!(
            "cannot reach the chain at {} (is `aikernel devnet` running? pass --rpc URL)",
            global.rpc
        )
    };
    let checked = tokio::time::timeout(CONNECT_TIMEOUT, deployment.check(&provider))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {CONNECT_TIMEOUT:?}"))
        .with_context(unreachable)?;
    match checked {
        Ok(()) => {}
        Err(e @ CheckError::Rpc { .. }) => return Err(e).with_context(unreachable),
        Err(CheckError::WrongChain { served, expected }) => bail!(
            "deployment file {} is for chain {expected} but {} is chain {served}",
            global.deployment.display(),
            global.rpc
        ),
        Err(e @ CheckError::NoCode { .. }) => bail!(
            "{e} ({}): the deployment file {} is stale (was the devnet restarted? run \
             `aikernel devnet` again)",
            global.rpc,
            global.deployment.display()
        ),
    }
    Ok(Kernel {
        provider,
        deployment,
    })
}

pub(crate) use aikernel_chain::errors::decode_revert;

/// A contract error as a readable message: when it reverted with a kernel error, that error as
/// a sentence followed by its decoded form (`model 1 has 0 eligible nodes, committee of 3
/// requested (NotEnoughNodes(1, 0, 3))`).
pub(crate) fn explain(what: &str, err: &alloy::contract::Error) -> anyhow::Error {
    match err.as_revert_data() {
        Some(data) => match aikernel_chain::errors::explain_revert(&data) {
            Some(reason) => anyhow::anyhow!("{what}: {reason}"),
            None if data.is_empty() => anyhow::anyhow!("{what}: reverted without a reason"),
            None => anyhow::anyhow!("{what}: reverted with data {data}"),
        },
        None => anyhow::anyhow!("{what}: {err}"),
    }
}

/// The timestamp of block `n`, an error naming the block when the node cannot give it.
pub(crate) async fn block_time(provider: &DynProvider, n: u64) -> anyhow::Result<u64> {
    Ok(provider
        .get_block_by_number(BlockNumberOrTag::Number(n))
        .await
        .with_context(|| format!("reading block {n}"))?
        .with_context(|| format!("the node has no block {n}"))?
        .header
        .timestamp)
}

/// Every log of event `E` emitted by `address` in `from..=latest` that matches `topic1`
/// (when given), fetched in chunks of [`LOG_CHUNK`] blocks, decoded.
pub(crate) async fn scan<E: SolEvent>(
    provider: &DynProvider,
    address: Address,
    topic1: Option<alloy::primitives::B256>,
    from: u64,
) -> anyhow::Result<Vec<(E, Log)>> {
    let latest = provider
        .get_block_number()
        .await
        .context("reading the block number")?;
    let mut filter = Filter::new()
        .address(address)
        .event_signature(E::SIGNATURE_HASH);
    if let Some(t) = topic1 {
        filter = filter.topic1(t);
    }
    Ok(
        aikernel_chain::logs::get_events_chunked::<E, _>(
            provider, &filter, from, latest, LOG_CHUNK,
        )
        .await?,
    )
}
