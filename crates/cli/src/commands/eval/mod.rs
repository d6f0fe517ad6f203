//! `aikernel eval`: runs a model over labelled cases through the exact driver path a node
//! uses (same prompt-building rule, same decoding; offline, no chain) and reports, per
//! group and decision rule, accuracy, order consistency, confusions, the spread of integer
//! answers and the compute each rule costs.

mod cases;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use aikernel_drivers::{Decoding, Layout, LlmDriver, PromptRule};
use aikernel_schema::{Node, Output, Schema, decode_output};

use self::cases::Case;
use self::report::{Outcome, Report};
use crate::global::{GlobalArgs, parse_threads};

/// Arguments of `aikernel eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Eval files (JSONL, one case per line; see evals/README.md). Default: every
    /// `*.jsonl` in ./evals.
    files: Vec<PathBuf>,

    /// The model file (GGUF).
    #[arg(
        long = "model-file",
        alias = "model",
        value_name = "PATH",
        env = "AIKERNEL_MODEL",
        default_value_os_t = super::devnet::default_model()
    )]
    model: PathBuf,

    /// Decision rules to compare, comma-separated: greedy (prompt rule 1, `llm-llama`),
    /// scored, ordered (prompt rule 2, `llm-llama@2`), calibrated (`llm-llama@2-calibrated`).
    #[arg(long, value_delimiter = ',', default_value = "greedy,ordered", value_parser = parse_decoding)]
    decoding: Vec<Decoding>,

    /// Place the example pairs of each case's extra context as chat turns (prompt rule 3's
    /// layout, `llm-llama@3` with `ordered`) instead of in the system message.
    #[arg(long)]
    examples_as_turns: bool,

    /// Only cases of these groups (comma-separated).
    #[arg(long, value_delimiter = ',')]
    group: Vec<String>,

    /// At most this many cases per file (the first ones).
    #[arg(long)]
    limit: Option<usize>,

    /// Engine threads (results do not depend on it).
    #[arg(long, default_value = "2", value_parser = parse_threads)]
    threads: usize,
}

fn parse_decoding(s: &str) -> Result<Decoding, String> {
    Decoding::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Decoding::ALL.iter().map(|d| d.name()).collect();
        format!(
            "unknown decision rule {s:?}; choose from {}",
            names.join(", ")
        )
    })
}

/// Runs `aikernel eval`.
pub(crate) fn run(args: &EvalArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let files = if args.files.is_empty() {
        default_files(Path::new("evals"))?
    } else {
        args.files.clone()
    };
    let mut cases = Vec::new();
    for file in &files {
        let mut these = cases::read(file)?;
        if !args.group.is_empty() {
            these.retain(|c| args.group.contains(&c.group));
        }
        if let Some(limit) = args.limit {
            these.truncate(limit);
        }
        cases.extend(these);
    }
    if cases.is_empty() {
        bail!("no cases to run (files {files:?}, groups {:?})", args.group);
    }
    let layout = if args.examples_as_turns {
        Layout::ExamplesAsTurns
    } else {
        Layout::SystemOnly
    };
    let driver = LlmDriver::load(&args.model, args.threads)
        .with_context(|| format!("loading {}", args.model.display()))?
        .with_rule(PromptRule {
            decoding: Decoding::Greedy,
            layout,
        });
    let bar = progress(
        global.json || global.quiet,
        cases.len() * args.decoding.len(),
    );
    let mut outcomes = Vec::with_capacity(cases.len() * args.decoding.len());
    for &decoding in &args.decoding {
        for case in &cases {
            bar.set_message(format!("{} {}", decoding.name(), case.id));
            outcomes.push(evaluate(&driver, case, decoding)?);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let report = Report::new(&driver, &files, &cases, &args.decoding, outcomes);
    if global.json {
        crate::output::print_json(&report.to_json())?;
    } else {
        report.print();
    }
    Ok(())
}

/// Every `*.jsonl` in `dir`, sorted.
fn default_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "no eval files given and {} cannot be read (run from the repository root or name the files)",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no *.jsonl eval files in {}", dir.display());
    }
    Ok(files)
}

fn progress(hidden: bool, total: usize) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Runs one case under one rule; for a choice also with its options reversed.
fn evaluate(driver: &LlmDriver, case: &Case, decoding: Decoding) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let output = answer(driver, &case.schema, &case.request, decoding)
        .with_context(|| format!("{} ({})", case.origin, decoding.name()))?;
    let seconds = started.elapsed().as_secs_f64();
    let reversed = match case.schema.root() {
        Some(Node::Choice(options)) => {
            let mut options = options.clone();
            options.reverse();
            let schema = Schema::new(Node::Choice(options))?;
            let mut request = case.request.clone();
            request.schema = schema.encode();
            let other = answer(driver, &schema, &request, decoding)?;
            Some(label(&schema, &other) == label(&case.schema, &output))
        }
        _ => None,
    };
    Ok(Outcome::new(case, decoding, &output, seconds, reversed))
}

fn answer(
    driver: &LlmDriver,
    schema: &Schema,
    request: &aikernel_drivers::InferenceRequest,
    decoding: Decoding,
) -> anyhow::Result<Output> {
    let out = driver.run_with(request, decoding)?;
    decode_output(schema, &out.output).context("the driver's output does not decode")
}

/// The answer as a label: the option text, `true`/`false`, the number, the text, or
/// `error N`.
fn label(schema: &Schema, output: &Output) -> String {
    match output {
        Output::Error(code) => format!("error {code}"),
        Output::Value(aikernel_schema::Value::Choice(i)) => {
            cases::option(schema, *i).map_or_else(|| format!("option {i}"), str::to_owned)
        }
        Output::Value(aikernel_schema::Value::Bool(b)) => b.to_string(),
        Output::Value(aikernel_schema::Value::Int(v)) => v.to_string(),
        Output::Value(aikernel_schema::Value::Text(t)) => t.clone(),
        Output::Value(v) => format!("{v:?}"),
    }
}
