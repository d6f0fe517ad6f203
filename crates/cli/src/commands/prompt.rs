//! `aikernel prompt`: submits a request to the kernel (`infer`) and, with `--wait`, follows
//! it through drawn -> committed -> revealed -> settled and prints the typed result.
//! `prompt wait ID` follows an existing prompt the same way (after Ctrl-C or a timeout), and
//! `prompt show ID` prints its whole history from the chain.

mod history;
mod input;
mod outcome;
pub(crate) mod show;
mod wait;

use std::{path::PathBuf, time::Instant};

use alloy::primitives::{Address, B256, Bytes, U256};
use anyhow::{Context as _, bail};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use aikernel_chain::bindings::{
    DecentralizedInference::{self, DrawScheduled, PromptSubmitted},
    IAIKernel,
    ModelFileSystem::{self, ModelFileSystemErrors},
};
use aikernel_schema::{Schema, parse_spec, to_spec};

use self::input::{Fit, MAX_INPUT_BYTES, Topic};
use crate::{
    global::GlobalArgs,
    keys::KeyArgs,
    output::{eth, hex0x, outln, print_json},
    rpc::{self, explain},
};

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

Conversations: context chains per (sender, topic), so a prompt sees the earlier prompts and
answers of its topic. Without --topic a prompt starts a fresh conversation under a random
topic, printed so that you can continue it with --topic 0x...; --topic NAME continues (or
starts) the conversation NAME.

Other actions on a prompt: `aikernel prompt wait ID` follows an existing prompt to its result
(after Ctrl-C or a timeout); `aikernel prompt show ID` prints its committees, commits,
reveals, escalations, declines, result, gas and times.

Keys: --key or AIKERNEL_KEY, or --key-file. On the devnet, anvil account #0
(0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80) is the admin and
holds ETH; never use it on a real chain.";

/// `aikernel prompt`: submit (the flags), or an action on an existing prompt.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_long_help = SCHEMA_HELP
)]
pub(crate) struct PromptCommand {
    #[command(subcommand)]
    action: Option<PromptAction>,

    #[command(flatten)]
    submit: SubmitArgs,
}

/// Actions on a prompt already submitted.
#[derive(Debug, Subcommand)]
enum PromptAction {
    /// Follow an existing prompt to its settled result, as `--wait` does (after Ctrl-C or a
    /// timeout). Exits non-zero when it is refunded or settles with an error result.
    Wait(wait::WaitArgs),
    /// Everything the chain holds about a prompt: request, committee of each round with each
    /// member's state, commits, reveals, escalations, declines, the typed result, the gas of
    /// each transaction and its time.
    Show(show::ShowArgs),
}

/// Arguments of `aikernel prompt` that submit a new prompt.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("prompt-input").required(true).args(["input", "input_file"])))]
struct SubmitArgs {
    /// Id of a registered model (`aikernel models list`).
    #[arg(long, alias = "model", value_name = "ID", required = true)]
    model_id: Option<u64>,

    /// The prompt text.
    #[arg(long)]
    input: Option<String>,

    /// Read the prompt text from a file (`-`: standard input) and keep it off chain: it goes
    /// into the local content store (`$AIKERNEL_CACHE/content`, default
    /// `~/.cache/aikernel/content`) and the request carries only its sha256 (`inputHash`, the
    /// digest of its IPFS CIDv1 raw CID).
    #[arg(long, value_name = "PATH")]
    input_file: Option<PathBuf>,

    /// Continue (or start) the conversation NAME: a 0x-prefixed 32-byte hex value as is, any
    /// other text hashed with keccak256. Without it, a fresh conversation (a random topic).
    #[arg(long, value_name = "NAME")]
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

    #[command(flatten)]
    key: KeyArgs,

    /// Check the request, quote its fee and gas, and send nothing.
    #[arg(long, conflicts_with = "wait")]
    dry_run: bool,

    /// Follow the prompt until it settles (or is refunded) and print the typed result.
    #[arg(long)]
    wait: bool,

    /// With --wait: give up after this many seconds (`aikernel prompt wait ID` resumes).
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
    /// The conversation topic.
    pub(crate) topic: B256,
    /// When the transaction was sent (for a resumed wait: the submission block's time).
    pub(crate) started: Instant,
}

/// Runs `aikernel prompt`.
pub(crate) fn run(cmd: &PromptCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match &cmd.action {
        Some(PromptAction::Wait(args)) => wait::run(args, global),
        Some(PromptAction::Show(args)) => show::run(args, global),
        None => submit_command(&cmd.submit, global),
    }
}

/// The request as the kernel will store it, and what the CLI knows about it.
struct Prepared {
    request: IAIKernel::Request,
    schema: Schema,
    topic: Topic,
}

/// Everything that can be checked locally, checked before anything is sent.
fn prepare(args: &SubmitArgs) -> anyhow::Result<Prepared> {
    let model_id = args.model_id.context("--model-id ID is required")?;
    let schema = parse_spec(&args.schema).context("--schema")?;
    let (input, input_hash) = input::read_input(args.input.as_deref(), args.input_file.as_deref())?;
    let topic = Topic::new(args.topic.as_deref())?;
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
    let request = IAIKernel::Request {
        modelId: U256::from(model_id),
        topic: topic.value,
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
    Ok(Prepared {
        request,
        schema,
        topic,
    })
}

fn submit_command(args: &SubmitArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let prepared = prepare(args)?;
    let signer = if args.dry_run {
        args.key.signer()?
    } else {
        Some(args.key.required()?)
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let signs = signer.is_some();
        let kernel = rpc::connect(global, signer).await?;
        let spec = read_model(&kernel, prepared.request.modelId).await?;
        // An input the nodes can only answer with an error costs the whole fee: refuse it.
        let fit = tokio::task::block_in_place(|| input::check_fits(&spec, &prepared.request))?;
        let fee = match args.fee {
            Some(f) => f,
            None => quote(&kernel, &prepared.request).await?,
        };
        if args.dry_run {
            return dry_run(&kernel, signs, &prepared, fee, fit.as_ref(), global).await;
        }
        let submitted = submit(&kernel, prepared.request, fee, prepared.schema).await?;
        if args.wait {
            return wait::follow(&kernel, submitted, args.timeout, global).await;
        }
        print_submitted(&submitted, prepared.topic.fresh, global)
    })
}

/// The model's registration; an unknown or inactive model is an error.
async fn read_model(
    kernel: &rpc::Kernel,
    model_id: U256,
) -> anyhow::Result<ModelFileSystem::ModelSpec> {
    let models = ModelFileSystem::new(kernel.deployment.models, kernel.provider.clone());
    match models.getModel(model_id).call().await {
        Ok(m) if !m.active => bail!("model {model_id} ({}) is not active", m.spec.name),
        Ok(m) => Ok(m.spec),
        Err(e)
            if matches!(
                e.as_decoded_interface_error::<ModelFileSystemErrors>(),
                Some(ModelFileSystemErrors::UnknownModel(_))
            ) =>
        {
            bail!("unknown model id {model_id}: `aikernel models list` shows the registered models")
        }
        Err(e) => Err(explain(&format!("reading model {model_id}"), &e)),
    }
}

/// The kernel's fee for `request`.
async fn quote(kernel: &rpc::Kernel, request: &IAIKernel::Request) -> anyhow::Result<U256> {
    DecentralizedInference::new(kernel.deployment.kernel, kernel.provider.clone())
        .quote(
            request.modelId,
            request.maxTokens,
            request.committeeSize,
            request.callbackGasLimit,
        )
        .call()
        .await
        .map_err(|e| explain("quoting the fee", &e))
}

/// `--dry-run`: the quote, the gas estimate (with a key: a simulated `infer` that would revert
/// the way the real one would) and the length check, and nothing sent.
async fn dry_run(
    kernel: &rpc::Kernel,
    signs: bool,
    p: &Prepared,
    fee: U256,
    fit: Option<&Fit>,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
    let gas = if signs {
        let inference =
            DecentralizedInference::new(kernel.deployment.kernel, kernel.provider.clone());
        Some(
            inference
                .infer(p.request.clone())
                .value(fee)
                .estimate_gas()
                .await
                .map_err(|e| explain("the prompt would be refused", &e))?,
        )
    } else {
        None
    };
    if global.json {
        return print_json(&json!({
            "dryRun": true,
            "modelId": p.request.modelId.to_string(),
            "fee": fee.to_string(),
            "gasEstimate": gas,
            "topic": p.topic.value.to_string(),
            "freshTopic": p.topic.fresh,
            "schema": to_spec(&p.schema),
            "promptTokens": fit.map(|f| f.prompt_tokens),
            "contextLength": fit.map(|f| f.context_length),
            "lengthChecked": fit.is_some(),
        }));
    }
    outln!(
        "dry run: nothing sent. Fee {} for model {}, {} tokens, committee {}",
        eth(fee),
        p.request.modelId,
        p.request.maxTokens,
        p.request.committeeSize
    );
    match gas {
        Some(g) => outln!("  gas estimate {g} (the kernel accepts the request)"),
        None => outln!("  gas not estimated: pass --key to simulate the transaction"),
    }
    match fit {
        Some(f) => outln!(
            "  prompt      {} tokens + {} to generate, within the model's context of {} \
             (earlier turns of the topic are dropped to fit)",
            f.prompt_tokens,
            p.request.maxTokens,
            f.context_length
        ),
        None => outln!("  length      not checked: the model file is not on this machine"),
    }
    outln!(
        "  topic       {}{}",
        p.topic.value,
        fresh_note(p.topic.fresh)
    );
    Ok(())
}

fn fresh_note(fresh: bool) -> &'static str {
    if fresh { " (a fresh conversation)" } else { "" }
}

/// Sends `infer` with gas = estimate * 1.2 and reads the prompt id and round 0's draw from
/// the receipt (the committee is drawn after submission, with the hash of a later block).
async fn submit(
    kernel: &rpc::Kernel,
    request: IAIKernel::Request,
    fee: U256,
    schema: Schema,
) -> anyhow::Result<Submitted> {
    let input_hash = request.inputHash;
    let topic = request.topic;
    let inference = DecentralizedInference::new(kernel.deployment.kernel, kernel.provider.clone());
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
        topic,
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
        "topic": s.topic.to_string(),
        "schema": to_spec(&s.schema),
        "schemaBytes": hex0x(s.schema.encode()),
        "abiType": s.schema.abi_type(),
        "seedBlock": seed_block,
        "commitDeadline": commit_deadline,
        "revealDeadline": reveal_deadline,
    })
}

fn print_submitted(s: &Submitted, fresh: bool, global: &GlobalArgs) -> anyhow::Result<()> {
    if global.json {
        let mut v = submitted_json(s);
        if let Some(o) = v.as_object_mut() {
            o.insert("freshTopic".into(), json!(fresh));
        }
        return print_json(&v);
    }
    outln!("prompt {} submitted in tx {}", s.id, s.tx);
    outln!(
        "  block {}, gas used {}, fee {}",
        s.block,
        s.gas_used,
        eth(s.fee)
    );
    outln!(
        "  schema {} (ABI {})",
        to_spec(&s.schema),
        s.schema.abi_type()
    );
    outln!("  topic {}{}", s.topic, fresh_note(fresh));
    if fresh {
        outln!("  continue this conversation with --topic {}", s.topic);
    }
    if let Some(d) = &s.draw {
        outln!(
            "  committee drawn with the hash of block {} (known once block {} exists)",
            d.seedBlock,
            d.seedBlock + 1
        );
    }
    outln!(
        "  follow it with `aikernel prompt wait {}`; inspect it with `aikernel prompt show {}`",
        s.id,
        s.id
    );
    Ok(())
}
