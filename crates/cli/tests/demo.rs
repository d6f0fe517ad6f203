//! `aikernel demo` end to end, as a user runs it: everything comes up, every example dapp
//! gets a settled, typed, callback-delivered answer, `aikernel verify` confirms a demo
//! prompt while the network is up, Ctrl-C stops it cleanly, and a second run (here with
//! `--no-wait --json`) starts cleanly on the same port and folder.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Proc, bin, free_port};

#[test]
fn demo_runs_every_dapp_verifies_stops_on_ctrl_c_and_restarts_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let port = free_port();
    let mut child = Command::new(bin())
        .args(["demo", "--port", &port.to_string(), "--dir"])
        .arg(&demo_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut demo = Proc(child);
    let mut transcript = String::new();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        transcript.push_str(&line);
        transcript.push('\n');
        if line.starts_with("the network is up") {
            break;
        }
    }
    // Keep draining, so the demo's later output never hits a closed pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    assert!(
        transcript.contains("the network is up"),
        "demo output:\n{transcript}"
    );
    for n in 1..=7 {
        assert!(
            transcript.contains(&format!("[{n}/7]")),
            "step {n} missing:\n{transcript}"
        );
    }
    assert!(
        !transcript.contains("FAILED") && !transcript.contains("refunded"),
        "{transcript}"
    );
    assert!(
        transcript.contains("settled, callback delivered"),
        "{transcript}"
    );
    assert!(
        transcript.contains("answer     choice "),
        "typed choice answer:\n{transcript}"
    );
    assert!(
        transcript.contains("answer     int "),
        "typed integer answer:\n{transcript}"
    );

    // The network is still up: verify a demo prompt from chain data alone.
    let deployment = demo_dir.join("deployment.json");
    let out = Command::new(bin())
        .args([
            "--json",
            "--rpc",
            &format!("http://127.0.0.1:{port}"),
            "--deployment",
        ])
        .arg(&deployment)
        .args(["verify", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["honest"], true, "{verdict}");

    // Ctrl-C stops everything.
    demo.signal("INT");
    let status = demo
        .wait_exit(Duration::from_mins(1))
        .expect("demo exits on Ctrl-C");
    assert!(status.success(), "{status}");
    let rest = drain.join().unwrap().join("\n");
    assert!(rest.contains("stopping the nodes and the chain"), "{rest}");
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "anvil's port is free again"
    );
    assert!(!demo_dir.join("pids").exists(), "no stale pid file");

    // A second run on the same port and folder starts cleanly.
    let out = Command::new(bin())
        .args([
            "demo",
            "--json",
            "--no-wait",
            "--port",
            &port.to_string(),
            "--dir",
        ])
        .arg(&demo_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "second run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7, "{report}");
    assert_eq!(report["failures"].as_array().unwrap().len(), 0, "{report}");
    for step in steps {
        let prompts = step["prompts"].as_array().unwrap();
        assert!(!prompts.is_empty(), "{step}");
        for p in prompts {
            assert_eq!(p["settled"], true, "{step}");
            assert_eq!(p["callbackOk"], true, "{step}");
            assert_eq!(p["committee"].as_array().unwrap().len(), 3, "{step}");
        }
        assert!(step["requestGas"][0].as_u64().unwrap() > 100_000, "{step}");
    }
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port free after --no-wait"
    );
}
