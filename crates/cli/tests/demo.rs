//! `aikernel demo` end to end, as a user runs it: everything comes up, every example dapp
//! gets a settled, typed, callback-delivered answer, `aikernel verify` confirms a demo
//! prompt while the network is up, Ctrl-C stops it cleanly, and a second run (here with
//! `--no-wait --json`) starts cleanly on the same port and folder. SIGTERM stops it at any
//! point and leaves no anvil or node process behind.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

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

    // The demo serves the explorer and printed its URL: its API lists the dapps' prompts.
    let url = transcript
        .lines()
        .find_map(|l| l.strip_prefix("explorer ")?.split_whitespace().next())
        .unwrap_or_else(|| panic!("no explorer URL in:\n{transcript}"));
    let explorer_port: u16 = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("explorer URL {url}"));
    let (code, body) = common::http_get(explorer_port, "/api/prompts");
    assert_eq!(code, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(page["data"]["total"].as_u64().unwrap() >= 7, "{page}");
    let (code, html) = common::http_get(explorer_port, "/");
    assert!(code == 200 && html.contains("aikernel explorer"), "{html}");

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
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", explorer_port)).is_err(),
        "the explorer stopped with the demo"
    );

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
    assert!(
        report["explorer"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{report}"
    );
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

/// Pids of `pid`'s descendants now (from /proc: children, their children, ...).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // "pid (comm) state ppid ...": the command may hold spaces, so read after ")".
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.insert(child, ppid);
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (&child, &parent) in &parents {
            if parent == p && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

/// Whether `pid` still runs (a zombie waiting for its reaper does not).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// SIGTERM stops the demo at any point, here right after the chain is up and in the middle
/// of the dapps: it exits promptly and no anvil or node process it started is left running.
/// (Before, a signal during the dapps was ignored and SIGTERM left anvil and the nodes up.)
#[test]
fn demo_stops_on_sigterm_during_setup_and_during_the_dapps() {
    for (phase, marker, linger) in [
        ("setup", "chain    anvil at", Duration::from_secs(1)),
        (
            "dapps",
            "nodes    3 staked nodes up",
            Duration::from_secs(3),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut child = Command::new(bin())
            .args(["demo", "--port", &port.to_string(), "--dir"])
            .arg(dir.path().join("demo"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut demo = Proc(child);
        let mut lines = BufReader::new(stdout).lines();
        let mut transcript = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            transcript.push_str(&line);
            transcript.push('\n');
            if line.starts_with(marker) {
                break;
            }
        }
        assert!(transcript.contains(marker), "{phase}: {transcript}");
        let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
        std::thread::sleep(linger);
        let started = descendants(demo.pid());
        let expected = if phase == "dapps" { 4 } else { 1 };
        assert!(
            started.len() >= expected,
            "{phase}: anvil and the nodes should run: {started:?}"
        );

        demo.signal("TERM");
        let status = demo.wait_exit(Duration::from_secs(30));
        let left: Vec<u32> = started.into_iter().filter(|&p| alive(p)).collect();
        // Whatever the outcome, nothing of this test outlives it.
        for pid in &left {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let status = status.unwrap_or_else(|| panic!("{phase}: the demo ignored SIGTERM"));
        assert!(left.is_empty(), "{phase}: still running: {left:?}");
        assert!(status.success(), "{phase}: {status}");
        let rest = drain.join().unwrap().join("\n");
        assert!(
            rest.contains("stopping the nodes and the chain"),
            "{phase}: {rest}"
        );
        assert!(
            TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "{phase}: anvil's port is free again"
        );
    }
}
