//! A node refuses a model file that does not match the registered content root, with a
//! clear error, and starts once a good copy can be fetched; a registered model the engine
//! cannot run (a header claiming 2^32 blocks), and one whose file is of another family than
//! its registered driver name, are refused while the node serves its others.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;
#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;

use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use aikernel_protocol::PromptStatus;
use common::Net;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_model_is_refused_and_a_fresh_download_succeeds() {
    let src = aikernel_engine::paths::model();
    let published = tempfile::tempdir().unwrap();
    let model = published.path().join("model.gguf");
    std::fs::copy(&src, &model).unwrap();
    let mut net = Net::start(1, 30, Some(&model));
    net.cache = net.dir.path().join("cache"); // a fresh cache: the node must download

    // The publisher's file is corrupted after registration: one byte in chunk 40.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&model)
        .unwrap();
    f.seek(SeekFrom::Start(40 * (1 << 20) + 123)).unwrap();
    f.write_all(&[0x5a]).unwrap();
    drop(f);
    let mut node = net.node(1, None, &[]);
    let status = node
        .wait_exit(Duration::from_mins(2))
        .expect("the node refuses to start");
    assert!(!status.success());
    let log = std::fs::read_to_string(net.log(1)).unwrap();
    assert!(
        log.contains("model 1") && log.contains("chunk 40 does not match"),
        "a clear error naming the model and the mismatch:\n{log}"
    );
    assert!(
        !std::fs::read_dir(net.cache.join("models")).is_ok_and(|d| d
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "bin"))),
        "nothing unverified entered the cache"
    );

    // The publisher fixes the file: a fresh download verifies and the node registers.
    std::fs::copy(&src, &model).unwrap();
    let _node = net.node(1, None, &[]);
    net.wait_eligible(&[1], Duration::from_mins(5)).await;
}

/// Registers the file at `path` as a `file://` model under `driver`.
async fn register(net: &Net, path: &std::path::Path, name: &str, driver: &str) {
    use aikernel_chain::bindings::ModelFileSystem;
    use alloy::primitives::FixedBytes;

    let manifest = aikernel_store::write_leaves_manifest(path, 1 << 20).unwrap();
    let models = ModelFileSystem::new(net.deployment.models, net.provider());
    let spec = ModelFileSystem::ModelSpec {
        name: name.into(),
        driver: driver.into(),
        format: "gguf".into(),
        contentRoot: FixedBytes(manifest.root),
        size: manifest.size,
        chunkSize: 1 << 20,
        uris: vec![format!("file://{}", path.display())],
        minMemoryMiB: 1,
        minDeviceCount: 1,
        feePerToken: 1_000_000_000,
        tokensPerSecond: 10,
    };
    let receipt = models
        .registerModel(spec)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_the_engine_cannot_run_is_refused_and_the_node_serves_the_others() {
    use aikernel_chain::bindings::GPUManagement;
    use aikernel_engine::gguf::MetaValue;
    use alloy::primitives::U256;

    let _serial = common::serial().await;
    let net = Net::start(1, 30, None);
    // Model 2: a file whose header claims 2^32 blocks (it aborted every node serving it).
    let mut w = tiny::tiny_llama(1);
    w.add_metadata("llama.block_count", MetaValue::U32(u32::MAX));
    let bad = net.dir.path().join("bad.gguf");
    std::fs::write(&bad, w.to_bytes().unwrap()).unwrap();
    register(&net, &bad, "hostile", aikernel_drivers::DRIVER_NAME).await;
    // Model 3: a good llama file registered under the gemma3 family's name.
    let llama = net.dir.path().join("llama.gguf");
    std::fs::write(&llama, tiny::tiny_llama(1).to_bytes().unwrap()).unwrap();
    register(&net, &llama, "misnamed", "llm-gemma3@2").await;

    let config = net.dir.path().join("node.toml");
    std::fs::write(&config, "models = [1, 2, 3]\n").unwrap();
    let mut node = net.node(1, None, &["--config", config.to_str().unwrap()]);
    net.wait_eligible(&[1], Duration::from_mins(5)).await;
    assert!(node.running(), "the node keeps running:\n{}", net.logs());
    let log = std::fs::read_to_string(net.log(1)).unwrap();
    assert!(
        log.contains("MODEL REFUSED") && log.contains("block_count"),
        "the refusal names the model and the bad header field:\n{log}"
    );
    assert!(
        log.contains("model file is llama but the registry entry's driver is llm-gemma3@2"),
        "the refusal names the file's family and the registered driver:\n{log}"
    );
    let gpu = GPUManagement::new(net.deployment.gpu, net.provider());
    let info = gpu.nodeInfo(net.node_address(1)).call().await.unwrap();
    assert_eq!(
        info.models,
        vec![U256::from(1u8)],
        "registered only for the model it can run"
    );
    let id = net
        .submit(
            "Is water wet? Answer yes or no.",
            common::choice_yes_no(),
            1,
        )
        .await;
    assert_eq!(
        net.wait_final(id, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "model 1 is served"
    );
}
