//! Sends the node's transactions so that a flaky RPC, a nonce gap or a fee spike costs
//! nothing: nonces from the chain's pending count (pipelined: several transactions per
//! block), gas from an estimate with a margin, retries with backoff on transport errors, and
//! same-nonce replacement with higher fees when a transaction next in line sits unmined.

use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::transports::TransportError;
use tokio::sync::Mutex;

/// Why a transaction did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The chain rejects the call itself (estimate or receipt): retrying cannot help.
    #[error("{what} reverted: {reason}")]
    Reverted {
        /// What the node tried to do.
        what: String,
        /// The decoded custom error, or the node's message.
        reason: String,
    },
    /// The RPC kept failing past the retry budget.
    #[error("{what}: RPC unavailable after {attempts} attempts: {last}")]
    Unavailable {
        /// What the node tried to do.
        what: String,
        /// Attempts made.
        attempts: u32,
        /// The last transport error.
        last: String,
    },
    /// The fee cap stops a needed replacement.
    #[error("{what}: fees above the configured cap of {cap_gwei} gwei")]
    FeeCap {
        /// What the node tried to do.
        what: String,
        /// The cap.
        cap_gwei: u64,
    },
}

impl TxError {
    /// The decoded revert reason, when the chain rejected the call.
    pub fn revert_reason(&self) -> Option<&str> {
        match self {
            TxError::Reverted { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Settings of the sender (from the node config).
#[derive(Debug, Clone)]
pub struct TxSettings {
    /// Gas limit = estimate x margin / 100.
    pub gas_margin_percent: u64,
    /// Replace an unmined transaction after this long.
    pub replace_after: Duration,
    /// Highest max fee per gas, in wei.
    pub max_fee_wei: u128,
    /// Receipt poll interval.
    pub poll: Duration,
    /// How long transport errors are retried before giving up.
    pub retry_budget: Duration,
}

/// Sends the transactions of one account.
#[derive(Debug)]
pub struct TxSender {
    provider: DynProvider,
    from: Address,
    settings: TxSettings,
    first_send: Mutex<()>,
}

impl TxSender {
    /// A sender for `from`, whose key is in `provider`'s wallet.
    pub fn new(provider: DynProvider, from: Address, settings: TxSettings) -> TxSender {
        TxSender {
            provider,
            from,
            settings,
            first_send: Mutex::new(()),
        }
    }

    /// Sends `tx` and waits for its receipt; a mined revert is an error. The gas limit is
    /// the estimate times the margin, or `tx.gas` when that is higher (a floor for calls
    /// whose cost depends on transactions mined just before them).
    ///
    /// Transactions of one node are pipelined: the nonce is read from the chain's pending
    /// count and the first copy sent under one lock, so several transactions can wait in
    /// the same block and a reorg or a dropped transaction never leaves a gap. A transaction
    /// keeps its nonce through fee-bumped replacements, which happen only when it is next in
    /// line; if its nonce is consumed by anything else it starts over with a fresh one.
    pub async fn send(
        &self,
        what: &str,
        tx: TransactionRequest,
    ) -> Result<TransactionReceipt, TxError> {
        let tx = tx.with_from(self.from);
        let gas = self
            .retry(what, || self.provider.estimate_gas(tx.clone()))
            .await?;
        let gas_limit = (gas.saturating_mul(self.settings.gas_margin_percent) / 100)
            .max(tx.gas.unwrap_or_default());
        let mut nonce = 0;
        let mut sent: Vec<B256> = Vec::new();
        let mut bump: u128 = 100;
        loop {
            let fees = self
                .retry(what, || self.provider.estimate_eip1559_fees())
                .await?;
            let max_fee = fees.max_fee_per_gas * bump / 100;
            let tip = (fees.max_priority_fee_per_gas * bump / 100).min(max_fee);
            if max_fee > self.settings.max_fee_wei {
                return Err(TxError::FeeCap {
                    what: what.to_owned(),
                    cap_gwei: (self.settings.max_fee_wei / 1_000_000_000) as u64,
                });
            }
            let first = sent.is_empty();
            let guard = if first {
                let guard = self.first_send.lock().await;
                nonce = self
                    .retry(what, || {
                        self.provider.get_transaction_count(self.from).pending()
                    })
                    .await?;
                Some(guard)
            } else {
                None
            };
            let request = tx
                .clone()
                .with_nonce(nonce)
                .with_gas_limit(gas_limit)
                .with_max_fee_per_gas(max_fee)
                .with_max_priority_fee_per_gas(tip);
            let result = self.provider.send_transaction(request).await;
            drop(guard);
            match result {
                Ok(pending) => sent.push(*pending.tx_hash()),
                Err(e) if is_rejection(&e) => {
                    if let Some(receipt) = self.find_receipt(&sent).await {
                        return finish(what, receipt);
                    }
                    let message = e.to_string().to_lowercase();
                    let occupied = message.contains("nonce")
                        || message.contains("underpriced")
                        || message.contains("replacement")
                        || message.contains("already known");
                    if !occupied {
                        return Err(TxError::Reverted {
                            what: what.to_owned(),
                            reason: reason_of(&e),
                        });
                    }
                    if first {
                        // The pending count lagged (another transaction holds the nonce):
                        // read it again.
                        tracing::debug!(what, nonce, error = %message, "nonce taken; reading it again");
                    } else {
                        tracing::warn!(what, nonce, error = %message, "replacement refused; bumping fees");
                        bump = bump.saturating_add(25);
                    }
                    tokio::time::sleep(self.settings.poll).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(what, nonce, error = %e, "sending failed, retrying");
                    tokio::time::sleep(self.settings.poll * 2).await;
                    if let Some(receipt) = self.find_receipt(&sent).await {
                        return finish(what, receipt);
                    }
                    continue;
                }
            }
            let deadline = tokio::time::Instant::now() + self.settings.replace_after;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(self.settings.poll).await;
                if let Some(receipt) = self.find_receipt(&sent).await {
                    return finish(what, receipt);
                }
            }
            match self
                .provider
                .get_transaction_count(self.from)
                .latest()
                .await
            {
                Ok(mined) if mined > nonce => {
                    // The nonce was consumed, not by one of our copies: start over.
                    tokio::time::sleep(self.settings.poll).await;
                    if let Some(receipt) = self.find_receipt(&sent).await {
                        return finish(what, receipt);
                    }
                    tracing::warn!(
                        what,
                        nonce,
                        "nonce consumed by another transaction; resending with a fresh one"
                    );
                    sent.clear();
                    bump = 100;
                }
                Ok(mined) if mined == nonce => {
                    tracing::warn!(
                        what,
                        nonce,
                        "transaction next in line but not mined; replacing it with higher fees"
                    );
                    bump = bump.saturating_add(25);
                }
                Ok(_) => {
                    // Behind earlier transactions: fine while they are executable; if the
                    // pending count stops short of this nonce, a dropped transaction left a
                    // gap (e.g. a reorg), so take the first free nonce instead.
                    let pending = self
                        .provider
                        .get_transaction_count(self.from)
                        .pending()
                        .await;
                    if pending.is_ok_and(|p| p < nonce) {
                        tracing::warn!(
                            what,
                            nonce,
                            "nonce gap below this transaction; resending with a fresh nonce"
                        );
                        sent.clear();
                        bump = 100;
                    }
                }
                Err(e) => {
                    tracing::debug!(what, nonce, error = %e, "could not read the nonce; waiting");
                }
            }
        }
    }

    /// The receipt of whichever of `hashes` was mined, if any.
    async fn find_receipt(&self, hashes: &[B256]) -> Option<TransactionReceipt> {
        for hash in hashes {
            if let Ok(Some(receipt)) = self.provider.get_transaction_receipt(*hash).await {
                return Some(receipt);
            }
        }
        None
    }

    /// Runs an RPC call, retrying transport errors with exponential backoff; an error
    /// answer from the node (a revert) is final.
    async fn retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, TxError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::IntoFuture<Output = Result<T, TransportError>>,
    {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match call().into_future().await {
                Ok(value) => return Ok(value),
                Err(e) if is_rejection(&e) => {
                    return Err(TxError::Reverted {
                        what: what.to_owned(),
                        reason: reason_of(&e),
                    });
                }
                Err(e) => {
                    if started.elapsed() > self.settings.retry_budget {
                        return Err(TxError::Unavailable {
                            what: what.to_owned(),
                            attempts,
                            last: e.to_string(),
                        });
                    }
                    tracing::warn!(what, error = %e, ?delay, "RPC error, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

fn finish(what: &str, receipt: TransactionReceipt) -> Result<TransactionReceipt, TxError> {
    if receipt.status() {
        Ok(receipt)
    } else {
        Err(TxError::Reverted {
            what: what.to_owned(),
            reason: format!("transaction {} reverted", receipt.transaction_hash),
        })
    }
}

/// True when the RPC answered with an error (the call itself failed), as opposed to a
/// transport failure worth retrying.
pub fn is_rejection(e: &TransportError) -> bool {
    e.as_error_resp().is_some()
}

/// The custom error of a rejected call, decoded against every kernel contract, or the
/// RPC's message.
pub fn reason_of(e: &TransportError) -> String {
    let Some(resp) = e.as_error_resp() else {
        return e.to_string();
    };
    match resp.as_revert_data() {
        Some(data) => decode_revert(&data),
        None => resp.message.to_string(),
    }
}

/// Names a revert by its custom error, `CommitClosed(3)`, else shows the raw bytes.
pub fn decode_revert(data: &Bytes) -> String {
    aikernel_chain::errors::decode_revert(data).unwrap_or_else(|| format!("revert data {data}"))
}

/// The error name alone (`CommitClosed`), for matching.
pub fn revert_name(reason: &str) -> &str {
    reason.split('(').next().unwrap_or(reason)
}
