//! Gemma 3 270M, a base model without a chat template, served end to end: the devnet
//! registers it, three node processes fetch it and answer a typed request through the
//! completion layout (docs/drivers.md), the prompt settles with their agreed value, and
//! `aikernel verify` re-runs it and says HONEST.
//!
//! Needs Gemma 3 270M, installed by `./scripts/setup.sh` (`aikernel_engine::paths::gemma3_270m`).

mod common;

use std::process::Command;
use std::time::Duration;

use aikernel_chain::bindings::GPUManagement::NodeSlashed;
use aikernel_protocol::PromptStatus;
use alloy::primitives::{B256, U256};
use common::Net;

/// `choice:"an elephant","an ant"` in the schema's binary form.
fn animals() -> Vec<u8> {
    let mut s = vec![0x02, 0x02];
    for option in ["an elephant", "an ant"] {
        s.push(option.len() as u8);
        s.extend_from_slice(option.as_bytes());
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemma_answers_a_typed_request_through_three_nodes_and_verifies() {
    let gemma = aikernel_engine::paths::gemma3_270m();
    assert!(
        gemma.exists(),
        "Gemma 3 270M is missing at {}: run ./scripts/setup.sh",
        gemma.display()
    );
    let net = Net::start(3, 60, Some(&gemma));
    let _nodes: Vec<_> = (1..=3).map(|i| net.node(i, None, &[])).collect();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;

    let id = net
        .submit_on(
            B256::repeat_byte(0x27),
            "Which animal is heavier: an elephant or an ant?",
            animals(),
            3,
        )
        .await;
    assert_eq!(
        net.wait_final(id, Duration::from_mins(5)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    let output = net.kernel().resultOf(id).call().await.unwrap();
    assert_eq!(output.len(), 32, "one ABI word: the option's index");
    let index = U256::from_be_slice(&output);
    assert!(index < U256::from(2u8), "a valid option: {index}");
    assert!(
        net.logs_of::<NodeSlashed>(net.deployment.gpu)
            .await
            .is_empty(),
        "nobody slashed:{}",
        net.logs()
    );

    let out = Command::new(common::bin())
        .args(["--rpc", &net.rpc, "--deployment"])
        .arg(&net.deployment_file)
        .args(["verify", &id.to_string(), "--cache-dir"])
        .arg(&net.cache)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("HONEST"),
        "verify:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
