//! `aikernel model run|bench|quantize`: the deterministic engine from the command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use aikernel_cuda::forward::MatmulTile;
use aikernel_engine::bench::{bench, bench_at};
use aikernel_engine::gguf::GgufFile;
use aikernel_engine::quantize::{QuantType, quantize_gguf};
use aikernel_engine::template::ChatMessage;
use aikernel_engine::{GenerateOptions, Kernel, Model, TokenConstraint};

use crate::files::{refuse_same, write_replacing};
use crate::global::{GlobalArgs, parse_threads};
use crate::output::{outln, print_json};

mod compute;
mod info;
mod stream;

use self::compute::{
    Compute, add_read_rates, compare_with_cpu, cpu_aggregate, cuda_rows, generate_on,
    parse_compute, parse_on_off,
};
use self::info::InfoArgs;
use self::stream::{Stream, visible_text};

/// Subcommands of `aikernel model`.
#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Generate text for a prompt (deterministic): streams the text as it is generated, then
    /// prints the token ids and the logits hash.
    Run(RunArgs),
    /// Measure prompt and decode throughput, and llama-bench's when it is installed.
    Bench(BenchArgs),
    /// Quantize a GGUF model's weights to Q8_0, Q4_0 or Q4_1.
    Quantize(QuantizeArgs),
    /// Describe a GGUF file: architecture, sizes, tensor types, tokenizer, chat template,
    /// and whether this engine runs it (and if not, what it lacks).
    Info(InfoArgs),
}

/// `aikernel model run`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("prompt-text").required(true).args(["prompt", "prompt_file"])))]
pub(crate) struct RunArgs {
    /// GGUF model file.
    #[arg(
        long = "model-file",
        alias = "model",
        value_name = "PATH",
        env = "AIKERNEL_MODEL",
        default_value_os_t = super::devnet::default_model()
    )]
    model: PathBuf,
    /// Prompt text.
    #[arg(long)]
    prompt: Option<String>,
    /// Read the prompt text from a file (`-`: standard input).
    #[arg(long, value_name = "PATH")]
    prompt_file: Option<PathBuf>,
    /// Wrap the prompt as a user message in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Worker threads, 1 to 4 per core (the output does not depend on it).
    #[arg(long, default_value_t = 1, value_parser = parse_threads)]
    threads: usize,
    /// Prompt tokens per prefill step (the output does not depend on it).
    #[arg(long)]
    prefill_chunk: Option<usize>,
    /// Kernel implementation: scalar, avx2, avx512, neon, auto, or cuda (the GPU); the output
    /// does not depend on it. One this machine lacks is refused, naming what is missing.
    #[arg(long, value_parser = parse_compute, default_value_t = Compute::Cpu(Kernel::Auto))]
    kernel: Compute,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Temperature (0 is greedy); kept to thousandths.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
}

/// `aikernel model bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// GGUF model file.
    #[arg(
        long = "model-file",
        alias = "model",
        value_name = "PATH",
        env = "AIKERNEL_MODEL",
        default_value_os_t = super::devnet::default_model()
    )]
    model: PathBuf,
    /// Prompt tokens (pp).
    #[arg(long, default_value_t = 128)]
    n_prompt: usize,
    /// Generated tokens (tg).
    #[arg(long, default_value_t = 128)]
    n_gen: usize,
    /// Context depths to measure from (comma-separated): that many positions are prefilled,
    /// untimed, before each pp and tg measurement (llama-bench's `-d`).
    #[arg(long, value_delimiter = ',', default_values_t = [0usize])]
    n_depth: Vec<usize>,
    /// Thread counts to measure, each 1 to 4 per core.
    #[arg(long, value_delimiter = ',', value_parser = parse_threads, default_values_t = [1usize, 2])]
    threads: Vec<usize>,
    /// Kernels to measure (comma-separated: scalar, avx2, avx512, neon, auto, cuda); one this
    /// machine lacks is refused, naming what is missing.
    #[arg(long, value_delimiter = ',', value_parser = parse_compute, default_values_t = [Compute::Cpu(Kernel::Auto)])]
    kernel: Vec<Compute>,
    /// Streams decoding together for the aggregate tokens/s (comma-separated): the cuda rows
    /// at every size, the CPU kernels at every size above 1 (the same tokens and loop), and
    /// each cuda row's ratio to the best CPU aggregate of its depth and batch.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize])]
    batch: Vec<usize>,
    /// The cuda rows' matmul tiles (comma-separated): auto, auto:<min threads>, a fixed 1 to
    /// 8 tokens per warp, mma (tensor-core tiles of a block each, always) or mma-warp
    /// (tensor-core tiles of a warp each, always); one set of cuda rows each (the logits
    /// never change).
    #[arg(long, value_delimiter = ',', default_values_t = [MatmulTile::DEFAULT])]
    cuda_tile: Vec<MatmulTile>,
    /// The cuda rows' launches (comma-separated): on, a CUDA graph a step, replayed while
    /// the steps' launches are the same; off, each kernel launched on its own. One set of cuda
    /// rows each (the logits never change).
    #[arg(long, value_delimiter = ',', value_parser = parse_on_off, default_values = ["on"])]
    cuda_graphs: Vec<bool>,
    /// With graphs on, whether each kernel may start while the one before it finishes
    /// (programmatic dependent launches: compute capability 9.0 and later; each kernel waits
    /// for the one before it before it touches memory). Comma-separated on, off; one set of
    /// cuda rows each (the logits never change). Without it, the device's default: off.
    #[arg(long, value_delimiter = ',', value_parser = parse_on_off)]
    cuda_overlap: Vec<bool>,
    /// Skip llama-bench even when it is installed.
    #[arg(long)]
    no_llama: bool,
}

/// `aikernel model quantize`.
#[derive(Debug, Args)]
pub(crate) struct QuantizeArgs {
    /// Input GGUF.
    #[arg(long)]
    input: PathBuf,
    /// Output GGUF: replaced only once it is completely written (through a temporary file
    /// beside it); it must not be the input.
    #[arg(long)]
    output: PathBuf,
    /// Target type.
    #[arg(long = "type", value_enum)]
    qtype: QuantArg,
}

/// Quantization target on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[allow(non_camel_case_types)]
pub(crate) enum QuantArg {
    /// 8-bit.
    Q8_0,
    /// 4-bit symmetric.
    Q4_0,
    /// 4-bit with minimum.
    Q4_1,
}

/// Runs one `aikernel model` subcommand.
pub(crate) fn run(cmd: ModelCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Run(a) => run_generate(&a, global.json),
        ModelCommand::Bench(a) => run_bench(&a, global.json),
        ModelCommand::Quantize(a) => run_quantize(&a, global.json),
        ModelCommand::Info(a) => info::run(&a, global.json),
    }
}

fn load(path: &Path) -> anyhow::Result<Model> {
    Model::load(path).with_context(|| format!("loading model {}", path.display()))
}

fn run_generate(a: &RunArgs, json_out: bool) -> anyhow::Result<()> {
    if !(0.0..=100.0).contains(&a.temperature) {
        bail!(
            "temperature must be between 0 and 100, got {}",
            a.temperature
        );
    }
    let prompt_text = match (&a.prompt, &a.prompt_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => {
            let bytes = crate::files::read_file_or_stdin(path)?;
            String::from_utf8(bytes).map_err(|e| {
                anyhow::anyhow!("--prompt-file {} is not UTF-8 text: {e}", path.display())
            })?
        }
        (None, None) => bail!("pass --prompt TEXT or --prompt-file PATH (- for standard input)"),
    };
    let model = load(&a.model)?;
    let text = if a.chat {
        model
            .chat_template()?
            .render(&[ChatMessage::new("user", prompt_text)], true)?
    } else {
        prompt_text
    };
    let prompt = model.tokenizer().encode(&text, true);
    let opts = GenerateOptions {
        max_tokens: a.max_tokens,
        temperature_milli: (a.temperature * 1000.0).round() as u32,
        seed: a.seed,
        prompt_id: [0; 32],
        threads: a.threads,
        prefill_chunk: a.prefill_chunk,
        kernel: Kernel::Auto,
        stop_tokens: Vec::new(),
    };
    // People see the text as it comes; scripts get one JSON object at the end.
    let mut stream = Stream::new(model.tokenizer(), !json_out);
    let g = generate_on(
        a.kernel,
        &model,
        &prompt,
        &opts,
        Some(&mut stream as &mut dyn TokenConstraint),
    )?;
    stream.finish()?;
    let out = visible_text(model.tokenizer(), &g.tokens);
    let hash = hex::encode(g.logits_sha256);
    if json_out {
        print_json(&json!({
            "text": out, "promptTokens": prompt, "tokens": g.tokens,
            "logitsSha256": hash, "stopReason": format!("{:?}", g.stop_reason),
        }))?;
    } else {
        outln!("prompt tokens: {prompt:?}");
        outln!("tokens: {:?}", g.tokens);
        outln!("stop: {:?}", g.stop_reason);
        outln!("logits sha256: {hash}");
    }
    Ok(())
}

/// Peak and current resident memory in KiB from /proc (Linux).
fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

fn llama_bench(
    model: &Path,
    n_prompt: usize,
    n_gen: usize,
    threads: &[usize],
    depths: &[usize],
) -> anyhow::Result<Option<Vec<Value>>> {
    // Where scripts/build-llama-cpp.sh builds it (`$AIKERNEL_LLAMA_CACHE`, else the cache's).
    let bin = aikernel_engine::paths::llama_cpp_bin("llama-bench");
    if !bin.exists() {
        return Ok(None);
    }
    let out = Command::new(&bin)
        .arg("-m")
        .arg(model)
        .args([
            "-p",
            &n_prompt.to_string(),
            "-n",
            &n_gen.to_string(),
            "-t",
            &threads
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "-d",
            &depths
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "-r",
            "2",
            "-o",
            "json",
        ])
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "llama-bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("parsing llama-bench JSON")?;
    Ok(v.as_array().cloned())
}

fn llama_ts(rows: &[Value], threads: usize, depth: usize, pp: bool) -> Option<f64> {
    rows.iter()
        .find(|r| {
            r["n_threads"].as_u64() == Some(threads as u64)
                && r["n_depth"].as_u64().unwrap_or(0) == depth as u64
                && (r["n_prompt"].as_u64().unwrap_or(0) > 0) == pp
                && (r["n_gen"].as_u64().unwrap_or(0) > 0) != pp
        })
        .and_then(|r| r["avg_ts"].as_f64())
}

fn run_bench(a: &BenchArgs, json_out: bool) -> anyhow::Result<()> {
    let model = load(&a.model)?;
    if a.threads.is_empty() || a.threads.contains(&0) {
        bail!("--threads needs one or more counts above zero");
    }
    if a.batch.is_empty() || a.batch.contains(&0) {
        bail!("--batch needs one or more sizes above zero");
    }
    if a.cuda_tile.is_empty() {
        bail!("--cuda-tile needs one or more settings");
    }
    if a.cuda_graphs.is_empty() {
        bail!("--cuda-graphs needs on, off or both");
    }
    let mut ours = Vec::new();
    let mut cuda = Vec::new();
    let mut batched = Vec::new();
    for &compute in &a.kernel {
        let kernel = match compute {
            Compute::Cpu(k) => k,
            Compute::Cuda => {
                cuda = cuda_rows(
                    &model,
                    &a.n_depth,
                    a.n_prompt,
                    a.n_gen,
                    &a.batch,
                    (&a.cuda_graphs, &a.cuda_overlap, &a.cuda_tile),
                )?;
                continue;
            }
        };
        let concrete = kernel
            .resolve()
            .with_context(|| format!("--kernel {kernel}"))?;
        for &threads in &a.threads {
            // Warm-up pass so page faults of the mapping are not timed.
            bench(&model, 8, 2, threads, kernel)?;
            for &depth in &a.n_depth {
                ours.push((
                    concrete,
                    bench_at(&model, depth, a.n_prompt, a.n_gen, threads, kernel)?,
                ));
                for &b in a.batch.iter().filter(|&&b| b > 1) {
                    let (tps, through_loop) =
                        cpu_aggregate(&model, kernel, threads, depth, a.n_gen, b)?;
                    batched.push(json!({
                        "kernel": concrete.name(), "threads": threads, "depth": depth,
                        "batch": b, "aggregateTokensPerS": tps, "loopTokensPerS": through_loop,
                    }));
                }
            }
        }
    }
    let (rss, hwm) = rss_kib();
    let llama = if a.no_llama {
        None
    } else {
        llama_bench(&a.model, a.n_prompt, a.n_gen, &a.threads, &a.n_depth)?
    };
    let mut rows = Vec::new();
    for (kernel, r) in &ours {
        let lp = llama
            .as_deref()
            .and_then(|l| llama_ts(l, r.threads, r.depth, true));
        let lg = llama
            .as_deref()
            .and_then(|l| llama_ts(l, r.threads, r.depth, false));
        rows.push(json!({
            "kernel": kernel.name(), "threads": r.threads, "depth": r.depth, "batch": 1,
            "aggregateTokensPerS": r.tg_tokens_per_s,
            "ppTokensPerS": r.pp_tokens_per_s, "tgTokensPerS": r.tg_tokens_per_s,
            "llamaPpTokensPerS": lp, "llamaTgTokensPerS": lg,
            "ppRatio": lp.map(|l| r.pp_tokens_per_s / l), "tgRatio": lg.map(|l| r.tg_tokens_per_s / l),
        }));
    }
    rows.extend(batched);
    add_read_rates(rows.iter_mut().chain(&mut cuda), &model, a.n_gen);
    compare_with_cpu(&mut cuda, &rows);
    if json_out {
        let v = json!({"model": a.model, "nPrompt": a.n_prompt, "nGen": a.n_gen, "nDepth": a.n_depth, "rssKib": rss, "peakRssKib": hwm, "results": rows.iter().chain(&cuda).collect::<Vec<_>>()});
        print_json(&v)?;
    } else {
        outln!(
            "model {} pp{} tg{} (rss {} MiB, peak {} MiB)",
            a.model.display(),
            a.n_prompt,
            a.n_gen,
            rss / 1024,
            hwm / 1024
        );
        outln!(
            "{:>7} {:>7} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}",
            "kernel",
            "threads",
            "depth",
            "pp t/s",
            "tg t/s",
            "llama pp",
            "llama tg",
            "pp ratio",
            "tg ratio"
        );
        for r in rows.iter().filter(|r| r["batch"] == 1) {
            let f = |k: &str| {
                r[k].as_f64()
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
            };
            outln!(
                "{:>7} {:>7} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}",
                r["kernel"].as_str().unwrap_or("-"),
                r["threads"],
                r["depth"],
                f("ppTokensPerS"),
                f("tgTokensPerS"),
                f("llamaPpTokensPerS"),
                f("llamaTgTokensPerS"),
                f("ppRatio"),
                f("tgRatio")
            );
        }
        let through_loop = |r: &Value| {
            r["loopTokensPerS"].as_f64().map_or_else(String::new, |v| {
                format!(", {v:.2} t/s through the sampling loop")
            })
        };
        let read = |r: &Value| {
            r["readGBPerS"]
                .as_f64()
                .map_or_else(String::new, |v| format!(" ({v:.2} GB/s read)"))
        };
        for r in rows.iter().filter(|r| r["batch"] != 1) {
            outln!(
                "{} {} threads depth {} batch {}: {:.2} t/s aggregate{}{}",
                r["kernel"].as_str().unwrap_or("-"),
                r["threads"],
                r["depth"],
                r["batch"],
                r["aggregateTokensPerS"].as_f64().unwrap_or(0.0),
                read(r),
                through_loop(r)
            );
        }
        for r in &cuda {
            let vs_cpu = r["aggregateRatio"].as_f64().map_or_else(String::new, |x| {
                format!(" ({x:.1}x the best CPU aggregate)")
            });
            outln!(
                "cuda tile {} graphs {} overlap {} depth {} batch {}: pp {:.2} t/s, tg {:.2} t/s (one stream), {:.2} t/s aggregate{}{vs_cpu}{}",
                r["cudaTile"].as_str().unwrap_or("-"),
                if r["cudaGraphs"] == true { "on" } else { "off" },
                if r["cudaOverlap"] == true {
                    "on"
                } else {
                    "off"
                },
                r["depth"],
                r["batch"],
                r["ppTokensPerS"].as_f64().unwrap_or(0.0),
                r["tgTokensPerS"].as_f64().unwrap_or(0.0),
                r["aggregateTokensPerS"].as_f64().unwrap_or(0.0),
                read(r),
                through_loop(r)
            );
        }
    }
    Ok(())
}

fn run_quantize(a: &QuantizeArgs, json_out: bool) -> anyhow::Result<()> {
    refuse_same(&a.input, &a.output)?;
    let input = GgufFile::open(&a.input)?;
    let target = match a.qtype {
        QuantArg::Q8_0 => QuantType::Q8_0,
        QuantArg::Q4_0 => QuantType::Q4_0,
        QuantArg::Q4_1 => QuantType::Q4_1,
    };
    let report = write_replacing(&a.output, |w| {
        quantize_gguf(&input, target, w)
            .with_context(|| format!("quantizing {}", a.input.display()))
    })?;
    if json_out {
        let v = json!({"output": a.output, "quantized": report.quantized.len(), "copied": report.copied.len(), "bytesWritten": report.bytes_written});
        print_json(&v)?;
    } else {
        outln!(
            "wrote {} ({} bytes): {} tensors quantized, {} copied",
            a.output.display(),
            report.bytes_written,
            report.quantized.len(),
            report.copied.len()
        );
    }
    Ok(())
}
