//! `aikernel prompt`: submits a request to the kernel (`infer`) and, with `--wait`, follows
//! it through drawn -> committed -> revealed -> settled and prints the typed result.

mod wait;

use std::{path::PathBuf, time::Instant};

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use anyhow::{Context as _, bail};
use clap::{ArgGroup, Args};
use serde_json::json;

use aikernel_chain::bindings::{
    DecentralizedInference::{self, DrawScheduled, PromptSubmitted},
    IAIKernel,
    ModelFileSystem::{self, ModelFileSystemErrors},
};
use aikernel_schema::{Schema, parse_spec, to_spec};
use aikernel_store::ContentStore;

use crate::{
    global::GlobalArgs,
    output::{eth, hex0x, print_json},
    rpc::{self, explain},
};

/// Longest inline input or extra context the kernel accepts, in bytes.
const MAX_INPUT_BYTES: usize = 8192;

const SCHEMA_HELP: &str = "\
Output schema (SPEC), a short notation for docs/schema.md:
  free                      free text (the default)
  text[:N]                  text of at most N bytes (1..4096; default 4096)
  choice:A|B|C              one of the options (bare options separated by |)
  choice:\"A, x\",\"B\"         quoted options (escapes \\\" \\\\ \\n \\r \\t), separated by , or |
  int:MIN..MAX              an integer in MIN..=MAX (64-bit; MIN may be negative)
  bool                      true or false
  address                   a 20-byte address
  tuple(S1, S2, ...)        1..16 values of the given schemas
  array(S, N)               up to N (1..64) values of schema S
Examples: --schema 'choice:Team A|Team B'  --schema int:300..850
          --schema 'tuple(bool, int:0..9)'  --schema 'array(text:32, 3)'

Keys: --key or AIKERNEL_KEY. On the devnet, anvil account #0
(0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80) is the admin and
holds ETH; never use it on a real chain.";

/// Arguments of `aikernel prompt`.
#[derive(Debug, Args)]
#[command(after_long_help = SCHEMA_HELP)]
#[command(group(ArgGroup::new("prompt-input").required(true).args(["input", "input_file"])))]
pub(crate) struct PromptArgs {
    /// Id of a registered model (`aikernel models list`).
    #[arg(long)]
    model: u64,

    /// The prompt text.
    #[arg(long)]
    input: Option<String>,

    /// Read the prompt text from a file and keep it off chain: it goes into the local content
    /// store (`$AIKERNEL_CACHE/content`, default `~/.cache/aikernel/content`) and the request
    /// carries only its sha256 (`inputHash`, the digest of its IPFS CIDv1 raw CID).
    #[arg(long)]
    input_file: Option<PathBuf>,

    /// Conversation topic: a 0x-prefixed 32-byte hex value, or any text (hashed with keccak256).
    /// Context chains per (sender, topic), so prompts on one topic see the earlier ones.
    #[arg(long)]
    topic: Option<String>,

    /// Extra text placed before the conversation (facts, instructions).
    #[arg(long = "context")]
    extra_context: Option<String>,

    /// Output schema SPEC (see below); default free text.
    #[arg(long, default_value = "free")]
    schema: String,

    /// Most tokens the model may generate.
    #[arg(long, default_value_t = 128)]
    max_tokens: u32,

    /// Sampling temperature in thousandths (0 = greedy).
    #[arg(long, default_value_t = 0)]
    temperature: u32,

    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Number of nodes that compute the result independently (odd, 1..15).
    #[arg(long, default_value_t = 3)]
    committee: u16,

    /// Fee in wei (default: the kernel's quote for these parameters).
    #[arg(long)]
    fee: Option<U256>,

    /// Hex private key of the requester (pays the fee).
    #[arg(long, env = "AIKERNEL_KEY", hide_env_values = true)]
    key: Option<String>,

    /// Follow the prompt until it settles (or is refunded) and print the typed result.
    #[arg(long)]
    wait: bool,

    /// With --wait: give up after this many seconds.
    #[arg(long, default_value_t = 600, requires = "wait")]
    timeout: u64,
}

/// What a submission produced; `--wait` continues from it.
pub(crate) struct Submitted {
    /// The prompt id.
    pub(crate) id: U256,
    /// The `infer` transaction.
    pub(crate) tx: B256,
    /// Its block.
    pub(crate) block: u64,
    /// Gas it used.
    pub(crate) gas_used: u64,
    /// Fee paid, in wei.
    pub(crate) fee: U256,
    /// Round 0's draw: the block whose hash picks the committee, and the deadlines.
    pub(crate) draw: Option<DrawScheduled>,
    /// The request's schema.
    pub(crate) schema: Schema,
    /// `inputHash` of the request (zero when the input is inline).
    pub(crate) input_hash: B256,
    /// When the CLI sent the transaction.
    pub(crate) started: Instant,
}

/// Runs `aikernel prompt`.
pub(crate) fn run(args: &PromptArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    // Everything that can be checked locally is checked before anything is sent.
    let schema = parse_spec(&args.schema).context("--schema")?;
    let (input, input_hash) = read_input(args)?;
    let topic = parse_topic(args.topic.as_deref())?;
    let extra = args.extra_context.clone().unwrap_or_default();
    if extra.len() > MAX_INPUT_BYTES {
        bail!(
            "--context is {} bytes; the kernel takes at most {MAX_INPUT_BYTES}",
            extra.len()
        );
    }
    if args.committee == 0 || args.committee > 15 || args.committee.is_multiple_of(2) {
        bail!(
            "--committee must be odd and in 1..15, got {}",
            args.committee
        );
    }
    if args.max_tokens == 0 {
        bail!("--max-tokens must be at least 1");
    }
    let signer = rpc::signer(args.key.as_deref())?;
    let request = IAIKernel::Request {
        modelId: U256::from(args.model),
        topic,
        input: Bytes::from(input),
        inputHash: input_hash,
        extraContext: Bytes::from(extra.into_bytes()),
        schema: Bytes::from(schema.encode()),
        maxTokens: args.max_tokens,
        temperature: args.temperature,
        seed: args.seed,
        callback: Address::ZERO,
        callbackGasLimit: 0,
        committeeSize: args.committee,
    };

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let kernel = rpc::connect(global, Some(signer)).await?;
        let submitted = submit(&kernel, request, args.fee, schema).await?;
        if args.wait {
            return wait::follow(&kernel, submitted, args.timeout, global).await;
        }
        print_submitted(&submitted, global)
    })
}

/// The prompt: `--input` inline (hash zero), or `--input-file` put into the content store
/// (input empty, hash = its sha256).
fn read_input(args: &PromptArgs) -> anyhow::Result<(Vec<u8>, B256)> {
    match (&args.input, &args.input_file) {
        (Some(text), _) => {
            if text.is_empty() {
                bail!("--input is empty");
            }
            if text.len() > MAX_INPUT_BYTES {
                bail!(
                    "--input is {} bytes; the kernel takes at most {MAX_INPUT_BYTES} inline \
                     (use --input-file to keep a long input off chain)",
                    text.len()
                );
            }
            Ok((text.clone().into_bytes(), B256::ZERO))
        }
        (None, Some(path)) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading --input-file {}", path.display()))?;
            if bytes.is_empty() {
                bail!("--input-file {} is empty", path.display());
            }
            let dir = content_dir();
            let store = ContentStore::open(&dir)
                .with_context(|| format!("opening the content store {}", dir.display()))?;
            let hash = store
                .put(&bytes)
                .with_context(|| format!("storing the input in {}", dir.display()))?;
            Ok((Vec::new(), B256::from(hash)))
        }
        (None, None) => bail!("pass --input TEXT or --input-file PATH"),
    }
}

/// `$AIKERNEL_CACHE/content`, else `~/.cache/aikernel/content`: where nodes on this machine
/// look up off-chain inputs.
fn content_dir() -> PathBuf {
    aikernel_node::config::default_cache_dir().join("content")
}

/// `--topic`: 0x + 64 hex digits as is, any other text hashed with keccak256, none = zero.
pub(crate) fn parse_topic(topic: Option<&str>) -> anyhow::Result<B256> {
    match topic {
        None => Ok(B256::ZERO),
        Some(t) if t.starts_with("0x") && t.len() == 66 => t
            .parse()
            .with_context(|| format!("--topic {t} is not 32 bytes of hex")),
        Some(t) => Ok(keccak256(t.as_bytes())),
    }
}

/// Checks the model, quotes the fee, sends `infer` with gas = estimate * 1.2 and reads the
/// prompt id and round 0's draw from the receipt (the committee is drawn after submission,
/// with the hash of a later block).
async fn submit(
    kernel: &rpc::Kernel,
    request: IAIKernel::Request,
    fee: Option<U256>,
    schema: Schema,
) -> anyhow::Result<Submitted> {
    let d = &kernel.deployment;
    let model_id = request.modelId;
    let input_hash = request.inputHash;
    let models = ModelFileSystem::new(d.models, kernel.provider.clone());
    match models.getModel(model_id).call().await {
        Ok(m) if !m.active => bail!("model {model_id} ({}) is not active", m.spec.name),
        Ok(_) => {}
        Err(e)
            if matches!(
                e.as_decoded_interface_error::<ModelFileSystemErrors>(),
                Some(ModelFileSystemErrors::UnknownModel(_))
            ) =>
        {
            bail!("unknown model id {model_id}: `aikernel models list` shows the registered models")
        }
        Err(e) => return Err(explain(&format!("reading model {model_id}"), &e)),
    }
    let inference = DecentralizedInference::new(d.kernel, kernel.provider.clone());
    let fee = match fee {
        Some(f) => f,
        None => inference
            .quote(
                model_id,
                request.maxTokens,
                request.committeeSize,
                request.callbackGasLimit,
            )
            .call()
            .await
            .map_err(|e| explain("quoting the fee", &e))?,
    };
    let call = inference.infer(request).value(fee);
    let estimate = call
        .estimate_gas()
        .await
        .map_err(|e| explain("submitting the prompt", &e))?;
    // The request is stored as contract code whose size, and so the gas, depends on the
    // state at inclusion (context chain, pool snapshot): keep a margin.
    let gas = estimate + estimate / 5;
    let started = Instant::now();
    let receipt = call
        .gas(gas)
        .send()
        .await
        .map_err(|e| explain("submitting the prompt", &e))?
        .get_receipt()
        .await
        .context("waiting for the infer receipt")?;
    if !receipt.status() {
        bail!(
            "submitting the prompt: transaction {} reverted (gas limit {gas})",
            receipt.transaction_hash
        );
    }
    let id = receipt
        .decoded_log::<PromptSubmitted>()
        .map(|log| log.data.promptId)
        .context("the infer receipt has no PromptSubmitted event")?;
    Ok(Submitted {
        id,
        tx: receipt.transaction_hash,
        block: receipt.block_number.unwrap_or_default(),
        gas_used: receipt.gas_used,
        fee,
        draw: receipt.decoded_log::<DrawScheduled>().map(|l| l.data),
        schema,
        input_hash,
        started,
    })
}

/// The submission as JSON (also the first half of `--wait`'s JSON).
pub(crate) fn submitted_json(s: &Submitted) -> serde_json::Value {
    let (seed_block, commit_deadline, reveal_deadline) = s.draw.as_ref().map_or((0, 0, 0), |d| {
        (d.seedBlock, d.commitDeadline, d.revealDeadline)
    });
    json!({
        "promptId": s.id.to_string(),
        "tx": s.tx.to_string(),
        "block": s.block,
        "gasUsed": s.gas_used,
        "fee": s.fee.to_string(),
        "inputHash": s.input_hash.to_string(),
        "schema": to_spec(&s.schema),
        "schemaBytes": hex0x(s.schema.encode()),
        "abiType": s.schema.abi_type(),
        "seedBlock": seed_block,
        "commitDeadline": commit_deadline,
        "revealDeadline": reveal_deadline,
    })
}

fn print_submitted(s: &Submitted, global: &GlobalArgs) -> anyhow::Result<()> {
    if global.json {
        return print_json(&submitted_json(s));
    }
    crate::output::outln!("prompt {} submitted in tx {}", s.id, s.tx);
    crate::output::outln!(
        "  block {}, gas used {}, fee {}",
        s.block,
        s.gas_used,
        eth(s.fee)
    );
    crate::output::outln!(
        "  schema {} (ABI {})",
        to_spec(&s.schema),
        s.schema.abi_type()
    );
    if let Some(d) = &s.draw {
        crate::output::outln!(
            "  committee drawn with the hash of block {} (known once block {} exists)",
            d.seedBlock,
            d.seedBlock + 1
        );
    }
    crate::output::outln!("  check it later with `aikernel verify {}`", s.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_or_hash() {
        assert_eq!(parse_topic(None).unwrap(), B256::ZERO);
        let hex = format!("0x{}", "ab".repeat(32));
        assert_eq!(parse_topic(Some(&hex)).unwrap(), B256::repeat_byte(0xab));
        assert_eq!(
            parse_topic(Some("chat:alice")).unwrap(),
            keccak256("chat:alice")
        );
        assert!(parse_topic(Some(&format!("0x{}", "zz".repeat(32)))).is_err());
    }
}
