//! A real node process on a spawned devnet, slashed for real (the test holds SLASHER_ROLE):
//! it tops its stake up to its target from its EAI balance, and when it cannot it says so
//! in its log, `/health` and metrics until it can. And a chain clock pushed ahead of the wall
//! clock is reported once, in `/health` and metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;

use aikernel_chain::bindings::{EAI, GPUManagement};

use common::{Net, http_get, node_provider};

const EAI_UNIT: u64 = 1_000_000_000_000_000_000;

fn eai(whole: u64) -> U256 {
    U256::from(whole) * U256::from(EAI_UNIT)
}

async fn stake_of(net: &Net, node: Address) -> U256 {
    let gpu = GPUManagement::new(net.deployment.gpu, net.provider());
    U256::from(gpu.nodeInfo(node).call().await.unwrap().stake)
}

/// Waits until `/health` satisfies `pred`; returns the status code and body.
async fn health_until(
    net: &Net,
    port: u16,
    what: &str,
    pred: impl Fn(u16, &serde_json::Value) -> bool,
) -> (u16, serde_json::Value) {
    let end = Instant::now() + Duration::from_secs(90);
    loop {
        let (code, body) = http_get(port, "/health");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if pred(code, &v) {
            return (code, v);
        }
        assert!(
            Instant::now() < end,
            "{what}: last /health {code} {body}{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Slashes 2 % of `node`'s stake as the kernel would; with `jail_s`, jails it too (the first
/// call, without a jail, grants the admin SLASHER_ROLE).
async fn slash(net: &Net, node: Address, jail_s: u64) {
    let gpu = GPUManagement::new(net.deployment.gpu, net.provider());
    let role = gpu.SLASHER_ROLE().call().await.unwrap();
    let admin = net.provider().get_accounts().await.unwrap()[0];
    let receipt = if jail_s == 0 {
        gpu.grantRole(role, admin)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        gpu.slash(node, U256::from(200u16), vec![], 2)
            .gas(1_000_000)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap()
    } else {
        // A fixed gas limit: the node's own transactions (a reward claim) may change the
        // path between the estimate and the block.
        gpu.punish(node, U256::from(200u16), vec![], 2, jail_s)
            .gas(1_000_000)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap()
    };
    assert!(receipt.status());
}

fn log_count(net: &Net, needle: &str) -> usize {
    std::fs::read_to_string(net.log(1))
        .unwrap_or_default()
        .matches(needle)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slashed_node_tops_up_its_stake_or_says_why_it_cannot() {
    let _serial = common::serial().await;
    let net = Net::start(1, 30, None);
    let port = common::free_port();
    let metrics = format!("127.0.0.1:{port}");
    let node = net.node_address(1);
    // The old default: a target equal to minStake, where one slash used to end the node.
    let mut proc1 = net.node(
        1,
        None,
        &["--stake-eai", "1000", "--metrics-addr", &metrics],
    );
    net.wait_eligible(&[1], Duration::from_mins(5)).await;
    assert_eq!(stake_of(&net, node).await, eai(1000));
    health_until(&net, port, "eligible after registering", |c, v| {
        c == 200 && v["eligible"] == true
    })
    .await;

    // The node's EAI leaves it, then a 2 % slash takes it below the minimum: it cannot top
    // up, and says so (log, /health, metrics) at every check.
    let token = EAI::new(net.deployment.eai, node_provider(&net, 1));
    let held = token.balanceOf(node).call().await.unwrap();
    let admin = net.provider().get_accounts().await.unwrap()[0];
    token
        .transfer(admin, held)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    slash(&net, node, 0).await;
    assert_eq!(stake_of(&net, node).await, eai(980));
    let (code, v) = health_until(&net, port, "ineligible after the slash", |_, v| {
        v["eligible"] == false
    })
    .await;
    assert_eq!(code, 503, "{v}");
    assert_eq!(v["following"], true, "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("stake 980 EAI below the minimum 1000 EAI"),
        "{reason}"
    );
    assert_eq!(http_get(port, "/live").0, 200, "a restart would not help");
    let (_, text) = http_get(port, "/metrics");
    assert!(text.contains("aikernel_node_eligible 0\n"), "{text}");
    assert!(
        text.contains("aikernel_node_ineligible{reason=\"below_minimum\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("aikernel_node_stake_eai 980\n"), "{text}");
    let end = Instant::now() + Duration::from_secs(45);
    while log_count(&net, "NOT ELIGIBLE for prompts") < 2 {
        assert!(Instant::now() < end, "warned again:{}", net.logs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = std::fs::read_to_string(net.log(1)).unwrap();
    assert!(
        log.contains("WARN")
            && log.contains("below the minimum 1000 EAI")
            && log.contains("no EAI left to add"),
        "{log}"
    );

    // EAI arrives: the node tops up at its next check and is eligible again.
    let admin_token = EAI::new(net.deployment.eai, net.provider());
    admin_token
        .transfer(node, eai(5000))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    health_until(&net, port, "eligible after the top-up", |c, v| {
        c == 200 && v["eligible"] == true
    })
    .await;
    assert_eq!(stake_of(&net, node).await, eai(1000));
    assert!(
        log_count(&net, "eligible for prompts again") >= 1,
        "{}",
        net.logs()
    );

    // Restarted with a higher target (the new default, 1500), it tops up at startup.
    proc1.signal("TERM");
    proc1
        .wait_exit(Duration::from_secs(20))
        .expect("node stops");
    let _proc1 = net.node(1, None, &["--metrics-addr", &metrics]);
    let end = Instant::now() + Duration::from_mins(2);
    while stake_of(&net, node).await != eai(1500) {
        assert!(Instant::now() < end, "topped up to 1500:{}", net.logs());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Slashed and jailed: it tops up right away, reports the jail, and is eligible again
    // once it has left the jail.
    slash(&net, node, 20).await;
    let (code, v) = health_until(&net, port, "jailed", |_, v| {
        v["eligible"] == false && v["reason"].as_str().is_some_and(|r| r.contains("jailed"))
    })
    .await;
    assert_eq!(code, 503, "{v}");
    let (_, text) = http_get(port, "/metrics");
    assert!(
        text.contains("aikernel_node_ineligible{reason=\"jailed\"} 1\n"),
        "{text}"
    );
    let end = Instant::now() + Duration::from_secs(30);
    while stake_of(&net, node).await != eai(1500) {
        assert!(
            Instant::now() < end,
            "topped up after the slash:{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    health_until(&net, port, "eligible after the jail", |c, v| {
        c == 200 && v["eligible"] == true
    })
    .await;
    assert!(
        log_count(&net, "stake topped up") >= 3,
        "three top-ups logged:{}",
        net.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_clock_ahead_of_the_wall_clock_is_reported_once() {
    let _serial = common::serial().await;
    let net = Net::start(1, 30, None);
    let port = common::free_port();
    let metrics = format!("127.0.0.1:{port}");
    let _node = net.node(1, None, &["--metrics-addr", &metrics]);
    net.wait_eligible(&[1], Duration::from_mins(5)).await;
    let (_, v) = health_until(&net, port, "following", |c, _| c == 200).await;
    assert_eq!(v["chainClockAhead"], false, "{v}");

    let provider = net.provider();
    let _: serde_json::Value = provider
        .raw_request("evm_increaseTime".into(), (120u64,))
        .await
        .unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    let (code, v) = health_until(&net, port, "clock ahead", |_, v| {
        v["chainClockAhead"] == true
    })
    .await;
    assert_eq!(code, 200, "a skew is a warning, not ill health: {v}");
    let ahead = v["chainClockAheadSeconds"].as_i64().unwrap();
    assert!((100..200).contains(&ahead), "{v}");
    let (_, text) = http_get(port, "/metrics");
    let gauge = text
        .lines()
        .find_map(|l| l.strip_prefix("aikernel_node_chain_clock_skew_seconds "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(gauge.parse::<i64>().unwrap() >= 100, "{text}");
    // Several polls later, still one warning.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        log_count(&net, "ahead of this machine's"),
        1,
        "one warning per change:{}",
        net.logs()
    );
}
