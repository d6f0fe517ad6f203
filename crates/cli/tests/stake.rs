//! `aikernel stake add|unbond|withdraw` and `aikernel node status` against a real anvil with
//! the kernel deployed and a node registered by the test: amounts in EAI, the resulting state
//! printed, reverts decoded, the node's standing explained.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

#[path = "commands/net.rs"]
#[allow(dead_code)]
mod net;
#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;

use alloy::{primitives::U256, providers::Provider};
use serde_json::Value;

use aikernel_chain::bindings::EAI;

use net::{EAI_UNIT, Net};

fn eai(whole: u128) -> String {
    (whole * EAI_UNIT).to_string()
}

/// Runs the CLI, expecting failure; returns stderr.
fn fails(net: &Net, args: &[&str]) -> String {
    let out = net.cli().args(args).output().unwrap();
    assert!(
        !out.status.success(),
        "aikernel {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn stake_commands_and_node_status() {
    let net = Net::start();
    net.register_model(1000);
    net.register_nodes(&[1]);
    let node = net.anvil.addresses()[1].to_string();
    let key = net.key(1);
    let key_file = net.dir.join("node-1.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let key_file = key_file.to_str().unwrap().to_owned();

    // Registered at exactly the minimum, nothing left to top up with.
    let s = net.json(&["node", "status", &node]);
    assert_eq!(s["registered"], true);
    assert_eq!(s["status"], "active");
    assert_eq!(s["stake"], eai(1000));
    assert_eq!(s["minStake"], eai(1000));
    assert_eq!(s["target"], eai(1500));
    assert_eq!(s["targetSource"], "default");
    assert_eq!(s["eligible"], true, "{s}");
    assert_eq!(s["models"][0]["id"], "1");
    assert_eq!(s["models"][0]["eligible"], true);
    assert_eq!(s["balance"], "0");
    assert_eq!(s["stakePlan"]["action"], "cannot");
    assert_eq!(s["earnings"], "0");

    // EAI arrives; the operator adds some of it (approving first).
    net.runtime.block_on(async {
        EAI::new(net.deployment.eai, net.provider(0))
            .transfer(net.anvil.addresses()[1], U256::from(600 * EAI_UNIT))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    });
    let added = net.json(&["stake", "add", "250", "--key", &key]);
    assert_eq!(added["action"], "add");
    assert_eq!(added["amount"], eai(250));
    assert_eq!(added["stake"], eai(1250));
    assert_eq!(added["eligible"], true);
    let short = fails(&net, &["stake", "add", "1000", "--key", &key]);
    assert!(short.contains("holds 350 EAI"), "{short}");

    // Unbonding below the minimum takes the node out of the pools; the status says why.
    let text = net.run_ok(&["stake", "unbond", "500", "--key-file", &key_file]);
    assert!(text.contains("stake      750 EAI"), "{text}");
    assert!(
        text.contains("unbonding  500 EAI, withdrawable at") && text.contains("in 7d 0h"),
        "{text}"
    );
    assert!(text.contains("eligible   no"), "{text}");
    let status = net.run_ok(&["node", "status", "--key-file", &key_file]);
    assert!(
        status.contains("eligible         no: stake 750 EAI below the minimum 1000 EAI"),
        "{status}"
    );
    assert!(
        status.contains("model 1") && status.contains("not eligible: stake 750 EAI"),
        "{status}"
    );
    assert!(status.contains("while 500 EAI unbonds"), "{status}");
    assert!(status.contains("EAI balance      350 EAI"), "{status}");

    // Reverts are decoded.
    let early = fails(&net, &["stake", "withdraw", "--key", &key]);
    assert!(early.contains("StillUnbonding("), "{early}");
    let too_much = fails(&net, &["stake", "unbond", "99999", "--key", &key]);
    assert!(too_much.contains("InvalidAmount("), "{too_much}");
    let nobody = fails(&net, &["stake", "add", "1", "--key", &net.key(2)]);
    assert!(nobody.contains("not registered"), "{nobody}");
    let no_key = fails(&net, &["stake", "add", "1"]);
    assert!(no_key.contains("--key-file"), "{no_key}");
    let bad_amount = fails(&net, &["stake", "add", "1.2.3", "--key", &key]);
    assert!(bad_amount.contains("not an amount of EAI"), "{bad_amount}");

    // A week later the unbonded stake comes back.
    net.runtime.block_on(async {
        let p = net.provider(0);
        let _: Value = p
            .raw_request("evm_increaseTime".into(), (7 * 86_400u64,))
            .await
            .unwrap();
        let _: Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
    });
    let out = net.json(&["stake", "withdraw", "--key", &key]);
    assert_eq!(out["amount"], eai(500));
    assert_eq!(out["unbonding"], "0");
    assert_eq!(out["stake"], eai(750));

    // With the node's config: its target, its models (model 2 is not served).
    let config = net.dir.join("node.toml");
    std::fs::write(
        &config,
        format!("stake_eai = 800\nmodels = [1, 2]\nkey_file = {key_file:?}\n"),
    )
    .unwrap();
    let s = net.json(&["node", "status", "--config", config.to_str().unwrap()]);
    assert_eq!(s["address"], node);
    assert_eq!(s["target"], eai(800));
    assert_eq!(s["targetSource"], "config");
    assert_eq!(s["balance"], eai(850));
    assert_eq!(s["stakePlan"]["action"], "topUp", "{s}");
    assert_eq!(s["stakePlan"]["amount"], eai(250), "up to the minimum");
    let codes: Vec<&str> = s["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["below_minimum", "model_not_served"], "{s}");
    assert_eq!(s["models"][1]["id"], "2");
    assert_eq!(s["models"][1]["reasons"][1]["code"], "model_not_served");
}
