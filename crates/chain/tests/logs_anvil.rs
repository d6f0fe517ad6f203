//! Chunked log reading against a real anvil: any chunk size gives the same logs in block
//! order, decoding checks the event, and a failed request names its block range.

mod common;

use aikernel_chain::bindings::EAI;
use aikernel_chain::logs::{LogsError, get_events_chunked, get_logs_chunked};
use alloy::primitives::U256;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;

#[tokio::test]
async fn chunked_reads_agree_and_errors_are_clear() {
    let common::Deployed {
        anvil,
        provider,
        deployment,
        ..
    } = common::deployed().await;
    let eai = EAI::new(deployment.eai, provider.clone());
    let from = provider.get_block_number().await.unwrap() + 1;
    // Seven transfers, one block each (anvil mines every transaction).
    for i in 1..=7u64 {
        eai.transfer(anvil.addresses()[1], U256::from(i))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let to = provider.get_block_number().await.unwrap();
    assert!(to >= from + 6);
    let filter = Filter::new()
        .address(deployment.eai)
        .event_signature(EAI::Transfer::SIGNATURE_HASH);
    let mut seen = Vec::new();
    for chunk in [0, 1, 2, 3, 1000, u64::MAX] {
        let events = get_events_chunked::<EAI::Transfer, _>(&provider, &filter, from, to, chunk)
            .await
            .unwrap();
        let values: Vec<U256> = events.iter().map(|(e, _)| e.value).collect();
        assert_eq!(
            values,
            (1..=7u64).map(U256::from).collect::<Vec<_>>(),
            "chunk {chunk}"
        );
        let blocks: Vec<u64> = events
            .iter()
            .map(|(_, l)| l.block_number.unwrap())
            .collect();
        assert!(
            blocks.windows(2).all(|w| w[0] < w[1]),
            "chunk {chunk}: {blocks:?}"
        );
        seen.push(blocks);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
    // An empty range and a range past the head are fine.
    assert!(
        get_logs_chunked(&provider, &filter, to + 1, to, 5)
            .await
            .unwrap()
            .is_empty()
    );
    // Logs of another event are refused by name.
    let Err(err) = get_events_chunked::<EAI::Approval, _>(&provider, &filter, from, to, 3).await
    else {
        panic!("Transfer logs decoded as Approval");
    };
    assert!(matches!(err, LogsError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("Approval("), "{err}");
    // A node that is gone: the error names the chunk that failed.
    let url = anvil.endpoint_url();
    drop(anvil);
    let dead = ProviderBuilder::new().connect_http(url);
    let err = get_logs_chunked(&dead, &filter, 10, 25, 4)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("blocks 10..=13"), "{err}");
}
