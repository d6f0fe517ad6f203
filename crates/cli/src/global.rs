//! Arguments shared by every subcommand (the foundry habit: one global-args struct).

use std::path::PathBuf;

use clap::{ArgAction, Args};

/// Options every `aikernel` subcommand accepts.
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// Print machine-readable JSON instead of human-readable tables.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) json: bool,

    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = ArgAction::Count, global = true, help_heading = "Global options")]
    pub(crate) verbose: u8,

    /// Less output: errors only.
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Global options"
    )]
    pub(crate) quiet: bool,

    /// JSON-RPC endpoint of the chain.
    #[arg(
        long,
        global = true,
        env = "AIKERNEL_RPC",
        default_value = "http://127.0.0.1:8545",
        help_heading = "Global options"
    )]
    pub(crate) rpc: String,

    /// Deployment file with the kernel's contract addresses.
    #[arg(
        long,
        global = true,
        env = "AIKERNEL_DEPLOYMENT",
        default_value = ".aikernel/deployment.json",
        help_heading = "Global options"
    )]
    pub(crate) deployment: PathBuf,
}

impl GlobalArgs {
    /// The `tracing` filter these flags ask for (RUST_LOG wins when set).
    pub(crate) fn log_filter(&self) -> &'static str {
        if self.quiet {
            return "error";
        }
        match self.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    }
}
