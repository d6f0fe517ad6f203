//! One module per subcommand group.

use std::path::Path;

use aikernel_chain::Deployment;

use crate::output::outln;

pub(crate) mod completions;
pub(crate) mod demo;
pub(crate) mod deploy;
pub(crate) mod devnet;
pub(crate) mod eval;
pub(crate) mod explorer;
pub(crate) mod model;
pub(crate) mod models;
pub(crate) mod node;
pub(crate) mod nodes;
pub(crate) mod prompt;
pub(crate) mod security;
pub(crate) mod stake;
pub(crate) mod status;
pub(crate) mod verify;

/// Prints a deployment as a human-readable table.
pub(crate) fn print_deployment(deployment: &Deployment, file: &Path) {
    let rows = [
        ("DecentralizedInference", deployment.kernel),
        ("PromptScheduler", deployment.scheduler),
        ("GPUManagement", deployment.gpu),
        ("ModelFileSystem", deployment.models),
        ("ContextManager", deployment.context),
        ("EAI", deployment.eai),
        ("treasury", deployment.treasury),
    ];
    outln!(
        "kernel on chain {} (from block {}):",
        deployment.chain_id,
        deployment.start_block
    );
    for (name, address) in rows {
        outln!("  {name:<24} {address}");
    }
    outln!("deployment written to {}", file.display());
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
