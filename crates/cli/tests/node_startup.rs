//! What an operator sees first: `aikernel node init` writes a commented config that `node run`
//! accepts, and `node run` (here with its key in `AIKERNEL_KEY`, as every signing command takes
//! it) prints a one-line startup summary at its default log level (no -v).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Net;

#[test]
fn node_init_writes_a_config_that_parses_and_never_overwrites_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let run = |args: &[&str]| Command::new(common::bin()).args(args).output().unwrap();
    let out = run(&["node", "init", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# aikernel node configuration"));
    assert_eq!(
        aikernel_node::NodeConfig::from_toml(&text).unwrap(),
        aikernel_node::NodeConfig::default()
    );

    std::fs::write(&path, "models = [7]\n").unwrap();
    let out = run(&["node", "init", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "models = [7]\n");
    let out = run(&["node", "init", "--force", path.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_run_prints_a_startup_summary_at_the_default_level() {
    let _serial = common::serial().await;
    let net = Net::start(1, 30, None);
    let log = net.dir.path().join("quiet-node.log");
    let file = std::fs::File::create(&log).unwrap();
    let key = std::fs::read_to_string(&net.keys[0]).unwrap();
    let mut child = Command::new(common::bin())
        .args(["node", "run", "--no-progress", "--rpc", &net.rpc])
        .arg("--deployment")
        .arg(&net.deployment_file)
        .arg("--data-dir")
        .arg(net.dir.path().join("node-quiet"))
        .arg("--cache-dir")
        .arg(&net.cache)
        .env_remove("RUST_LOG")
        .env("AIKERNEL_KEY", key.trim())
        .env("NO_COLOR", "1")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_mins(3);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("aikernel node 0x") {
            break text;
        }
        assert!(
            Instant::now() < end && child.try_wait().unwrap().is_none(),
            "no startup summary:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = text
        .lines()
        .find(|l| l.contains("aikernel node 0x"))
        .unwrap();
    let me = net.node_address(1).to_string();
    assert!(line.contains(&me), "the key from AIKERNEL_KEY: {line}");
    for part in [
        "on chain 31337",
        "serving models [1]",
        "EAI staked",
        "data ",
    ] {
        assert!(line.contains(part), "{part:?} in the summary: {line}");
    }
    // The default level stays quiet otherwise: no per-step INFO lines.
    assert!(
        !text.contains("following the kernel"),
        "only the summary at the default level:\n{text}"
    );
}
