//! `aikernel devnet` brings up a real anvil, deploys the kernel, registers the default model
//! and exits cleanly with `--no-wait`; a second run right after starts cleanly too.

use std::{net::TcpListener, process::Command};

#[allow(clippy::unwrap_used)] // a test helper: no port means the test cannot run
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn devnet_deploys_registers_the_model_and_restarts_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = dir.path().join("deployment.json");
    let port = free_port();
    for run in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
            .args([
                "devnet",
                "--no-wait",
                "--json",
                "--port",
                &port.to_string(),
                "--deployment",
            ])
            .arg(&deployment)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["modelId"], "1");
        assert_eq!(summary["deployment"]["chainId"], 31337);
        let root = summary["modelRoot"].as_str().unwrap();
        assert_eq!(root.len(), 66, "{root}");
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&deployment).unwrap()).unwrap();
        assert_eq!(written, summary["deployment"]);
    }
}

#[test]
fn devnet_refuses_a_missing_model_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .args(["devnet", "--no-wait", "--model", "/nonexistent/model.gguf"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/model.gguf") && stderr.contains("not found"),
        "{stderr}"
    );
}

#[test]
fn deploy_rejects_a_bad_private_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .args(["deploy", "--private-key", "not-a-key"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--private-key"));
}
