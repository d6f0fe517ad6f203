//! `aikernel`: the command-line interface to the AI kernel for Ethereum.
#![forbid(unsafe_code)]

mod commands;
mod files;
mod global;
mod keys;
mod output;
mod rpc;

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::global::GlobalArgs;

/// An AI kernel for Ethereum: verified, typed LLM inference for smart contracts.
#[derive(Debug, Parser)]
#[command(name = "aikernel", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole system in one command: chain, kernel, model, three nodes and every
    /// example dapp; then keeps the network up until Ctrl-C.
    Demo(commands::demo::DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(commands::completions::CompletionsArgs),
    /// Deploy the kernel to an EVM chain by RPC URL and key; writes the deployment file.
    Deploy(commands::deploy::DeployArgs),
    /// Start a local chain with the kernel deployed and the default model registered.
    Devnet(commands::devnet::DevnetArgs),
    /// Measure a model's typed answers on labelled cases (accuracy, order consistency,
    /// cost) through the exact driver path nodes use, per decision rule; offline.
    Eval(commands::eval::EvalArgs),
    /// Serve a web page that reads the kernel live: prompts, committees, timelines, nodes,
    /// models, network figures, and a re-verify button (opens no browser; logs its URL).
    Explorer(commands::explorer::ExplorerArgs),
    /// Run, benchmark and quantize models with the deterministic engine.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Submit a prompt to the kernel (--wait follows it to the settled, typed result);
    /// `prompt wait ID` follows an existing one, `prompt show ID` prints its history.
    Prompt(commands::prompt::PromptCommand),
    /// The model registry: list or register models.
    #[command(subcommand)]
    Models(commands::models::ModelsCommand),
    /// The compute nodes: stake, standing, hardware, earnings.
    #[command(subcommand)]
    Nodes(commands::nodes::NodesCommand),
    /// The protocol's security as numbers: probability a prompt settles a wrong answer,
    /// attacker's expected profit, stake needed.
    Security(commands::security::SecurityArgs),
    /// A node's stake: add, unbond, withdraw (with the node's key; amounts in EAI).
    #[command(subcommand)]
    Stake(commands::stake::StakeCommand),
    /// A summary of the network: prompts, nodes, stake, rewards, EAI, treasury.
    Status(commands::status::StatusArgs),
    /// Run a compute node.
    #[command(subcommand)]
    Node(commands::node::NodeCommand),
    /// Re-run a settled prompt from chain data and check its output is the honest one.
    Verify(commands::verify::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A running node says what it is doing at startup even at the default level.
    let daemon = matches!(
        cli.command,
        Command::Node(commands::node::NodeCommand::Run(_))
    );
    let default = match cli.global.log_filter() {
        "warn" if daemon => format!("warn,{}=info", aikernel_node::SUMMARY_TARGET),
        level => level.to_owned(),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    // A failed stdout write unwinds here (see output::write_stdout); any other panic goes on.
    match std::panic::catch_unwind(AssertUnwindSafe(|| dispatch(cli))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("error: {}", output::error_chain(&err));
            ExitCode::FAILURE
        }
        Err(payload) => match payload.downcast::<output::StdoutFailed>() {
            Ok(failed) => output::stdout_failed(&failed.0),
            Err(payload) => std::panic::resume_unwind(payload),
        },
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Completions(args) => {
            commands::completions::run(&args, &mut Cli::command());
            Ok(())
        }
        Command::Demo(args) => commands::demo::run(&args, &cli.global),
        Command::Deploy(args) => commands::deploy::run(&args, &cli.global),
        Command::Devnet(args) => commands::devnet::run(&args, &cli.global),
        Command::Model(cmd) => commands::model::run(cmd, &cli.global),
        Command::Prompt(args) => commands::prompt::run(&args, &cli.global),
        Command::Models(cmd) => commands::models::run(&cmd, &cli.global),
        Command::Nodes(cmd) => commands::nodes::run(&cmd, &cli.global),
        Command::Security(args) => commands::security::run(&args, &cli.global),
        Command::Stake(cmd) => commands::stake::run(&cmd, &cli.global),
        Command::Status(args) => commands::status::run(&args, &cli.global),
        Command::Node(cmd) => commands::node::run(cmd, &cli.global),
        Command::Verify(args) => commands::verify::run(&args, &cli.global),
        Command::Eval(args) => commands::eval::run(&args, &cli.global),
        Command::Explorer(args) => commands::explorer::run(&args, &cli.global),
    }
}
