//! A committee of CPU nodes and a GPU node settling prompts together: the GPU node computes
//! its generations through the CUDA backend's path (`device = "cuda"`: the driver's slots
//! worker, the CUDA forward pass's launch sequence, the engine's sampling loop on it), the
//! others on the CPU engine, and every prompt settles with all three reveals, nobody slashed,
//! the stored outputs equal byte for byte.
//!
//! Without a GPU the host build of the CUDA kernels stands in for it (the `--gpu-stand-in`
//! test hook; the same launches, run on the CPU); with one, the second test puts the real GPU
//! in the committee (the recorded skip `gpu` elsewhere).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use std::time::Duration;

use aikernel_chain::bindings::GPUManagement::NodeSlashed;
use aikernel_protocol::PromptStatus;
use alloy::primitives::{B256, U256};

use common::{Net, Proc, choice_yes_no, text_request};

/// Three prompts for a committee of three: greedy and sampled free text, and a choice
/// answered by scoring (which stays on the CPU engine on a GPU node).
async fn settle_three(net: &Net, first: u8) -> Vec<U256> {
    let mut ids = Vec::new();
    for (i, (input, schema, max_tokens, temperature)) in [
        ("Name a large planet.", Vec::new(), 6, 0),
        ("Write a short greeting.", Vec::new(), 6, 700),
        ("Is the sun a star?", choice_yes_no(), 4, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = text_request(
            B256::repeat_byte(first + i as u8),
            input,
            schema,
            max_tokens,
            3,
        );
        r.temperature = temperature;
        r.seed = 5 + i as u64;
        ids.push(net.submit_request(r).await);
    }
    ids
}

async fn check_settled(net: &Net, ids: &[U256]) {
    for &id in ids {
        assert_eq!(
            net.wait_final(id, Duration::from_mins(6)).await,
            PromptStatus::Settled,
            "{}",
            net.logs()
        );
        let identity = net.identity(id).await;
        let gpu = net
            .output_of(1, id, identity)
            .expect("the GPU node's output");
        let cpu = net.output_of(2, id, identity).expect("a CPU node's output");
        assert_eq!(gpu, cpu, "prompt {id}: GPU and CPU outputs differ");
    }
    assert!(
        net.logs_of::<NodeSlashed>(net.deployment.gpu)
            .await
            .is_empty(),
        "nobody slashed:{}",
        net.logs()
    );
}

fn log_of(net: &Net, i: usize) -> String {
    std::fs::read_to_string(net.log(i)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_nodes_and_a_gpu_path_node_settle_together() {
    let _serial = common::serial().await;
    let net = Net::start(3, 60, None);
    let _nodes: Vec<Proc> = [
        net.node(1, None, &["--gpu-stand-in", "--max-batch", "4"]),
        net.node(2, None, &[]),
        net.node(3, None, &[]),
    ]
    .into();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;
    let log = log_of(&net, 1);
    assert!(
        log.contains("host build standing in for the GPU")
            && log.contains("device=cuda: host build standing in for a GPU"),
        "node 1 computes and registers as a GPU node:\n{log}"
    );
    let ids = settle_three(&net, 0x60).await;
    check_settled(&net, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_and_gpu_nodes_settle_together() {
    if let Err(e) = aikernel_cuda::discover() {
        aikernel_testkit::skip_or_fail("gpu", &format!("no GPU for the committee: {e}"));
        return;
    }
    let _serial = common::serial().await;
    let net = Net::start(3, 60, None);
    let config = net.dir.path().join("gpu-node.toml");
    std::fs::write(&config, "device = \"cuda\"\n").unwrap();
    let config = config.to_str().unwrap();
    let _nodes: Vec<Proc> = [
        net.node(1, None, &["--config", config]),
        net.node(2, None, &[]),
        net.node(3, None, &[]),
    ]
    .into();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;
    let log = log_of(&net, 1);
    assert!(
        log.contains("generating on the GPU") && log.contains("device=cuda: "),
        "node 1 computes and registers as a GPU node:\n{log}"
    );
    let ids = settle_three(&net, 0x70).await;
    check_settled(&net, &ids).await;
}
