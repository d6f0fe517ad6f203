//! `aikernel devnet`: a local chain with the kernel deployed, the default model registered
//! and EAI handed to node accounts, kept up until Ctrl-C. `aikernel demo` builds on it.

use std::path::{Path, PathBuf};

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{FixedBytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use anyhow::{Context as _, bail};
use clap::Args;

use aikernel_chain::{
    DeployConfig, Deployment,
    bindings::{
        EAI,
        ModelFileSystem::{self, ModelSpec},
        PromptScheduler,
    },
    deploy_kernel,
    tools::foundry_bin,
};
use aikernel_drivers::DriverSpec;
use aikernel_protocol::content::DEFAULT_CHUNK_SIZE;

use crate::global::GlobalArgs;
use crate::output::{outln, print_json};

/// Arguments of `aikernel devnet`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DevnetArgs {
    /// Port anvil listens on (127.0.0.1).
    #[arg(long, default_value_t = 8545)]
    pub(crate) port: u16,

    /// Seconds between blocks, so commit and reveal deadlines pass on their own.
    #[arg(long, default_value_t = 1)]
    pub(crate) block_time: u64,

    /// The model file to register (GGUF).
    #[arg(
        long = "model-file",
        alias = "model",
        value_name = "PATH",
        env = "AIKERNEL_MODEL",
        default_value_os_t = default_model()
    )]
    pub(crate) model: PathBuf,

    /// The driver name the model is registered under: `llm-<family>` of the file's
    /// architecture (llama, qwen2, qwen3, gemma3) with a prompt rule, which fixes how nodes
    /// decide typed answers: `@2` (rule 2: choices, bools and ints by scoring whole answers
    /// in both option orders), `@2-calibrated`, `@3`, or none (rule 1, greedy). Default: the
    /// file's family under rule 2 (`llm-llama@2`, `llm-gemma3@2`). A name of another family
    /// than the file's is refused. See docs/drivers.md.
    #[arg(long, value_parser = parse_driver)]
    pub(crate) driver: Option<String>,

    /// Fee per generated token per committee member, in wei.
    #[arg(long, default_value_t = 1_000_000_000)]
    pub(crate) fee_per_token: u128,

    /// Tokens per second a busy node with the minimum hardware generates with this model; each
    /// request's commit window grows by its work at this speed (docs/contracts.md).
    #[arg(long, default_value_t = 10)]
    pub(crate) tokens_per_second: u32,

    /// Node accounts (anvil accounts 1..=N) given EAI to stake; their keys are written to
    /// `<deployment folder>/keys/node-<i>.key`.
    #[arg(long, default_value_t = 3)]
    pub(crate) nodes: usize,

    /// EAI (whole tokens) given to each node account.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) node_eai: u64,

    /// Seconds of the commit window and of the reveal window.
    #[arg(long, default_value_t = 60)]
    pub(crate) window: u32,

    /// Set everything up, print it and exit instead of serving until Ctrl-C.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

/// `<cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf`, where setup installs the default model
/// (the cache is `$AIKERNEL_CACHE`, else `~/.cache/aikernel`, as for nodes and tests: the
/// library's rule, [`aikernel_engine::paths::default_model`]).
pub(crate) fn default_model() -> PathBuf {
    aikernel_engine::paths::default_model()
}

/// A running devnet: dropping it stops anvil.
pub(crate) struct Devnet {
    /// The chain (killed on drop).
    pub(crate) anvil: AnvilInstance,
    /// The kernel's addresses.
    pub(crate) deployment: Deployment,
    /// The registered default model.
    pub(crate) model_id: U256,
    /// Its content root.
    pub(crate) model_root: [u8; 32],
    /// Its size in bytes.
    pub(crate) model_size: u64,
    /// Key files of the funded node accounts.
    pub(crate) node_keys: Vec<PathBuf>,
    /// The admin (anvil account 0), who holds the genesis EAI.
    pub(crate) admin: PrivateKeySigner,
    /// A provider with the admin's wallet.
    pub(crate) provider: DynProvider,
}

/// A driver name nodes serve.
fn parse_driver(name: &str) -> Result<String, String> {
    DriverSpec::parse(name)
        .map(|_| name.to_owned())
        .map_err(|e| e.to_string())
}

/// Starts anvil, deploys, registers the model, funds node accounts, writes the deployment.
pub(crate) async fn start(args: &DevnetArgs, deployment_file: &Path) -> anyhow::Result<Devnet> {
    if !args.model.is_file() {
        bail!(
            "model file {} not found: run ./scripts/setup.sh",
            args.model.display()
        );
    }
    // Before anything starts: a name of another family than the file's is refused.
    DriverSpec::for_file(&args.model, args.driver.as_deref())
        .with_context(|| format!("--driver for {}", args.model.display()))?;
    let anvil = Anvil::new()
        .path(foundry_bin("anvil")?)
        .port(args.port)
        .block_time(args.block_time)
        .try_spawn()
        .with_context(|| {
            format!(
                "starting anvil on port {} (is another devnet still running?)",
                args.port
            )
        })?;
    let admin: PrivateKeySigner = anvil.keys()[0].clone().into();
    let treasury = anvil.addresses()[anvil.addresses().len() - 1];
    if args.nodes + 2 > anvil.keys().len() {
        bail!(
            "--nodes {} is more than anvil's {} spare accounts",
            args.nodes,
            anvil.keys().len() - 2
        );
    }

    let provider = ProviderBuilder::new()
        .wallet(admin.clone())
        .connect_http(anvil.endpoint_url())
        .erased();
    let deployment = deploy_kernel(
        provider.clone(),
        admin.address(),
        &DeployConfig::with_treasury(treasury),
    )
    .await?;
    let registered = register_model(
        &provider,
        deployment.models,
        &args.model,
        args.driver.as_deref(),
        args.fee_per_token,
        args.tokens_per_second,
    )
    .await?;
    let (model_id, root, size) = (registered.id, registered.root, registered.size);
    if args.window != 60 {
        PromptScheduler::new(deployment.scheduler, provider.clone())
            .setTiming(args.window, args.window, 3)
            .send()
            .await?
            .get_receipt()
            .await?;
    }

    let keys_dir = deployment_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("keys"), |d| d.join("keys"));
    std::fs::create_dir_all(&keys_dir)
        .with_context(|| format!("creating {}", keys_dir.display()))?;
    let eai = EAI::new(deployment.eai, provider.clone());
    let amount = U256::from(args.node_eai) * U256::from(10u64).pow(U256::from(18u8));
    let mut node_keys = Vec::new();
    for i in 1..=args.nodes {
        let key = &anvil.keys()[i];
        let address = anvil.addresses()[i];
        eai.transfer(address, amount)
            .send()
            .await?
            .get_receipt()
            .await?;
        let path = keys_dir.join(format!("node-{i}.key"));
        write_key(&path, &format!("0x{}", alloy::hex::encode(key.to_bytes())))?;
        node_keys.push(path);
    }
    deployment.save(deployment_file)?;
    Ok(Devnet {
        anvil,
        deployment,
        model_id,
        model_root: root,
        model_size: size,
        node_keys,
        admin,
        provider,
    })
}

/// A model the devnet registered.
pub(crate) struct Registered {
    /// Its id in the ModelFileSystem.
    pub(crate) id: U256,
    /// The file's content root.
    pub(crate) root: [u8; 32],
    /// The file's size in bytes.
    pub(crate) size: u64,
}

/// Hashes `path`, publishes its leaf manifest next to it (so nodes verify every chunk as it
/// arrives, docs/storage.md) and registers it as a `file://` model under `driver`, by default
/// the file's family under prompt rule 2; a name of another family is refused
/// ([`DriverSpec::for_file`]).
pub(crate) async fn register_model(
    provider: &DynProvider,
    registry: alloy::primitives::Address,
    path: &Path,
    driver: Option<&str>,
    fee_per_token: u128,
    tokens_per_second: u32,
) -> anyhow::Result<Registered> {
    let driver = DriverSpec::for_file(path, driver)
        .with_context(|| format!("the driver name of {}", path.display()))?
        .name();
    let model_path = path.to_path_buf();
    let (root, size) = tokio::task::spawn_blocking(move || -> anyhow::Result<([u8; 32], u64)> {
        let manifest = aikernel_store::write_leaves_manifest(&model_path, DEFAULT_CHUNK_SIZE)
            .with_context(|| format!("hashing model file {}", model_path.display()))?;
        Ok((manifest.root, manifest.size))
    })
    .await??;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into());
    let models = ModelFileSystem::new(registry, provider.clone());
    let spec = ModelSpec {
        name: name.trim_end_matches(".gguf").to_string(),
        driver,
        format: "gguf".to_string(),
        contentRoot: FixedBytes(root),
        size,
        chunkSize: DEFAULT_CHUNK_SIZE,
        uris: vec![format!("file://{}", path.canonicalize()?.display())],
        minMemoryMiB: 512,
        minDeviceCount: 1,
        feePerToken: fee_per_token,
        tokensPerSecond: tokens_per_second,
    };
    let id = models.registerModel(spec.clone()).call().await?;
    models
        .registerModel(spec)
        .send()
        .await?
        .get_receipt()
        .await?;
    Ok(Registered { id, root, size })
}

/// Writes a key file readable by its owner only.
fn write_key(path: &Path, hex_key: &str) -> anyhow::Result<()> {
    std::fs::write(path, format!("{hex_key}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

/// The command that runs node `i` (1-based) against this devnet, as printed: the devnet's
/// RPC URL and deployment file, the node's key file, and a data folder of its own (nodes
/// sharing one would share their jobs and checkpoint).
pub(crate) fn node_command(rpc: &str, deployment_file: &Path, key: &Path, i: usize) -> Vec<String> {
    let data_dir = deployment_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("nodes")
        .join(format!("node-{i}"));
    [
        "aikernel".to_owned(),
        "--rpc".to_owned(),
        rpc.to_owned(),
        "--deployment".to_owned(),
        deployment_file.display().to_string(),
        "node".to_owned(),
        "run".to_owned(),
        "--key-file".to_owned(),
        key.display().to_string(),
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
    ]
    .into()
}

/// A command line for a shell: each word quoted when it needs it.
pub(crate) fn shell_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Starts the devnet, prints it and serves until Ctrl-C.
pub(crate) fn run(args: &DevnetArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let devnet = runtime.block_on(start(args, &global.deployment))?;
    let anvil = &devnet.anvil;
    let rpc = format!("http://127.0.0.1:{}", anvil.port());
    // Absolute paths, so that the printed commands work from any folder.
    let deployment_file = std::path::absolute(&global.deployment)
        .with_context(|| format!("resolving {}", global.deployment.display()))?;
    let commands: Vec<Vec<String>> = devnet
        .node_keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let key = std::path::absolute(key).unwrap_or_else(|_| key.clone());
            node_command(&rpc, &deployment_file, &key, i + 1)
        })
        .collect();
    if global.json {
        let summary = serde_json::json!({
            "rpc": rpc,
            "deployment": devnet.deployment,
            "deploymentFile": deployment_file,
            "modelId": devnet.model_id.to_string(),
            "modelRoot": format!("0x{}", alloy::hex::encode(devnet.model_root)),
            "nodeKeys": devnet.node_keys,
            "nodeCommands": commands,
        });
        print_json(&summary)?;
    } else {
        outln!("devnet up at {rpc} (chain id {})", anvil.chain_id());
        super::print_deployment(&devnet.deployment, &global.deployment);
        outln!(
            "model {}: {} ({} bytes, root 0x{})",
            devnet.model_id,
            args.model.display(),
            devnet.model_size,
            alloy::hex::encode(devnet.model_root)
        );
        outln!(
            "{} node accounts hold {} EAI each; run each node in its own terminal:",
            devnet.node_keys.len(),
            args.node_eai
        );
        for command in &commands {
            outln!("  {}", shell_line(command));
        }
    }
    if !args.no_wait {
        outln!("serving until Ctrl-C");
        runtime.block_on(super::shutdown_signal());
        outln!("stopping anvil");
    }
    drop(devnet);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_commands_name_the_chain_the_key_and_a_folder_each() {
        let one = node_command(
            "http://127.0.0.1:9545",
            Path::new("/d/deployment.json"),
            Path::new("/d/keys/node-1.key"),
            1,
        );
        let two = node_command(
            "http://127.0.0.1:9545",
            Path::new("/d/deployment.json"),
            Path::new("/d/keys/node-2.key"),
            2,
        );
        assert_eq!(
            shell_line(&one),
            "aikernel --rpc http://127.0.0.1:9545 --deployment /d/deployment.json node run \
             --key-file /d/keys/node-1.key --data-dir /d/nodes/node-1"
        );
        assert!(shell_line(&two).ends_with("--data-dir /d/nodes/node-2"));
        assert_eq!(
            shell_line(&["a b".to_owned(), "it's".to_owned()]),
            "'a b' 'it'\\''s'"
        );
    }
}
