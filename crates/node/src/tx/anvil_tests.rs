//! The sender and the classifier against a real anvil (`.tools/bin/anvil`, 1.7.1): the
//! errors it really answers, a gas floor below what a call needs, replacements until mined.

use std::time::Duration;

use aikernel_chain::bindings::DecentralizedInference;
use aikernel_chain::tools::foundry_bin;
use alloy::consensus::Transaction as _;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolError;
use alloy::transports::TransportError;

use super::fees::bump;
use super::{
    TxError, TxErrorKind, TxSender, TxSettings, classify_error, is_rejection, reason_of,
    revert_name,
};

/// A contract (Yul) whose call with a 32-byte argument `n` increments storage slots
/// `0..n` (about 22,000 gas each, so `n = 40` needs about 900,000 gas), and whose call with
/// any other calldata reverts with that calldata as the revert data.
const BURN_INITCODE: &str = "602880600a5f395ff3fe602036036020575f355f5b818110601257005b80600180925401815501600a565b365f8037365ffd";

const GWEI: u128 = 1_000_000_000;

fn anvil(args: &[&str]) -> AnvilInstance {
    Anvil::new()
        .path(
            foundry_bin("anvil")
                .expect("anvil: set AIKERNEL_FOUNDRY_BIN or run ./scripts/setup.sh"),
        )
        .args(args)
        .try_spawn()
        .expect("anvil must start: run ./scripts/setup.sh first")
}

/// A provider signing as `key`, built as the daemon builds its own.
fn provider(anvil: &AnvilInstance, key: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_chain_id(anvil.chain_id())
        .wallet(EthereumWallet::from(key))
        .connect_http(anvil.endpoint_url())
        .erased()
}

fn sender(provider: DynProvider, from: Address, replace_after: Duration) -> TxSender {
    TxSender::new(
        provider,
        from,
        TxSettings {
            gas_margin_percent: 130,
            replace_after,
            max_fee_wei: 500 * GWEI,
            poll: Duration::from_millis(50),
            retry_budget: Duration::from_secs(2),
        },
    )
}

async fn mine(provider: &DynProvider) {
    provider
        .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        .await
        .expect("mines");
}

async fn deploy_burn(tx: &TxSender) -> Address {
    let initcode: Bytes = BURN_INITCODE.parse().expect("hex");
    let receipt = tx
        .send(
            "deploy",
            TransactionRequest::default().with_deploy_code(initcode),
        )
        .await
        .expect("deploys");
    receipt.contract_address.expect("a contract")
}

fn burn(n: u64) -> Bytes {
    U256::from(n).to_be_bytes::<32>().into()
}

fn commit_closed() -> Bytes {
    DecentralizedInference::CommitClosed {
        promptId: U256::from(3u8),
    }
    .abi_encode()
    .into()
}

#[tokio::test]
async fn gas_floor_never_caps_the_estimate() {
    let anvil = anvil(&[]);
    let key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let from = key.address();
    let provider = provider(&anvil, key);
    let tx = sender(provider.clone(), from, Duration::from_secs(5));
    let burner = deploy_burn(&tx).await;

    // Issue #12: a call needing ~900k gas under a 600k floor (daemon's send_with_floor).
    let call = TransactionRequest::default()
        .with_to(burner)
        .with_input(burn(40));
    let needed = provider
        .estimate_gas(call.clone().with_from(from))
        .await
        .expect("estimates");
    assert!(needed > 600_000, "the call needs {needed}");
    let receipt = tx
        .send("heavy", call.with_gas_limit(600_000))
        .await
        .expect("a floor does not cap the gas");
    assert!(receipt.status() && receipt.gas_used > 600_000);
    let mined = provider
        .get_transaction_by_hash(receipt.transaction_hash)
        .await
        .expect("reads")
        .expect("mined");
    assert_eq!(mined.inner.gas_limit(), needed * 130 / 100);

    // A floor above the estimate is the limit.
    let call = TransactionRequest::default()
        .with_to(burner)
        .with_input(burn(1));
    let receipt = tx
        .send("light", call.with_gas_limit(2_000_000))
        .await
        .expect("sends");
    let mined = provider
        .get_transaction_by_hash(receipt.transaction_hash)
        .await
        .expect("reads")
        .expect("mined");
    assert_eq!(mined.inner.gas_limit(), 2_000_000);
}

#[tokio::test]
async fn reverts_and_refusals_give_up_with_their_reason() {
    let anvil = anvil(&[]);
    let key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let from = key.address();
    let tx = sender(provider(&anvil, key), from, Duration::from_secs(5));
    let burner = deploy_burn(&tx).await;

    let e = tx
        .send(
            "commit",
            TransactionRequest::default()
                .with_to(burner)
                .with_input(commit_closed()),
        )
        .await
        .expect_err("reverts");
    assert_eq!(e.revert_reason(), Some("CommitClosed(3)"));
    assert_eq!(
        revert_name(e.revert_reason().unwrap_or_default()),
        "CommitClosed"
    );

    // An account without funds: the client refuses, the sender gives up at once.
    let poor = PrivateKeySigner::random();
    let tx = sender(
        provider(&anvil, poor.clone()),
        poor.address(),
        Duration::from_secs(5),
    );
    let e = tx
        .send(
            "light",
            TransactionRequest::default()
                .with_to(burner)
                .with_input(burn(1)),
        )
        .await
        .expect_err("no funds");
    assert!(
        matches!(&e, TxError::Refused { reason, .. } if reason.contains("Insufficient funds")),
        "{e}"
    );
}

#[tokio::test]
async fn replaces_an_unmined_transaction_until_it_is_mined() {
    let anvil = anvil(&["--no-mining"]);
    let key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let from = key.address();
    let provider = provider(&anvil, key);
    let fresh = provider.estimate_eip1559_fees().await.expect("fees");
    let tx = std::sync::Arc::new(sender(provider.clone(), from, Duration::from_millis(200)));
    let sending = tokio::spawn({
        let tx = tx.clone();
        async move {
            tx.send(
                "transfer",
                TransactionRequest::default()
                    .with_to(Address::repeat_byte(7))
                    .with_value(U256::from(1)),
            )
            .await
        }
    });
    // Several replacement rounds pass unmined, then a block comes.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    mine(&provider).await;
    let receipt = tokio::time::timeout(Duration::from_secs(10), sending)
        .await
        .expect("finishes")
        .expect("joins")
        .expect("mined");
    assert!(receipt.status());
    let mined = provider
        .get_transaction_by_hash(receipt.transaction_hash)
        .await
        .expect("reads")
        .expect("mined");
    // A replacement was mined: both fees are at least one bump above the first copy's.
    assert!(mined.inner.max_fee_per_gas() >= bump(fresh.max_fee_per_gas));
    let tip = mined.inner.max_priority_fee_per_gas().unwrap_or_default();
    assert!(tip >= bump(fresh.max_priority_fee_per_gas));
    assert!(tip <= mined.inner.max_fee_per_gas());
}

/// The errors anvil 1.7.1 really answers, through alloy, as the node meets them.
#[tokio::test]
async fn anvil_errors_classify() {
    let anvil = anvil(&["--no-mining"]);
    let key: PrivateKeySigner = anvil.keys()[1].clone().into();
    let from = key.address();
    let provider = provider(&anvil, key);
    let kind = |e: TransportError| {
        assert!(is_rejection(&e), "{e}");
        classify_error(&e)
    };

    // The burner, deployed and mined.
    let deployer = provider
        .send_transaction(
            TransactionRequest::default()
                .with_from(from)
                .with_deploy_code(BURN_INITCODE.parse::<Bytes>().expect("hex"))
                .with_nonce(0)
                .with_gas_limit(200_000)
                .with_max_fee_per_gas(10 * GWEI)
                .with_max_priority_fee_per_gas(GWEI),
        )
        .await
        .expect("sends");
    mine(&provider).await;
    let burner = provider
        .get_transaction_receipt(*deployer.tx_hash())
        .await
        .expect("reads")
        .expect("mined")
        .contract_address
        .expect("a contract");

    let transfer = |nonce: u64, value: u64| {
        TransactionRequest::default()
            .with_from(from)
            .with_to(Address::repeat_byte(7))
            .with_value(U256::from(value))
            .with_nonce(nonce)
            .with_gas_limit(21_000)
            .with_max_fee_per_gas(10 * GWEI)
            .with_max_priority_fee_per_gas(GWEI)
    };
    let _pending = provider
        .send_transaction(transfer(1, 1))
        .await
        .expect("first copy");
    let e = provider
        .send_transaction(transfer(1, 1))
        .await
        .expect_err("again");
    assert_eq!(kind(e), TxErrorKind::AlreadyKnown);
    let e = provider
        .send_transaction(transfer(1, 2))
        .await
        .expect_err("same fees");
    assert_eq!(kind(e), TxErrorKind::ReplacementUnderpriced);
    let e = provider
        .send_transaction(transfer(2, 1).with_value(U256::MAX >> 8))
        .await
        .expect_err("too much");
    assert_eq!(kind(e), TxErrorKind::InsufficientFunds);
    let e = provider
        .send_transaction(transfer(2, 1).with_gas_limit(20_000))
        .await
        .expect_err("intrinsic");
    assert_eq!(kind(e), TxErrorKind::GasTooLow);
    let e = provider
        .send_transaction(
            transfer(2, 1)
                .with_max_fee_per_gas(1)
                .with_max_priority_fee_per_gas(1),
        )
        .await
        .expect_err("under the base fee");
    assert_eq!(kind(e), TxErrorKind::FeeCapTooLow);
    mine(&provider).await;
    let e = provider
        .send_transaction(transfer(1, 3))
        .await
        .expect_err("mined");
    assert_eq!(kind(e), TxErrorKind::NonceTooLow);

    // Estimates: a gas field caps them; a revert carries its data.
    let heavy = TransactionRequest::default()
        .with_from(from)
        .with_to(burner)
        .with_input(burn(40));
    let e = provider
        .estimate_gas(heavy.clone().with_gas_limit(600_000))
        .await
        .expect_err("capped");
    assert!(e.to_string().contains("exceeds allowance: 600000"), "{e}");
    assert_eq!(kind(e), TxErrorKind::GasTooLow);
    assert!(provider.estimate_gas(heavy).await.expect("uncapped") > 600_000);
    let e = provider
        .estimate_gas(
            TransactionRequest::default()
                .with_from(from)
                .with_to(burner)
                .with_input(commit_closed()),
        )
        .await
        .expect_err("reverts");
    assert_eq!(reason_of(&e), "CommitClosed(3)");
    assert_eq!(
        kind(e),
        TxErrorKind::Reverted {
            reason: "CommitClosed(3)".into()
        }
    );

    // No RPC at all: transport trouble, retried rather than refused.
    drop(anvil);
    let e = provider.get_block_number().await.expect_err("no anvil");
    assert!(!is_rejection(&e));
    assert_eq!(classify_error(&e), TxErrorKind::Transport);
}
