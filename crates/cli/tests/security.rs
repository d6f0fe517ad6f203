//! `aikernel security`: pure arithmetic, no chain: the JSON report's fields, the comparison
//! table, and bad flags named in the error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::process::{Command, Output};

use serde_json::Value;

fn aikernel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .arg("security")
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Value {
    let out = aikernel(&[args, &["--json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn json_report() {
    let v = json(&[]);
    assert_eq!(v["params"]["nodes"], 10_000);
    assert_eq!(v["params"]["adversaryNodes"], 2000);
    assert_eq!(v["params"]["committee"], 3);
    assert_eq!(v["params"]["escalation"], 7);
    assert_eq!(v["params"]["gain"], 1.0);
    // f = 0.2, k = 3 over 10,000 nodes without replacement.
    let majority = v["pWrongMajority"].as_f64().unwrap();
    assert!((majority - 0.103_971_193).abs() < 1e-8, "{majority}");
    let capture = v["pCapture"].as_f64().unwrap();
    assert!((capture - 0.007_990_401).abs() < 1e-8, "{capture}");
    let always = v["pWrongAlwaysAttack"].as_f64().unwrap();
    let rational = v["pWrongRational"].as_f64().unwrap();
    assert!(capture <= rational && rational <= always && always < majority);
    assert!(v["attackerProfit"].is_f64());
    assert!(v["minStake"]["min"].is_f64());
    assert_eq!(v["seats"].as_array().unwrap().len(), 4);
    assert_eq!(v["guessing"]["options"], 2);
    assert_eq!(v["guessing"]["guessingPays"], false);
    assert!(v["simulation"].is_null());

    let v = json(&[
        "--committee",
        "5",
        "--escalation",
        "9",
        "--simulate",
        "2000",
    ]);
    assert_eq!(v["params"]["escalation"], 9);
    assert_eq!(v["simulation"]["trials"], 2000);
    assert!(v["simulation"]["pWrongMajority"]["mean"].is_f64());
}

#[test]
fn table() {
    let v = json(&["--table"]);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 16);
    assert_eq!(rows[0]["adversaryShare"], 0.05);
    assert_eq!(rows[15]["committee"], 7);
    let out = aikernel(&["--table"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("f  "), "{text}");
    assert!(text.contains("old: majority"), "{text}");
}

#[test]
fn human_report() {
    let out = aikernel(&["--simulate", "1000"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("P(wrong), old rule: majority of 3"), "{text}");
    assert!(text.contains("simulated (1000 prompts"), "{text}");
}

#[test]
fn bad_flags_are_named() {
    for (args, flag) in [
        (&["--committee", "2"][..], "--committee"),
        (&["--committee", "17"][..], "--committee"),
        (&["--adversary", "1"][..], "--adversary"),
        (&["--adversary", "-0.1"][..], "--adversary"),
        (&["--nodes", "3"][..], "--nodes"),
        (&["--nodes", "9", "--escalation", "7"][..], "--nodes"),
        (&["--fee", "-1"][..], "--fee"),
        (&["--burn", "10001"][..], "--burn"),
        (&["--table", "--stake", "-5"][..], "--stake"),
    ] {
        let out = aikernel(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}
