//! `aikernel completions SHELL`: a completion script for bash, zsh, fish, elvish or
//! PowerShell, generated from the command definitions (clap_complete), so it never drifts.

use clap::Args;
use clap_complete::Shell;

use crate::output::write_stdout;

/// Arguments of `aikernel completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

/// Writes the script for `args.shell` to stdout.
pub(crate) fn run(args: &CompletionsArgs, command: &mut clap::Command) {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, command, "aikernel", &mut script);
    write_stdout(format_args!("{}", String::from_utf8_lossy(&script)));
}
