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

/// Parses a `--threads` count for clap: 1 up to [`thread_limit`] (four per core, at most
/// 256), so that a typo such as `--threads 1000` is refused instead of running for minutes.
///
/// [`thread_limit`]: aikernel_engine::kernels::thread_limit
pub(crate) fn parse_threads(s: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a thread count"))?;
    let limit = aikernel_engine::kernels::thread_limit();
    if n == 0 {
        return Err("at least 1 thread is needed".into());
    }
    if n > limit {
        return Err(format!(
            "{n} threads is above the limit of {limit} on this machine (4 per core, at most {})",
            aikernel_engine::kernels::MAX_THREADS
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::parse_threads;

    #[test]
    fn thread_counts_are_bounded() {
        let limit = aikernel_engine::kernels::thread_limit();
        assert_eq!(parse_threads("1"), Ok(1));
        assert_eq!(parse_threads(&limit.to_string()), Ok(limit));
        let err = parse_threads(&(limit + 1).to_string()).unwrap_err();
        assert!(err.contains(&(limit + 1).to_string()) && err.contains(&limit.to_string()));
        assert!(parse_threads("1000").unwrap_err().contains("1000"));
        assert!(parse_threads("0").is_err());
        assert!(parse_threads("many").unwrap_err().contains("many"));
    }
}
