//! One classifier for the errors a client answers to the node's transactions, and the one
//! rule that turns a class into what the sender does next. Clients word their errors
//! differently (anvil "transaction already imported", geth "already known", hardhat "Known
//! transaction: 0x…"), so the texts are matched here, in one tested place, and nowhere else.

use alloy::primitives::Bytes;
use alloy::transports::{RpcError, TransportError};

/// What kind of failure an RPC error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxErrorKind {
    /// The contract reverted: with decodable revert data, or an "execution reverted"
    /// message. Retrying the same call cannot help.
    Reverted {
        /// The decoded custom error (`CommitClosed(3)`), or the client's message.
        reason: String,
    },
    /// The nonce was already used (mined): read the account's nonce again.
    NonceTooLow,
    /// The nonce is ahead of the account's (clients that cannot queue, e.g. hardhat
    /// automining): read the account's nonce again.
    NonceTooHigh,
    /// Another transaction with this nonce sits in the pool and the new fees do not beat
    /// it by the client's minimum increment.
    ReplacementUnderpriced,
    /// This very transaction (same hash) is already in the pool.
    AlreadyKnown,
    /// The account cannot pay gas x max fee + value.
    InsufficientFunds,
    /// The gas limit is too low: below the intrinsic cost, or the call needs more than the
    /// allowance (an estimate capped by a gas field, a block's gas limit).
    GasTooLow,
    /// The fees are below what the client accepts now: max fee under the block's base fee,
    /// or a tip under the pool's minimum.
    FeeCapTooLow,
    /// The RPC itself failed (connection, timeout, HTTP 5xx, rate limit, a full pool):
    /// worth retrying.
    Transport,
    /// Anything else the client refused: final.
    Other,
}

/// Classifies a client's error `message` (and its revert `data`, when it has some) by the
/// texts of anvil, geth, reth and hardhat. Case-insensitive.
pub fn classify(message: &str, data: Option<&Bytes>) -> TxErrorKind {
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        return TxErrorKind::Reverted {
            reason: super::decode_revert(data),
        };
    }
    let m = message.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    if has(&["revert"]) {
        return TxErrorKind::Reverted {
            reason: revert_reason(message),
        };
    }
    if has(&["nonce too low", "nonce is too low"]) {
        TxErrorKind::NonceTooLow
    } else if has(&["nonce too high", "nonce is too high"]) {
        TxErrorKind::NonceTooHigh
    } else if has(&[
        "replacement transaction underpriced",
        "replacement fee too low",
        "could not replace existing tx",
    ]) {
        TxErrorKind::ReplacementUnderpriced
    } else if has(&[
        "already known",
        "already imported",
        "known transaction",
        "alreadyknown",
    ]) {
        TxErrorKind::AlreadyKnown
    } else if has(&["insufficient funds", "enough funds"]) {
        TxErrorKind::InsufficientFunds
    } else if has(&[
        "intrinsic gas too low",
        "exceeds allowance",
        "out of gas",
        "outofgas",
        "requires at least",
    ]) {
        TxErrorKind::GasTooLow
    } else if has(&[
        "less than block base fee",
        "too low for the next block",
        "transaction underpriced",
        "below minimum",
        "below the minimum",
    ]) {
        TxErrorKind::FeeCapTooLow
    } else if has(&[
        "rate limit",
        "too many requests",
        "timeout",
        "timed out",
        "connection",
        "temporarily unavailable",
        "service unavailable",
        "bad gateway",
        "txpool is full",
        "try again",
    ]) {
        TxErrorKind::Transport
    } else {
        TxErrorKind::Other
    }
}

/// Classifies an error of an alloy RPC call: transport failures (no answer, HTTP errors, a
/// rate-limit answer) are [`TxErrorKind::Transport`]; an error answer goes through
/// [`classify`] with its revert data; a local failure (signing, serialising) is final.
pub fn classify_error(e: &TransportError) -> TxErrorKind {
    match e {
        RpcError::ErrorResp(resp) if resp.is_retry_err() => TxErrorKind::Transport,
        RpcError::ErrorResp(resp) => classify(&resp.message, resp.as_revert_data().as_ref()),
        RpcError::Transport(_) | RpcError::NullResp | RpcError::DeserError { .. } => {
            TxErrorKind::Transport
        }
        _ => TxErrorKind::Other,
    }
}

/// Classifies a failed contract call (an `eth_call`, mostly): an RPC error goes through
/// [`classify_error`]; a failure on this side (ABI decoding, no contract at the address, a
/// watcher) is [`TxErrorKind::Other`].
pub fn classify_call(e: &alloy::contract::Error) -> TxErrorKind {
    use alloy::contract::Error;
    use alloy::providers::PendingTransactionError;
    match e {
        Error::TransportError(e)
        | Error::PendingTransactionError(PendingTransactionError::TransportError(e)) => {
            classify_error(e)
        }
        _ => TxErrorKind::Other,
    }
}

/// The reason of a revert known only by its message: hardhat's `reverted with custom error
/// 'CommitClosed(3)'` gives `CommitClosed(3)` (so [`super::revert_name`] works), anything
/// else the message as it is.
fn revert_reason(message: &str) -> String {
    const CUSTOM: &str = "reverted with custom error '";
    message
        .find(CUSTOM)
        .map(|at| &message[at + CUSTOM.len()..])
        .and_then(|rest| rest.split_once('\''))
        .map_or_else(|| message.to_owned(), |(reason, _)| reason.to_owned())
}

/// What the sender does after a client refuses a copy of a transaction (an earlier copy's
/// receipt having been looked for first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// RPC trouble before anything is in the pool: pause and offer the same copy again
    /// (same nonce, same fees), within the retry budget.
    Retry,
    /// RPC trouble with copies already in the pool: keep waiting for them; the next
    /// replacement is due after the usual delay.
    Wait,
    /// Offer a replacement at the same nonce with fees raised by the bump rule above the
    /// refused copy's.
    Bump,
    /// The nonce is not this transaction's to use: read the account's nonce again and
    /// start over with fresh fees.
    Refresh,
    /// Final: return the error.
    GiveUp,
}

/// The sender's transition on a refusal of kind `kind`; `first` when no copy of this
/// transaction is known to be in the pool yet (the nonce was just read).
pub(super) fn on_refusal(kind: &TxErrorKind, first: bool) -> Action {
    match kind {
        TxErrorKind::Transport if first => Action::Retry,
        TxErrorKind::Transport => Action::Wait,
        // Under the first-send lock the pending count lagged, or (later) the nonce was
        // consumed: by one of our copies (its receipt is looked for first) or by another
        // transaction.
        TxErrorKind::NonceTooLow | TxErrorKind::NonceTooHigh => Action::Refresh,
        // A first copy meeting another transaction at its nonce: the pending count lagged.
        TxErrorKind::ReplacementUnderpriced if first => Action::Refresh,
        // Our previous copy needs a bigger step on this client; the same copy is already
        // pooled (an earlier offer whose answer was lost), so replace it by one whose hash
        // is known; or the fees fell under the base fee.
        TxErrorKind::ReplacementUnderpriced
        | TxErrorKind::AlreadyKnown
        | TxErrorKind::FeeCapTooLow => Action::Bump,
        TxErrorKind::Reverted { .. }
        | TxErrorKind::InsufficientFunds
        | TxErrorKind::GasTooLow
        | TxErrorKind::Other => Action::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, TxErrorKind, classify, classify_call, classify_error, on_refusal};
    use aikernel_chain::bindings::DecentralizedInference;
    use alloy::primitives::{Bytes, U256};
    use alloy::sol_types::SolError;
    use alloy::transports::{RpcError, TransportErrorKind};

    use TxErrorKind::{
        AlreadyKnown, FeeCapTooLow, GasTooLow, InsufficientFunds, NonceTooHigh, NonceTooLow, Other,
        ReplacementUnderpriced, Transport,
    };

    fn reverted(reason: &str) -> TxErrorKind {
        TxErrorKind::Reverted {
            reason: reason.to_owned(),
        }
    }

    fn check(cases: &[(&str, TxErrorKind)]) {
        for (message, want) in cases {
            assert_eq!(&classify(message, None), want, "{message}");
        }
    }

    /// The messages anvil 1.7.1 answers (captured from a running anvil, eth_sendTransaction
    /// and eth_sendRawTransaction alike; `anvil_errors_classify` provokes them live).
    #[test]
    fn classifies_anvil_texts() {
        check(&[
            ("nonce too low", NonceTooLow),
            (
                "replacement transaction underpriced",
                ReplacementUnderpriced,
            ),
            ("transaction already imported", AlreadyKnown),
            (
                "Insufficient funds for gas * price + value",
                InsufficientFunds,
            ),
            ("intrinsic gas too low", GasTooLow),
            (
                "Out of gas: gas required exceeds allowance: 600000",
                GasTooLow,
            ),
            ("EVM error OutOfGas", GasTooLow),
            ("max fee per gas less than block base fee", FeeCapTooLow),
            (
                "max priority fee per gas higher than max fee per gas",
                Other,
            ),
        ]);
        // A custom error: code 3, the message and the data.
        let message = "execution reverted: custom error 0xdeadbeef: \0\0\0\0\0\0\0\x07";
        let data = Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7]);
        assert_eq!(
            classify(message, Some(&data)),
            reverted("revert data 0xdeadbeef00000007")
        );
        assert_eq!(classify(message, None), reverted(message));
    }

    /// geth's texts (core/error.go, core/txpool/errors.go, the wrapping in
    /// core/txpool/validation.go and core/state_transition.go, eth/gasestimator).
    #[test]
    fn classifies_geth_texts() {
        check(&[
            ("nonce too low", NonceTooLow),
            ("nonce too low: next nonce 5, tx nonce 3", NonceTooLow),
            ("nonce too high", NonceTooHigh),
            (
                "replacement transaction underpriced",
                ReplacementUnderpriced,
            ),
            ("already known", AlreadyKnown),
            (
                "insufficient funds for gas * price + value",
                InsufficientFunds,
            ),
            (
                "insufficient funds for gas * price + value: balance 0, tx cost 21000, overshot 21000",
                InsufficientFunds,
            ),
            ("insufficient funds for transfer", InsufficientFunds),
            ("intrinsic gas too low", GasTooLow),
            (
                "intrinsic gas too low: gas 20000, minimum needed 21000",
                GasTooLow,
            ),
            ("gas required exceeds allowance (600000)", GasTooLow),
            ("out of gas", GasTooLow),
            ("max fee per gas less than block base fee", FeeCapTooLow),
            (
                "max fee per gas less than block base fee: address 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, maxFeePerGas: 1, baseFee: 7",
                FeeCapTooLow,
            ),
            ("transaction underpriced", FeeCapTooLow),
            (
                "transaction gas price below minimum: gas tip cap 1, minimum needed 1000000",
                FeeCapTooLow,
            ),
            ("txpool is full", Transport),
            ("exceeds block gas limit", Other),
            ("invalid sender", Other),
            ("execution reverted", reverted("execution reverted")),
            (
                "execution reverted: not the owner",
                reverted("execution reverted: not the owner"),
            ),
        ]);
    }

    /// hardhat's (EDR's) texts: mempool and provider errors.
    #[test]
    fn classifies_hardhat_texts() {
        check(&[
            (
                "Transaction nonce too low. Expected nonce to be at least 3 but got 1.",
                NonceTooLow,
            ),
            (
                "Nonce too low. Expected nonce to be 1 but got 0. Note that transactions can't be queued when automining.",
                NonceTooLow,
            ),
            (
                "Nonce too high. Expected nonce to be 0 but got 3. Note that transactions can't be queued when automining.",
                NonceTooHigh,
            ),
            (
                "Replacement transaction underpriced. A gasPrice/maxFeePerGas of at least 22 is necessary to replace the existing transaction with nonce 0.",
                ReplacementUnderpriced,
            ),
            (
                "Known transaction: 0x5ceeba6507bf7db0214a26a43d5d7dceb3ba7053af73e8e18bb28d3ff38e3dc1",
                AlreadyKnown,
            ),
            (
                "Sender doesn't have enough funds to send tx. The max upfront cost is: 42 and the sender's balance is: 0.",
                InsufficientFunds,
            ),
            (
                "Transaction requires at least 21000 gas but got 20000",
                GasTooLow,
            ),
            ("Transaction ran out of gas", GasTooLow),
            (
                "Transaction maxFeePerGas (1) is too low for the next block, which has a baseFeePerGas of 7",
                FeeCapTooLow,
            ),
            (
                "Transaction gas price is 1, which is below the minimum of 2",
                FeeCapTooLow,
            ),
            (
                "Transaction gas limit is 40000000 and exceeds block gas limit of 30000000",
                Other,
            ),
            (
                "VM Exception while processing transaction: reverted with custom error 'CommitClosed(3)'",
                reverted("CommitClosed(3)"),
            ),
            (
                "VM Exception while processing transaction: reverted with reason string 'nope'",
                reverted(
                    "VM Exception while processing transaction: reverted with reason string 'nope'",
                ),
            ),
        ]);
        assert_eq!(
            super::super::revert_name(
                match &classify(
                    "VM Exception while processing transaction: reverted with custom error 'CommitClosed(3)'",
                    None
                ) {
                    TxErrorKind::Reverted { reason } => reason,
                    other => panic!("{other:?}"),
                }
            ),
            "CommitClosed"
        );
    }

    #[test]
    fn classifies_transport_texts() {
        check(&[
            ("connection refused", Transport),
            ("request timed out", Transport),
            ("operation timeout", Transport),
            ("Too Many Requests", Transport),
            ("daily rate limit exceeded", Transport),
            ("503 Service Unavailable", Transport),
            ("502 Bad Gateway", Transport),
            ("something else entirely", Other),
        ]);
    }

    #[test]
    fn kernel_revert_data_is_decoded() {
        let data: Bytes = DecentralizedInference::CommitClosed {
            promptId: U256::from(3u8),
        }
        .abi_encode()
        .into();
        assert_eq!(
            classify("execution reverted", Some(&data)),
            reverted("CommitClosed(3)")
        );
        // Empty data is no revert data: the message decides.
        assert_eq!(classify("nonce too low", Some(&Bytes::new())), NonceTooLow);
    }

    /// An error answer, as alloy parses it from the client's JSON.
    fn answer(error: serde_json::Value) -> alloy::transports::TransportError {
        RpcError::ErrorResp(serde_json::from_value(error).unwrap())
    }

    fn plain(code: i64, message: &str) -> alloy::transports::TransportError {
        answer(serde_json::json!({ "code": code, "message": message }))
    }

    #[test]
    fn classifies_alloy_errors() {
        assert_eq!(
            classify_error(&TransportErrorKind::custom_str(
                "error sending request: connection refused"
            )),
            Transport
        );
        assert_eq!(
            classify_error(&RpcError::Transport(TransportErrorKind::HttpError(
                alloy::transports::HttpError {
                    status: 502,
                    body: String::new(),
                }
            ))),
            Transport
        );
        assert_eq!(classify_error(&RpcError::NullResp), Transport);
        // A rate limit answered as a JSON-RPC error is transport trouble, not a refusal.
        assert_eq!(classify_error(&plain(429, "Too Many Requests")), Transport);
        assert!(!super::super::is_rejection(&plain(
            429,
            "Too Many Requests"
        )));
        assert_eq!(
            classify_error(&plain(-32005, "project ID request rate exceeded")),
            Transport
        );
        assert_eq!(classify_error(&plain(-32003, "nonce too low")), NonceTooLow);
        let hex = format!("0xdeadbeef{:064x}", 7);
        let error = answer(serde_json::json!({
            "code": 3, "message": "execution reverted", "data": hex,
        }));
        assert_eq!(
            classify_error(&error),
            reverted(&format!("revert data {hex}"))
        );
        assert_eq!(
            classify_error(&RpcError::local_usage_str("signer refused")),
            Other
        );
    }

    #[test]
    fn classifies_contract_call_errors() {
        use alloy::contract::Error;
        let refused = TransportErrorKind::custom_str("error sending request: connection refused");
        assert_eq!(classify_call(&Error::TransportError(refused)), Transport);
        let hex = format!("0xdeadbeef{:064x}", 7);
        let revert = answer(serde_json::json!({
            "code": 3, "message": "execution reverted", "data": hex,
        }));
        assert_eq!(
            classify_call(&Error::TransportError(revert)),
            reverted(&format!("revert data {hex}"))
        );
        assert_eq!(
            classify_call(&Error::UnknownFunction("nope".to_owned())),
            Other
        );
    }

    #[test]
    fn refusals_map_to_actions() {
        let table = [
            (Transport, Action::Retry, Action::Wait),
            (NonceTooLow, Action::Refresh, Action::Refresh),
            (NonceTooHigh, Action::Refresh, Action::Refresh),
            (ReplacementUnderpriced, Action::Refresh, Action::Bump),
            (AlreadyKnown, Action::Bump, Action::Bump),
            (FeeCapTooLow, Action::Bump, Action::Bump),
            (InsufficientFunds, Action::GiveUp, Action::GiveUp),
            (GasTooLow, Action::GiveUp, Action::GiveUp),
            (Other, Action::GiveUp, Action::GiveUp),
            (reverted("CommitClosed(3)"), Action::GiveUp, Action::GiveUp),
        ];
        for (kind, first, later) in table {
            assert_eq!(on_refusal(&kind, true), first, "{kind:?} on a first copy");
            assert_eq!(on_refusal(&kind, false), later, "{kind:?} on a replacement");
        }
    }
}
