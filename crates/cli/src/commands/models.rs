//! `aikernel models list|register`: the ModelFileSystem registry.

use std::{fs::File, io::BufReader, path::PathBuf};

use alloy::primitives::{FixedBytes, U256};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use aikernel_chain::{
    bindings::ModelFileSystem::{self, ModelRegistered, ModelSpec},
    content::{DEFAULT_CHUNK_SIZE, merkle_root},
};

use aikernel_store::{leaves_manifest_path, write_leaves_manifest};

use crate::{
    global::GlobalArgs,
    output::{Table, eth, hex0x, out, outln, print_json},
    rpc::{self, explain},
};

/// `aikernel models ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// List the registered models.
    List,
    /// Register a model file (needs MODEL_ADMIN_ROLE; on the devnet, anvil account #0).
    Register(RegisterArgs),
}

/// Arguments of `aikernel models register`.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The model file; its Merkle content root and size are computed locally.
    #[arg(long)]
    file: PathBuf,

    /// Where nodes download the file (file://, https://, ipfs://); up to 8
    /// (default: file:// of --file, for nodes on this machine).
    #[arg(long = "uri", num_args = 1..)]
    uris: Vec<String>,

    /// Also write the leaf manifest `<file>.leaves` next to the file; publish it beside
    /// each URI (`<uri>.leaves`) so nodes verify every chunk as it downloads.
    #[arg(long)]
    write_leaves: bool,

    /// Display name (default: the file name without its extension).
    #[arg(long)]
    name: Option<String>,

    /// Driver that runs the model.
    #[arg(long, default_value = "llm-llama")]
    driver: String,

    /// File format (default: the file's extension, e.g. gguf).
    #[arg(long)]
    format: Option<String>,

    /// Fee per generated token per committee member, in wei.
    #[arg(long, default_value_t = 1_000_000_000)]
    fee_per_token: u128,

    /// Minimum device memory a node needs, in MiB.
    #[arg(long, default_value_t = 512)]
    min_memory_mib: u64,

    /// Minimum number of devices a node needs.
    #[arg(long, default_value_t = 1)]
    min_devices: u32,

    /// Chunk size of the Merkle tree, in bytes.
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE)]
    chunk_size: u32,

    /// Hex private key of a MODEL_ADMIN_ROLE holder.
    #[arg(long, env = "AIKERNEL_KEY", hide_env_values = true)]
    key: Option<String>,
}

/// Runs `aikernel models ...`.
pub(crate) fn run(command: &ModelsCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match command {
        ModelsCommand::List => runtime.block_on(list(global)),
        ModelsCommand::Register(args) => runtime.block_on(register(args, global)),
    }
}

async fn list(global: &GlobalArgs) -> anyhow::Result<()> {
    let kernel = rpc::connect(global, None).await?;
    let models = ModelFileSystem::new(kernel.deployment.models, kernel.provider.clone());
    let count = models
        .modelCount()
        .call()
        .await
        .map_err(|e| explain("reading the model count", &e))?;
    let mut rows = Vec::new();
    let mut id = U256::from(1);
    while id <= count {
        let model = models
            .getModel(id)
            .call()
            .await
            .map_err(|e| explain(&format!("reading model {id}"), &e))?;
        rows.push((id, model.spec, model.active));
        id += U256::from(1);
    }
    if global.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(id, s, active)| {
                json!({
                    "id": id.to_string(),
                    "name": s.name,
                    "driver": s.driver,
                    "format": s.format,
                    "contentRoot": hex0x(s.contentRoot),
                    "size": s.size,
                    "chunkSize": s.chunkSize,
                    "uris": s.uris,
                    "minMemoryMiB": s.minMemoryMiB,
                    "minDeviceCount": s.minDeviceCount,
                    "feePerToken": s.feePerToken.to_string(),
                    "active": active,
                })
            })
            .collect();
        return print_json(&json!(list));
    }
    if rows.is_empty() {
        outln!("no models registered (register one with `aikernel models register`)");
        return Ok(());
    }
    let mut table = Table::new(&[
        "id",
        "name",
        "driver",
        "format",
        "size",
        "fee/token",
        "active",
        "root",
        "uris",
    ]);
    for (id, s, active) in &rows {
        table.push(vec![
            id.to_string(),
            s.name.clone(),
            s.driver.clone(),
            s.format.clone(),
            format!("{:.1} MB", s.size as f64 / 1e6),
            eth(U256::from(s.feePerToken)),
            if *active { "yes" } else { "no" }.into(),
            hex0x(&s.contentRoot[..6]) + "…",
            s.uris.join(" "),
        ]);
    }
    out!("{}", table.render());
    Ok(())
}

async fn register(args: &RegisterArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let signer = rpc::signer(args.key.as_deref())?;
    if args.uris.len() > 8 {
        bail!(
            "at most 8 --uri values are allowed, got {}",
            args.uris.len()
        );
    }
    if args.chunk_size == 0 {
        bail!("--chunk-size must be positive");
    }
    let (root, size) = if args.write_leaves {
        let manifest = write_leaves_manifest(&args.file, args.chunk_size)
            .with_context(|| format!("writing the leaf manifest of {}", args.file.display()))?;
        (manifest.root, manifest.size)
    } else {
        let file = File::open(&args.file)
            .with_context(|| format!("opening model file {}", args.file.display()))?;
        merkle_root(BufReader::new(file), args.chunk_size)
            .with_context(|| format!("hashing model file {}", args.file.display()))?
    };
    let uris = if args.uris.is_empty() {
        let path = args
            .file
            .canonicalize()
            .with_context(|| format!("resolving {}", args.file.display()))?;
        vec![format!("file://{}", path.display())]
    } else {
        args.uris.clone()
    };
    if size == 0 {
        bail!("model file {} is empty", args.file.display());
    }
    let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().into_owned());
    let name = args
        .name
        .clone()
        .or_else(|| stem(&args.file))
        .unwrap_or_else(|| "model".into());
    let format = args
        .format
        .clone()
        .or_else(|| {
            args.file
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "gguf".into());
    let spec = ModelSpec {
        name,
        driver: args.driver.clone(),
        format,
        contentRoot: FixedBytes(root),
        size,
        chunkSize: args.chunk_size,
        uris,
        minMemoryMiB: args.min_memory_mib,
        minDeviceCount: args.min_devices,
        feePerToken: args.fee_per_token,
    };

    let kernel = rpc::connect(global, Some(signer)).await?;
    let models = ModelFileSystem::new(kernel.deployment.models, kernel.provider.clone());
    let receipt = models
        .registerModel(spec.clone())
        .send()
        .await
        .map_err(|e| explain("registering the model", &e))?
        .get_receipt()
        .await
        .context("waiting for the registration receipt")?;
    if !receipt.status() {
        bail!(
            "registering the model: transaction {} reverted",
            receipt.transaction_hash
        );
    }
    let id = receipt
        .decoded_log::<ModelRegistered>()
        .map(|log| log.data.modelId)
        .context("the registration receipt has no ModelRegistered event")?;

    if global.json {
        return print_json(&json!({
            "id": id.to_string(),
            "name": spec.name,
            "contentRoot": hex0x(root),
            "size": size,
            "chunkSize": spec.chunkSize,
            "uris": spec.uris,
            "feePerToken": spec.feePerToken.to_string(),
            "tx": receipt.transaction_hash.to_string(),
            "leaves": args.write_leaves.then(|| leaves_manifest_path(&args.file)),
        }));
    }
    outln!(
        "model {id} registered: {} ({size} bytes, root {}) in tx {}",
        spec.name,
        hex0x(root),
        receipt.transaction_hash
    );
    if args.write_leaves {
        outln!(
            "leaf manifest written to {}: publish it beside each URI as <uri>.leaves",
            leaves_manifest_path(&args.file).display()
        );
    }
    Ok(())
}
