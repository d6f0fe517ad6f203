//! Sends the node's transactions so that a flaky RPC, a nonce gap or a fee spike costs
//! nothing: nonces from the chain's pending count (pipelined: several transactions per
//! block), gas from an estimate with a margin, retries with backoff on transport errors, and
//! same-nonce replacement with higher fees when a transaction next in line sits unmined.
//!
//! A client's errors are classified in one place (`classify`), which also holds the
//! transition table of the sender's states; the gas limit and each copy's fees are pure
//! functions (`fees`).

use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::transports::TransportError;
use tokio::sync::Mutex;

mod classify;
mod fees;

#[cfg(test)]
mod anvil_tests;

use classify::{Action, on_refusal};
pub use classify::{TxErrorKind, classify, classify_call, classify_error};
use fees::{Fees, gas_limit, next_fees};

/// Why a transaction did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The contract rejects the call itself (estimate or receipt): retrying cannot help.
    #[error("{what} reverted: {reason}")]
    Reverted {
        /// What the node tried to do.
        what: String,
        /// The decoded custom error, or the node's message.
        reason: String,
    },
    /// The client refuses the transaction for a reason other than a revert (insufficient
    /// funds, a gas limit above the block's, ...): retrying the same transaction cannot help.
    #[error("{what} refused: {reason}")]
    Refused {
        /// What the node tried to do.
        what: String,
        /// The client's error.
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

    /// The error for a refusal of kind `kind`.
    fn refused(what: &str, e: &TransportError, kind: TxErrorKind) -> TxError {
        match kind {
            TxErrorKind::Reverted { reason } => TxError::Reverted {
                what: what.to_owned(),
                reason,
            },
            _ => TxError::Refused {
                what: what.to_owned(),
                reason: e.to_string(),
            },
        }
    }
}

/// Settings of the sender (from the node config).
#[derive(Debug, Clone)]
pub struct TxSettings {
    /// Gas limit = estimate x margin / 100, or the request's gas limit (a floor) when higher.
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

/// Where a transaction is in its life: the states of [`TxSender::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Read the nonce from the pending count and offer the first copy, under the
    /// first-send lock.
    Fresh,
    /// Offer a copy at the same nonce with fees raised above the last copy's.
    Replace,
    /// Copies are in the pool: watch for a receipt, and when none comes in time, decide
    /// from the account's nonce.
    Wait,
}

/// An RPC call that did not succeed.
/// What the sender knows about the nonce it is filling.
#[derive(Debug, Default)]
struct Slot {
    nonce: u64,
    /// Hashes of the copies known to be in the pool at `nonce`.
    sent: Vec<B256>,
    /// Whether a copy of ours may be in the pool at `nonce` (known or not).
    pooled: bool,
    /// The fees of the last copy offered at `nonce`.
    last: Option<Fees>,
}

impl Slot {
    /// Forgets the copies: the next one takes a fresh nonce.
    fn start_over(&mut self) {
        self.sent.clear();
        self.pooled = false;
        self.last = None;
    }
}

/// Where the sender goes after a refusal.
#[derive(Debug)]
enum Next {
    /// One of the copies was mined after all.
    Mined(Box<TransactionReceipt>),
    /// The next state.
    Go(State),
}

enum Failure {
    /// The client answered with an error that is not transport trouble.
    Refused(TransportError, TxErrorKind),
    /// Transport errors past the retry budget.
    Unavailable(TxError),
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
    /// the estimate times the margin, or `tx.gas` when that is higher: a floor for calls
    /// whose cost depends on transactions mined just before them, never a cap (the estimate
    /// is made without it).
    ///
    /// Transactions of one node are pipelined: the nonce is read from the chain's pending
    /// count and the first copy sent under one lock, so several transactions can wait in
    /// the same block and a reorg or a dropped transaction never leaves a gap. A transaction
    /// keeps its nonce through fee-bumped replacements, which happen only when it is next in
    /// line; if its nonce is consumed by anything else it starts over with a fresh one.
    /// What follows a client's refusal is decided by [`classify_error`] and one transition
    /// table (retry, replace with higher fees, read the nonce again, or give up).
    pub async fn send(
        &self,
        what: &str,
        tx: TransactionRequest,
    ) -> Result<TransactionReceipt, TxError> {
        let tx = self.with_gas_limit(what, tx).await?;
        let mut slot = Slot::default();
        let mut state = State::Fresh;
        loop {
            let next = if state == State::Wait {
                match self.wait(what, slot.nonce, &slot.sent).await {
                    Ok(receipt) => return finish(what, receipt),
                    Err(next) => next,
                }
            } else {
                let first = !slot.pooled;
                let (fees, result) = self.offer_next(what, &tx, state, &mut slot).await?;
                slot.last = Some(fees);
                match result {
                    Ok(hash) => {
                        tracing::debug!(what, nonce = slot.nonce, %hash, max_fee = fees.max_fee, tip = fees.tip, "transaction sent");
                        slot.sent.push(hash);
                        slot.pooled = true;
                        State::Wait
                    }
                    Err(Failure::Unavailable(e)) => return Err(e),
                    Err(Failure::Refused(e, kind)) => {
                        match self.after_refusal(what, &mut slot, &e, kind, first).await? {
                            Next::Mined(receipt) => return finish(what, *receipt),
                            Next::Go(next) => next,
                        }
                    }
                }
            };
            if next == State::Fresh {
                slot.start_over();
            }
            state = next;
        }
    }

    /// `tx` from this account with its gas limit: the estimate plus the margin, never below
    /// the floor the caller put in `tx.gas` (which is not a cap on the estimate).
    async fn with_gas_limit(
        &self,
        what: &str,
        tx: TransactionRequest,
    ) -> Result<TransactionRequest, TxError> {
        let mut tx = tx.with_from(self.from);
        let floor = tx.gas.take().unwrap_or_default();
        let estimate = self
            .retry(what, || self.provider.estimate_gas(tx.clone()))
            .await?;
        Ok(tx.with_gas_limit(gas_limit(estimate, self.settings.gas_margin_percent, floor)))
    }

    /// Offers the next copy in `state` (`Fresh` or `Replace`): its fees and what the client
    /// answered. A fresh copy takes its nonce from the pending count under the first-send
    /// lock.
    async fn offer_next(
        &self,
        what: &str,
        tx: &TransactionRequest,
        state: State,
        slot: &mut Slot,
    ) -> Result<(Fees, Result<B256, Failure>), TxError> {
        if state == State::Fresh {
            let fees = self.fees(what, None).await?;
            let guard = self.first_send.lock().await;
            slot.nonce = self
                .retry(what, || {
                    self.provider.get_transaction_count(self.from).pending()
                })
                .await?;
            // Transport trouble is retried under the lock, at the same nonce, so a copy
            // whose answer was lost is met again (already known) rather than doubled at
            // the next nonce.
            let result = self
                .attempt(what, || self.offer(tx, slot.nonce, fees))
                .await;
            drop(guard);
            Ok((fees, result))
        } else {
            let fees = self.fees(what, slot.last).await?;
            let result = self.offer(tx, slot.nonce, fees).await.map_err(|e| {
                let kind = classify_error(&e);
                Failure::Refused(e, kind)
            });
            Ok((fees, result))
        }
    }

    /// What follows a refused copy: a copy already mined, or the next state from the
    /// transition table ([`on_refusal`]); giving up is the error.
    async fn after_refusal(
        &self,
        what: &str,
        slot: &mut Slot,
        e: &TransportError,
        kind: TxErrorKind,
        first: bool,
    ) -> Result<Next, TxError> {
        if let Some(receipt) = self.find_receipt(&slot.sent).await {
            return Ok(Next::Mined(Box::new(receipt)));
        }
        let action = on_refusal(&kind, first);
        tracing::warn!(what, nonce = slot.nonce, error = %e, ?kind, ?action, "transaction refused");
        Ok(Next::Go(match action {
            // (A first copy's transport trouble is retried inside `attempt`.)
            Action::Retry | Action::Wait => {
                // The copy may have reached the pool all the same.
                slot.pooled = true;
                State::Wait
            }
            Action::Bump => {
                slot.pooled |= kind == TxErrorKind::AlreadyKnown;
                tokio::time::sleep(self.settings.poll).await;
                State::Replace
            }
            Action::Refresh => {
                tokio::time::sleep(self.settings.poll).await;
                if let Some(receipt) = self.find_receipt(&slot.sent).await {
                    return Ok(Next::Mined(Box::new(receipt)));
                }
                State::Fresh
            }
            Action::GiveUp => return Err(TxError::refused(what, e, kind)),
        }))
    }

    /// Offers one copy of `tx` at `nonce` with `fees`; its hash when the client takes it.
    async fn offer(
        &self,
        tx: &TransactionRequest,
        nonce: u64,
        fees: Fees,
    ) -> Result<B256, TransportError> {
        let request = tx
            .clone()
            .with_nonce(nonce)
            .with_max_fee_per_gas(fees.max_fee)
            .with_max_priority_fee_per_gas(fees.tip);
        self.provider
            .send_transaction(request)
            .await
            .map(|pending| *pending.tx_hash())
    }

    /// The fees of the next copy: the chain's estimate, above `last` when replacing it.
    async fn fees(&self, what: &str, last: Option<Fees>) -> Result<Fees, TxError> {
        let fresh = self
            .retry(what, || self.provider.estimate_eip1559_fees())
            .await?;
        let fresh = Fees {
            max_fee: fresh.max_fee_per_gas,
            tip: fresh.max_priority_fee_per_gas,
        };
        next_fees(fresh, last, self.settings.max_fee_wei).ok_or_else(|| TxError::FeeCap {
            what: what.to_owned(),
            cap_gwei: (self.settings.max_fee_wei / 1_000_000_000) as u64,
        })
    }

    /// Watches the copies in `sent` until one is mined (its receipt) or the replacement
    /// delay passes; then the next state, from the account's nonce.
    async fn wait(
        &self,
        what: &str,
        nonce: u64,
        sent: &[B256],
    ) -> Result<TransactionReceipt, State> {
        let deadline = tokio::time::Instant::now() + self.settings.replace_after;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(self.settings.poll).await;
            if let Some(receipt) = self.find_receipt(sent).await {
                return Ok(receipt);
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
                if let Some(receipt) = self.find_receipt(sent).await {
                    return Ok(receipt);
                }
                tracing::warn!(
                    what,
                    nonce,
                    "nonce consumed by another transaction; resending with a fresh one"
                );
                Err(State::Fresh)
            }
            Ok(mined) if mined == nonce => {
                tracing::warn!(
                    what,
                    nonce,
                    "transaction next in line but not mined; replacing it with higher fees"
                );
                Err(State::Replace)
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
                    Err(State::Fresh)
                } else {
                    Err(State::Wait)
                }
            }
            Err(e) => {
                tracing::debug!(what, nonce, error = %e, "could not read the nonce; waiting");
                Err(State::Wait)
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
    /// answer from the node (a revert, a refusal) is final.
    async fn retry<T, F, Fut>(&self, what: &str, call: F) -> Result<T, TxError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::IntoFuture<Output = Result<T, TransportError>>,
    {
        self.attempt(what, call)
            .await
            .map_err(|failure| match failure {
                Failure::Refused(e, kind) => TxError::refused(what, &e, kind),
                Failure::Unavailable(e) => e,
            })
    }

    /// [`TxSender::retry`], returning a refusal with its kind for the caller to decide.
    async fn attempt<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::IntoFuture<Output = Result<T, TransportError>>,
    {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let e = match call().into_future().await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let kind = classify_error(&e);
            if kind != TxErrorKind::Transport {
                return Err(Failure::Refused(e, kind));
            }
            if started.elapsed() > self.settings.retry_budget {
                return Err(Failure::Unavailable(TxError::Unavailable {
                    what: what.to_owned(),
                    attempts,
                    last: e.to_string(),
                }));
            }
            tracing::warn!(what, error = %e, ?delay, "RPC error, retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
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
/// transport failure worth retrying (see [`classify_error`]).
pub fn is_rejection(e: &TransportError) -> bool {
    classify_error(e) != TxErrorKind::Transport
}

/// The custom error of a rejected call, decoded against every kernel contract, or the
/// RPC's message.
pub fn reason_of(e: &TransportError) -> String {
    match classify_error(e) {
        TxErrorKind::Reverted { reason } => reason,
        _ => e
            .as_error_resp()
            .map_or_else(|| e.to_string(), |resp| resp.message.to_string()),
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
