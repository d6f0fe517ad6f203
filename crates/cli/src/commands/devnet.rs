//! `aikernel devnet`: a local chain with the kernel deployed and the default model
//! registered, kept up until Ctrl-C.

use std::{fs::File, io::BufReader, path::PathBuf};

use alloy::{
    node_bindings::Anvil, primitives::FixedBytes, providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
};
use anyhow::{Context as _, bail};
use clap::Args;

use aikernel_chain::{
    DeployConfig,
    bindings::ModelFileSystem::{self, ModelSpec},
    content::{DEFAULT_CHUNK_SIZE, merkle_root},
    deploy_kernel,
    tools::foundry_bin,
};

use crate::global::GlobalArgs;

/// Arguments of `aikernel devnet`.
#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    /// Port anvil listens on (127.0.0.1).
    #[arg(long, default_value_t = 8545)]
    port: u16,

    /// Seconds between blocks, so commit and reveal deadlines pass on their own.
    #[arg(long, default_value_t = 1)]
    block_time: u64,

    /// The default model file to register.
    #[arg(long, env = "AIKERNEL_MODEL", default_value_os_t = default_model())]
    model: PathBuf,

    /// Fee per generated token per committee member, in wei.
    #[arg(long, default_value_t = 1_000_000_000)]
    fee_per_token: u128,

    /// Set everything up, print it and exit instead of serving until Ctrl-C.
    #[arg(long)]
    no_wait: bool,
}

/// `~/.cache/aikernel/models/SmolLM2-135M-Instruct.Q4_1.gguf`, where setup installs it.
pub(crate) fn default_model() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::env::var_os("AIKERNEL_CACHE")
        .map_or_else(|| home.join(".cache/aikernel"), PathBuf::from)
        .join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Starts anvil, deploys, registers the model, writes the deployment file and serves.
pub(crate) fn run(args: &DevnetArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    if !args.model.is_file() {
        bail!(
            "model file {} not found: run ./scripts/setup.sh",
            args.model.display()
        );
    }
    let anvil = Anvil::new()
        .path(foundry_bin("anvil"))
        .port(args.port)
        .block_time(args.block_time)
        .try_spawn()
        .with_context(|| {
            format!(
                "starting anvil on port {} (is another devnet still running?)",
                args.port
            )
        })?;
    let signer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let admin = signer.address();
    let treasury = anvil.addresses()[anvil.addresses().len() - 1];
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;

    let file = File::open(&args.model)
        .with_context(|| format!("opening model file {}", args.model.display()))?;
    let (root, size) = merkle_root(BufReader::new(file), DEFAULT_CHUNK_SIZE)
        .with_context(|| format!("hashing model file {}", args.model.display()))?;
    let name = args
        .model
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into());

    let (deployment, model_id) = runtime.block_on(async {
        let provider = ProviderBuilder::new()
            .wallet(signer)
            .connect_http(anvil.endpoint_url());
        let deployment = deploy_kernel(
            provider.clone(),
            admin,
            &DeployConfig::with_treasury(treasury),
        )
        .await?;
        let models = ModelFileSystem::new(deployment.models, provider);
        let spec = ModelSpec {
            name: name.trim_end_matches(".gguf").to_string(),
            driver: "llm-llama".to_string(),
            format: "gguf".to_string(),
            contentRoot: FixedBytes(root),
            size,
            chunkSize: DEFAULT_CHUNK_SIZE,
            uris: vec![format!("file://{}", args.model.canonicalize()?.display())],
            minMemoryMiB: 512,
            minDeviceCount: 1,
            feePerToken: args.fee_per_token,
        };
        let model_id = models.registerModel(spec.clone()).call().await?;
        models
            .registerModel(spec)
            .send()
            .await?
            .get_receipt()
            .await?;
        anyhow::Ok((deployment, model_id))
    })?;
    deployment.save(&global.deployment)?;

    if global.json {
        let summary = serde_json::json!({
            "rpc": anvil.endpoint(),
            "deployment": deployment,
            "deploymentFile": global.deployment,
            "modelId": model_id.to_string(),
            "modelRoot": format!("0x{}", alloy::hex::encode(root)),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "devnet up at {} (chain id {})",
            anvil.endpoint(),
            anvil.chain_id()
        );
        super::print_deployment(&deployment, &global.deployment);
        println!(
            "model {model_id}: {name} ({size} bytes, root 0x{})",
            alloy::hex::encode(root)
        );
    }
    if !args.no_wait {
        println!("serving until Ctrl-C");
        runtime
            .block_on(tokio::signal::ctrl_c())
            .context("waiting for Ctrl-C")?;
        println!("stopping anvil");
    }
    drop(anvil);
    Ok(())
}
