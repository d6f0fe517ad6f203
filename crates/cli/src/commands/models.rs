//! `aikernel models list|register`: the ModelFileSystem registry.

use std::{
    fmt::Write as _,
    fs::File,
    io::BufReader,
    path::{Path, PathBuf},
};

use alloy::primitives::{FixedBytes, U256};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use aikernel_chain::bindings::ModelFileSystem::{self, ModelRegistered, ModelSpec};
use aikernel_protocol::content::{DEFAULT_CHUNK_SIZE, merkle_root};

use aikernel_drivers::{DriverSpec, LlmDriver};
use aikernel_store::{check_uri, leaves_manifest_path, write_leaves_manifest};

use crate::{
    global::GlobalArgs,
    keys::KeyArgs,
    output::{Table, eth, hex0x, out, outln, print_json},
    rpc::{self, explain},
};

/// `aikernel models ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// List the registered models.
    List,
    /// Register a model file (needs MODEL_ADMIN_ROLE; on the devnet, anvil account #0).
    Register(Box<RegisterArgs>),
}

/// Arguments of `aikernel models register`.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The model file; its Merkle content root and size are computed locally.
    #[arg(long)]
    file: PathBuf,

    /// Where nodes download the file; up to 8 (default: file:// of --file, for nodes on
    /// this machine). Schemes nodes fetch: file:///abs/path, http://, https:// and
    /// ipfs://<cid>[/path]; anything else (ar://, a bare path, whitespace) is refused.
    #[arg(long = "uri", num_args = 1..)]
    uris: Vec<String>,

    /// Also write the leaf manifest `<file>.leaves` next to the file; publish it beside
    /// each URI (`<uri>.leaves`) so nodes verify every chunk as it downloads.
    #[arg(long)]
    write_leaves: bool,

    /// Display name (default: the file name without its extension).
    #[arg(long)]
    name: Option<String>,

    /// Driver that runs the model: `llm-<family>` of the file's architecture (llama, qwen2,
    /// qwen3, gemma3) with a prompt rule: none (rule 1, greedy typed answers), `@2` (rule 2,
    /// scored and order-invariant choices, bools and ints), `@2-calibrated` or `@3` (see
    /// docs/drivers.md). Default: the file's family under rule 2 (`llm-llama@2`,
    /// `llm-gemma3@2`). The file is loaded with it before anything is sent: a file it cannot
    /// run, or of another family, is refused.
    #[arg(long)]
    driver: Option<String>,

    /// File format (the llm drivers read gguf).
    #[arg(long, default_value = "gguf")]
    format: String,

    /// Fee per generated token per committee member, in wei.
    #[arg(long, default_value_t = 1_000_000_000)]
    fee_per_token: u128,

    /// Tokens per second a busy node with the minimum hardware generates with this model; each
    /// request's commit window grows by its work at this speed (docs/contracts.md).
    #[arg(long, default_value_t = 10)]
    tokens_per_second: u32,

    /// Minimum device memory a node needs, in MiB.
    #[arg(long, default_value_t = 512)]
    min_memory_mib: u64,

    /// Minimum number of devices a node needs.
    #[arg(long, default_value_t = 1)]
    min_devices: u32,

    /// Chunk size of the Merkle tree, in bytes.
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE)]
    chunk_size: u32,

    /// The key of a MODEL_ADMIN_ROLE holder.
    #[command(flatten)]
    key: KeyArgs,
}

/// Runs `aikernel models ...`.
pub(crate) fn run(command: &ModelsCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match command {
        ModelsCommand::List => runtime.block_on(list(global)),
        ModelsCommand::Register(args) => runtime.block_on(register(args, global)),
    }
}

/// Every registered model: its id, spec and whether it is active.
pub(crate) async fn read_models(
    kernel: &rpc::Kernel,
) -> anyhow::Result<Vec<(U256, ModelSpec, bool)>> {
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
    Ok(rows)
}

/// One model as `models list --json` prints it.
pub(crate) fn model_json(id: U256, s: &ModelSpec, active: bool) -> serde_json::Value {
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
        "tokensPerSecond": s.tokensPerSecond,
        "active": active,
    })
}

async fn list(global: &GlobalArgs) -> anyhow::Result<()> {
    let kernel = rpc::connect(global, None).await?;
    let rows = read_models(&kernel).await?;
    if global.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(id, s, active)| model_json(*id, s, *active))
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

/// The `file://` URI of an absolute path, bytes other than letters, digits, `-._~/`
/// escaped as `%XX` (so spaces and `%` in a path survive).
fn file_uri(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", path.display()))?;
    let mut uri = String::from("file://");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    check_uri(&uri).with_context(|| format!("the file:// URI of {}", path.display()))?;
    Ok(uri)
}

/// Everything about a registration that needs no chain, checked before connecting: the
/// URIs are ones nodes can fetch, and the file is a model the driver loads (GGUF header
/// and tensor table inside the file, architecture, tensor types, tokenizer, template) of the
/// family the driver name declares. Returns the driver name to register.
fn check_registration(args: &RegisterArgs) -> anyhow::Result<String> {
    if args.uris.len() > 8 {
        bail!(
            "at most 8 --uri values are allowed, got {}",
            args.uris.len()
        );
    }
    for uri in &args.uris {
        check_uri(uri).context("--uri")?;
    }
    if args.chunk_size == 0 {
        bail!("--chunk-size must be positive");
    }
    if let Some(driver) = &args.driver {
        DriverSpec::parse(driver).context("--driver")?;
    }
    if args.format != "gguf" {
        bail!("--format {:?}: the llm drivers read gguf", args.format);
    }
    let driver = DriverSpec::for_file(&args.file, args.driver.as_deref())
        .with_context(|| format!("model file {}", args.file.display()))?
        .name();
    LlmDriver::load_registered(&args.file, 1, &driver).with_context(|| {
        format!(
            "model file {} cannot be run by the {driver} driver",
            args.file.display()
        )
    })?;
    Ok(driver)
}

async fn register(args: &RegisterArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let driver = check_registration(args)?;
    let signer = args.key.required()?;
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
        vec![file_uri(&path)?]
    } else {
        args.uris.clone()
    };
    let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().into_owned());
    let name = args
        .name
        .clone()
        .or_else(|| stem(&args.file))
        .unwrap_or_else(|| "model".into());
    let format = args.format.clone();
    let spec = ModelSpec {
        name,
        driver,
        format,
        contentRoot: FixedBytes(root),
        size,
        chunkSize: args.chunk_size,
        uris,
        minMemoryMiB: args.min_memory_mib,
        minDeviceCount: args.min_devices,
        feePerToken: args.fee_per_token,
        tokensPerSecond: args.tokens_per_second,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_escape_what_a_uri_cannot_hold() {
        assert_eq!(
            file_uri(Path::new("/m/a b%c-é.gguf")).unwrap(),
            "file:///m/a%20b%25c-%C3%A9.gguf"
        );
        assert_eq!(
            file_uri(Path::new("/m/x_1.gguf")).unwrap(),
            "file:///m/x_1.gguf"
        );
    }
}
