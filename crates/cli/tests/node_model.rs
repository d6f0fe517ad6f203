//! A node refuses a model file that does not match the registered content root, with a
//! clear error, and starts once a good copy can be fetched.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

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
