//! The aikernel compute node: the program an operator runs.
//!
//! It checks the chain and its deployment, registers and stakes, fetches and verifies the
//! models it serves, then follows the kernel's events: for every prompt assigned to it, it
//! rebuilds the exact request from chain data, runs the deterministic driver on a compute
//! thread, commits, reveals, settles when due and collects its earnings. Salts are derived
//! from the key, outputs and the event checkpoint are kept on disk, so a node killed at any
//! point and restarted reveals what it committed. See `docs/node.md`.
#![forbid(unsafe_code)]

#[cfg(feature = "test-hooks")]
mod byzantine;
pub mod chain_reset;
pub mod clock;
pub mod compute;
pub mod config;
pub mod context;
pub mod context_log;
pub mod contracts;
pub mod daemon;
pub mod duty;
pub mod follow;
pub mod hardware;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod models;
pub mod protocol;
pub mod rejections;
pub mod stake;
pub mod standing;
pub mod tx;
pub mod upkeep;
pub mod verify;
mod work;
pub mod worker;

use std::path::PathBuf;

use alloy::primitives::B256;

#[cfg(feature = "test-hooks")]
pub use config::Byzantine;
pub use config::NodeConfig;
pub use daemon::{run, run_as};

/// The `tracing` target of the startup summary, which `aikernel node run` shows even at its
/// default (warnings-only) log level.
pub const SUMMARY_TARGET: &str = "aikernel::summary";

/// Everything that stops a node or one of its tasks.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file is invalid.
    #[error("config {}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The operator key is missing or invalid.
    #[error("key: {0}")]
    Key(String),
    /// The node cannot run with this chain, deployment or registration.
    #[error("{0}")]
    Misconfigured(String),
    /// The chain was replaced (a restarted devnet) by one without the deployment's kernel:
    /// refused at startup; a running node keeps polling until the kernel is there.
    #[error("{0}")]
    NoKernel(String),
    /// An RPC request failed.
    #[error("RPC error while {what}: {message}")]
    Rpc {
        /// What the node was doing.
        what: &'static str,
        /// The error.
        message: String,
    },
    /// A contract call failed.
    #[error("{what} failed: {message}")]
    Call {
        /// The call.
        what: &'static str,
        /// The error (decoded custom error when there is one).
        message: String,
        /// How it failed, classified when the error was made.
        kind: CallFailure,
    },
    /// A prompt's context chain could not be rebuilt or does not match its root.
    #[error("context: {0}")]
    Context(String),
    /// Off-chain data could not be resolved this time (a gateway or the disk failed): worth
    /// retrying.
    #[error("data {hash}: {reason}")]
    Data {
        /// Its sha256.
        hash: B256,
        /// Why.
        reason: String,
    },
    /// Off-chain data the request needs does not exist anywhere the node can look (no local
    /// copy, and no gateway has it): the request's answer is the deterministic error
    /// `InputUnavailable` (docs/protocol.md), not silence.
    #[error("data {hash} is unavailable: {reason}")]
    InputUnavailable {
        /// Its sha256.
        hash: B256,
        /// What every source said.
        reason: String,
    },
    /// A transaction failed.
    #[error(transparent)]
    Tx(#[from] tx::TxError),
    /// The model driver failed (node-local: the node does not commit).
    #[error("driver: {0}")]
    Driver(#[from] aikernel_drivers::DriverError),
    /// A model could not be fetched, verified or loaded.
    #[error("model {id}: {reason}")]
    Model {
        /// The model id.
        id: u64,
        /// Why.
        reason: String,
    },
}

/// How a contract call failed: decides whether it is worth retrying
/// ([`NodeError::is_transient`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFailure {
    /// No usable answer (connection, timeout, HTTP error, rate limit): worth retrying.
    Transport,
    /// The contract reverted: the chain's answer.
    Reverted,
    /// Anything else (an answer that does not decode, no contract at the address): final.
    Other,
}

impl CallFailure {
    /// The failure class of a contract call's error ([`tx::classify_call`]).
    pub fn of(e: &alloy::contract::Error) -> CallFailure {
        match tx::classify_call(e) {
            tx::TxErrorKind::Transport => CallFailure::Transport,
            tx::TxErrorKind::Reverted { .. } => CallFailure::Reverted,
            _ => CallFailure::Other,
        }
    }
}

impl NodeError {
    /// An RPC failure while doing `what`.
    pub fn rpc(what: &'static str, e: &alloy::transports::TransportError) -> NodeError {
        NodeError::Rpc {
            what,
            message: e.to_string(),
        }
    }

    /// A failed contract call, with its custom error decoded when possible.
    pub fn call(what: &'static str, e: &alloy::contract::Error) -> NodeError {
        let message = e
            .as_revert_data()
            .map_or_else(|| e.to_string(), |data| tx::decode_revert(&data));
        NodeError::Call {
            what,
            message,
            kind: CallFailure::of(e),
        }
    }

    /// True for failures worth retrying later (RPC trouble), false for definite answers.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            NodeError::Rpc { .. }
                | NodeError::Data { .. }
                | NodeError::Context(_)
                | NodeError::Tx(tx::TxError::Unavailable { .. })
                | NodeError::Call {
                    kind: CallFailure::Transport,
                    ..
                }
        )
    }
}

#[cfg(test)]
mod tests {
    use alloy::contract::Error;
    use alloy::transports::{HttpError, RpcError, TransportErrorKind};

    use super::{CallFailure, NodeError};

    fn call(e: &Error) -> NodeError {
        NodeError::call("promptInfo", e)
    }

    #[test]
    fn transport_failures_of_calls_are_transient() {
        let refused = TransportErrorKind::custom_str("error sending request: connection refused");
        let e = call(&Error::TransportError(refused));
        assert!(e.is_transient(), "{e}");
        let bad_gateway = RpcError::Transport(TransportErrorKind::HttpError(HttpError {
            status: 502,
            body: String::new(),
        }));
        assert!(call(&Error::TransportError(bad_gateway)).is_transient());
        assert!(call(&Error::TransportError(RpcError::NullResp)).is_transient());
    }

    #[test]
    fn reverts_and_local_failures_of_calls_are_final() {
        let data = format!("0xdeadbeef{:064x}", 7);
        let revert = RpcError::ErrorResp(
            serde_json::from_value(serde_json::json!({
                "code": 3, "message": "execution reverted", "data": data,
            }))
            .unwrap(),
        );
        let e = call(&Error::TransportError(revert));
        assert!(!e.is_transient(), "{e}");
        assert!(
            matches!(&e, NodeError::Call { kind: CallFailure::Reverted, message, .. }
                if message.starts_with("revert data 0xdeadbeef")),
            "{e:?}"
        );
        // A revert whose words mention a connection is still the chain's answer.
        let worded = RpcError::ErrorResp(
            serde_json::from_value(serde_json::json!({
                "code": 3, "message": "execution reverted: connection closed by the dapp",
            }))
            .unwrap(),
        );
        assert!(!call(&Error::TransportError(worded)).is_transient());
        assert!(!call(&Error::UnknownFunction("x".to_owned())).is_transient());
    }
}
