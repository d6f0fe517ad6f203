//! `aikernel model run|bench|quantize`: the deterministic engine from the command line.

use clap::Subcommand;

use crate::global::GlobalArgs;

/// Subcommands of `aikernel model`.
#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {}

/// Runs one `aikernel model` subcommand.
pub(crate) fn run(cmd: ModelCommand, _global: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {}
}
