//! `aikernel devnet` brings up a real anvil, deploys the kernel, registers the default model
//! and exits cleanly with `--no-wait`; a second run right after starts cleanly too. The node
//! commands it prints work as printed; `deploy` keeps an existing deployment file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};
use std::{net::TcpListener, process::Command};

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
        // One command per node: this chain, this deployment file, its key, its own folder.
        let commands = summary["nodeCommands"].as_array().unwrap();
        assert_eq!(commands.len(), 3);
        let mut data_dirs = Vec::new();
        for (i, command) in commands.iter().enumerate() {
            let words: Vec<&str> = command
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            let after = |flag: &str| {
                let at = words.iter().position(|w| *w == flag).unwrap();
                words[at + 1]
            };
            assert_eq!(after("--rpc"), format!("http://127.0.0.1:{port}"));
            assert_eq!(std::path::Path::new(after("--deployment")), deployment);
            let key = after("--key-file");
            assert!(key.ends_with(&format!("node-{}.key", i + 1)), "{key}");
            assert!(std::path::Path::new(key).is_file());
            data_dirs.push(after("--data-dir").to_owned());
        }
        data_dirs.dedup();
        assert_eq!(data_dirs.len(), 3, "{data_dirs:?}");
    }
}

/// The node command `aikernel devnet --port P` prints runs a node on that devnet as printed:
/// it registers, stakes and becomes eligible.
#[test]
fn a_printed_node_command_works_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = dir.path().join("deployment.json");
    let port = free_port();
    let mut devnet = Stopped(
        Command::new(env!("CARGO_BIN_EXE_aikernel"))
            .args(["devnet", "--port", &port.to_string(), "--deployment"])
            .arg(&deployment)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(devnet.0.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("serving until Ctrl-C") {
            break;
        }
        if let Some(command) = line.trim().strip_prefix("aikernel ") {
            printed.push(command.to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    assert_eq!(printed.len(), 3, "{printed:?}");
    assert!(printed[0].contains(&format!("--rpc http://127.0.0.1:{port}")));
    // As a user pastes it (temporary paths have no spaces or quotes to undo).
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("aikernel-node-cache");
    let node = Stopped(
        Command::new(env!("CARGO_BIN_EXE_aikernel"))
            .args(printed[0].split_whitespace())
            .env("AIKERNEL_CACHE", &cache)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(dir.path())
            .spawn()
            .unwrap(),
    );
    let eligible = wait_eligible(port, &deployment, 1, Duration::from_mins(3));
    drop(node);
    drop(devnet);
    assert!(eligible, "the printed node command did not bring node 1 up");
    assert!(
        dir.path().join("nodes/node-1").is_dir(),
        "its own data folder"
    );
}

/// A child process stopped when dropped (also when the test panics): SIGINT, so that a devnet
/// stops its anvil, then a kill after 10 s.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether node `i` (anvil account i) becomes eligible within `timeout`.
fn wait_eligible(port: u16, deployment: &std::path::Path, i: usize, timeout: Duration) -> bool {
    use aikernel_chain::{Deployment, bindings::GPUManagement};
    use alloy::providers::{Provider as _, ProviderBuilder};
    let d = Deployment::load(deployment).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let provider = ProviderBuilder::new()
            .connect_http(format!("http://127.0.0.1:{port}").parse().unwrap())
            .erased();
        let key = deployment.with_file_name(format!("keys/node-{i}.key"));
        let node = std::fs::read_to_string(key)
            .unwrap()
            .trim()
            .parse::<alloy::signers::local::PrivateKeySigner>()
            .unwrap()
            .address();
        let gpu = GPUManagement::new(d.gpu, provider);
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if gpu.isEligible(node).call().await.unwrap_or(false) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    })
}

/// `deploy` over an existing deployment file would lose the record of a live kernel: it
/// refuses unless --force (checked before anything is sent).
#[test]
fn deploy_refuses_to_replace_a_deployment_file_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deployment.json");
    std::fs::write(&file, "{\"kept\": true}").unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    let deploy = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_aikernel"))
            .args(["deploy", "--rpc", &url, "--deployment"])
            .arg(&file)
            .args([
                "--key",
                "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
            ])
            .args(extra)
            .env_remove("AIKERNEL_KEY")
            .output()
            .unwrap()
    };
    let out = deploy(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--force") && err.contains("already records"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{\"kept\": true}");
    // With --force it goes on (and here fails to reach the chain, leaving the file).
    let out = deploy(&["--force"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("--force"), "{err}");
}

#[test]
fn devnet_refuses_a_missing_model_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .args([
            "devnet",
            "--no-wait",
            "--model-file",
            "/nonexistent/model.gguf",
        ])
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
        .args([
            "deploy",
            "--key",
            "not-a-key",
            "--deployment",
            "/nonexistent/d.json",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key / AIKERNEL_KEY is not a valid"));
    // The old spelling still works.
    let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .args([
            "deploy",
            "--private-key",
            "not-a-key",
            "--deployment",
            "/nonexistent/d.json",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid hex private key"));
}
