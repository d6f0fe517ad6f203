//! `aikernel explorer` against a real network: a devnet, real node processes (two honest, then
//! a liar), and three prompts: one settled by a committee of one, one that escalates (the liar
//! disagrees, the whole pool decides and the liar is slashed), and one refunded (every node
//! stopped, time moved past its windows, `settle` called until the kernel gives up). The JSON
//! API is checked, then headless Chromium (tools/browser/explorer.mjs, puppeteer-core) loads
//! the page, checks what it renders, clicks re-verify, and saves screenshots under
//! `target/explorer-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::Provider;
use serde_json::Value;

use aikernel_protocol::PromptStatus;

use common::{Net, Proc, bin, choice_yes_no, free_port, http_request};

/// The node flags this test uses exist only in builds with the `test-hooks` feature.
fn require_test_hooks() {
    #[cfg(not(feature = "test-hooks"))]
    panic!(
        "this test runs `node run --byzantine`: run it with --features test-hooks \
         (scripts/test.sh does)"
    );
}

/// `aikernel explorer` on a free port, reading `net`; waits until it serves.
fn start_explorer(net: &Net) -> (Proc, u16) {
    let port = free_port();
    let child = Command::new(bin())
        .args(["explorer", "--rpc", &net.rpc, "--deployment"])
        .arg(&net.deployment_file)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--cache-dir"])
        .arg(&net.cache)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let explorer = Proc(child);
    let end = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "the explorer does not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    (explorer, port)
}

/// `method path` on the explorer: status and parsed JSON body.
fn api(port: u16, method: &str, path: &str) -> (u16, Value) {
    let (code, body) = http_request(port, method, path);
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (code, json)
}

/// `GET path`'s `data`, which must answer 200.
fn data(port: u16, path: &str) -> Value {
    let (code, body) = api(port, "GET", path);
    assert_eq!(code, 200, "{path}: {body}");
    assert!(body["block"].as_u64().is_some(), "{path}: {body}");
    body["data"].clone()
}

/// Moves the chain's clock past prompt `id`'s windows and calls `settle` until it is refunded.
async fn refund(net: &Net, id: U256) {
    let provider = net.provider();
    let kernel = net.kernel();
    let end = Instant::now() + Duration::from_mins(2);
    loop {
        let status = kernel.statusOf(id).call().await.unwrap();
        if status == PromptStatus::Refunded.as_u8() {
            return;
        }
        assert!(Instant::now() < end, "prompt {id} never refunded");
        let _: Value = provider
            .raw_request("evm_increaseTime".into(), (200u64,))
            .await
            .unwrap();
        let _: Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
        if let Ok(pending) = kernel.settle(id).send().await {
            let _ = pending.get_receipt().await;
        }
    }
}

/// Runs tools/browser/paint.mjs against a freshly started explorer: milliseconds from
/// navigation to the prompts table's first row (the server reads its index cold) and to a
/// prompt's first timeline event.
fn browser_paint(port: u16, prompt: usize) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let chromium =
        std::env::var("AIKERNEL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let out = Command::new("node")
        .arg(root.join("tools/browser/paint.mjs"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg(prompt.to_string())
        .env("AIKERNEL_CHROMIUM", &chromium)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "paint.mjs failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs tools/browser/explorer.mjs against the explorer; fails with its output.
fn browser_checks(port: u16, settled: U256, escalated: U256, refunded: U256) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tools = root.join("tools/browser");
    assert!(
        tools.join("node_modules/puppeteer-core").is_dir(),
        "puppeteer-core is not installed in {}: run scripts/setup.sh",
        tools.display()
    );
    let chromium =
        std::env::var("AIKERNEL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no chromium at {chromium}: run scripts/setup.sh (it installs Debian's chromium)"
    );
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../explorer-screenshots");
    let out = Command::new("node")
        .arg(tools.join("explorer.mjs"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg(&out_dir)
        .args([
            settled.to_string(),
            escalated.to_string(),
            refunded.to_string(),
        ])
        .env("AIKERNEL_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser checks failed:\n{text}");
    for name in [
        "prompts", "timeline", "verify", "network", "nodes", "models",
    ] {
        assert!(out_dir.join(format!("{name}.png")).is_file(), "{name}.png");
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_shows_settled_escalated_and_refunded_prompts_in_a_browser() {
    require_test_hooks();
    let _serial = common::serial().await;
    let net = Net::start(3, 60, None);
    let honest = [net.node(1, None, &[]), net.node(2, None, &[])];
    net.wait_eligible(&[1, 2], Duration::from_mins(5)).await;
    let (_explorer, port) = start_explorer(&net);

    // Settled by one honest node.
    let settled = net
        .submit("Is water wet? Answer yes or no.", choice_yes_no(), 1)
        .await;
    let status = net.wait_final(settled, Duration::from_mins(3)).await;
    assert_eq!(status, PromptStatus::Settled, "{}", net.logs());

    // Escalated: the liar joins; with three nodes a committee of three is the whole pool.
    let liar = net.node(3, None, &["--byzantine", "lie"]);
    net.wait_eligible(&[3], Duration::from_mins(5)).await;
    let escalated = net
        .submit("Is fire cold? Answer yes or no.", choice_yes_no(), 3)
        .await;
    let status = net.wait_final(escalated, Duration::from_mins(5)).await;
    assert_eq!(status, PromptStatus::Settled, "{}", net.logs());

    // Refunded: nobody is left to answer.
    drop(honest);
    drop(liar);
    let refunded = net
        .submit("Is ice hot? Answer yes or no.", choice_yes_no(), 1)
        .await;
    refund(&net, refunded).await;

    // The API: the latest prompts, newest first, with committees and answers.
    let page = data(port, "/api/prompts");
    assert_eq!(page["total"], 3, "{page}");
    let rows = page["prompts"].as_array().unwrap();
    let row = |id: U256| {
        rows.iter()
            .find(|r| r["promptId"] == id.to_string())
            .unwrap_or_else(|| panic!("prompt {id} listed: {page}"))
    };
    assert_eq!(rows[0]["promptId"], refunded.to_string());
    let s = row(settled);
    assert_eq!(s["status"], "settled");
    assert_eq!(s["result"]["success"], true, "{s}");
    assert_eq!(s["committee"][0]["agreement"], "agreed", "{s}");
    assert!(s["latencySeconds"].as_u64().unwrap() > 0, "{s}");
    assert!(s["totalGas"].as_u64().unwrap() > 100_000, "{s}");
    let e = row(escalated);
    assert_eq!(e["escalations"], 1, "{e}");
    assert_eq!(e["committee"].as_array().unwrap().len(), 3, "{e}");
    let r = row(refunded);
    assert_eq!(
        (r["status"].as_str(), r["refunded"].as_bool()),
        (Some("refunded"), Some(true))
    );

    // One prompt's timeline.
    let detail = data(port, &format!("/api/prompts/{escalated}"));
    let events: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for kind in [
        "submitted",
        "drawn",
        "commit",
        "reveal",
        "escalated",
        "settled",
    ] {
        assert!(events.contains(&kind), "{kind} in {events:?}");
    }
    assert_eq!(detail["rounds"].as_array().unwrap().len(), 2);
    let first = detail["rounds"][0]["committee"].as_array().unwrap();
    assert!(
        first.iter().any(|m| m["agreement"] == "disagreed"),
        "the liar disagreed in round 0: {detail}"
    );
    let detail = data(port, &format!("/api/prompts/{refunded}"));
    assert_eq!(
        detail["timeline"].as_array().unwrap().last().unwrap()["event"],
        "refunded"
    );

    // Nodes, models, network.
    let nodes = data(port, "/api/nodes");
    let nodes = nodes["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let liar_address = net.node_address(3).to_string();
    let liar_row = nodes.iter().find(|n| n["address"] == liar_address).unwrap();
    assert!(liar_row["slashes"].as_u64().unwrap() >= 1, "{liar_row}");
    let models = data(port, "/api/models");
    let model = &models["models"][0];
    assert_eq!(model["id"], "1");
    assert!(
        model["uris"][0].as_str().unwrap().starts_with("file://"),
        "{model}"
    );
    let network = data(port, "/api/network");
    assert_eq!(network["prompts"]["settled"], 2, "{network}");
    assert_eq!(network["prompts"]["refunded"], 1, "{network}");
    assert!(
        network["medianLatencySeconds"].as_f64().is_some(),
        "{network}"
    );
    assert_eq!(network["promptsPerHour"].as_array().unwrap().len(), 24);
    assert!(
        network["emission"]["budget"].as_str().is_some(),
        "{network}"
    );

    // Errors: unknown prompt, bad id, re-verifying a refunded prompt.
    let (code, body) = api(port, "GET", "/api/prompts/99");
    assert_eq!(code, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no prompt 99"),
        "{body}"
    );
    let (code, body) = api(port, "POST", &format!("/api/prompts/{refunded}/verify"));
    assert_eq!(code, 409, "{body}");

    // Re-verify over the API, then the page in a real browser (which clicks it too).
    let (code, verdict) = api(port, "POST", &format!("/api/prompts/{escalated}/verify"));
    assert_eq!(code, 200, "{verdict}");
    assert_eq!(verdict["verdict"], "HONEST", "{verdict}");
    assert_eq!(verdict["settledHash"], verdict["recomputedHash"]);
    let report = browser_checks(port, settled, escalated, refunded);
    eprintln!("{report}");
}

/// Milliseconds `GET path` takes on the explorer (it must answer 200).
fn timed(port: u16, path: &str) -> (f64, Value) {
    let t = Instant::now();
    let body = data(port, path);
    (t.elapsed().as_secs_f64() * 1000.0, body)
}

/// The explorer over a chain of many prompts (10,000, or `AIKERNEL_BENCH_PROMPTS`): a node
/// registers and is stopped, so every prompt stays open (its history is read again at each new
/// block, the costly case). Prints the API's response times: the first page cold (the index
/// read from scratch) and warm, a page deep in the list, a prompt's timeline, the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: submits 10,000 prompts (minutes); run with --ignored --nocapture"]
async fn bench_the_explorer_over_ten_thousand_prompts() {
    let _serial = common::serial().await;
    let count: usize = std::env::var("AIKERNEL_BENCH_PROMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let net = Net::start(1, 60, None);
    let node = net.node(1, None, &[]);
    net.wait_eligible(&[1], Duration::from_mins(5)).await;
    drop(node);
    // Room for all of them at a steady base fee: blocks far below their gas target.
    let provider = net.provider();
    let _: Value = provider
        .raw_request("anvil_setBlockGasLimit".into(), (1_000_000_000u64,))
        .await
        .unwrap();
    let kernel = net.kernel();
    let request = common::text_request(
        alloy::primitives::B256::ZERO,
        "Is water wet?",
        choice_yes_no(),
        8,
        1,
    );
    let fee = kernel
        .quote(request.modelId, request.maxTokens, 1, 0)
        .call()
        .await
        .unwrap();
    let t = Instant::now();
    let mut last = None;
    for _ in 0..count {
        let call = kernel
            .infer(request.clone())
            .value(fee)
            .gas(400_000)
            .max_fee_per_gas(50_000_000_000)
            .max_priority_fee_per_gas(1_000_000_000);
        last = Some(call.send().await.unwrap());
    }
    assert!(last.unwrap().get_receipt().await.unwrap().status());
    let submit_s = t.elapsed().as_secs_f64();
    let blocks = provider.get_block_number().await.unwrap();

    let (_explorer, port) = start_explorer(&net);
    let (cold, page) = timed(port, "/api/prompts");
    assert_eq!(page["total"], count, "{page}");
    let (warm, _) = timed(port, "/api/prompts");
    let deep_offset = count / 2;
    let (deep, _) = timed(port, &format!("/api/prompts?offset={deep_offset}&limit=20"));
    let (timeline, _) = timed(port, &format!("/api/prompts/{}", count / 3));
    let (network, n) = timed(port, "/api/network");
    assert_eq!(n["prompts"]["total"], count);
    // A new block: open prompts are read again (the index only from its last block).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (next_block, _) = timed(port, "/api/prompts");
    let (page_html, _) = {
        let t = Instant::now();
        let (code, html) = common::http_get(port, "/");
        assert_eq!(code, 200);
        (t.elapsed().as_secs_f64() * 1000.0, html)
    };
    eprintln!(
        "explorer benchmark: {count} prompts in {blocks} blocks (submitted in {submit_s:.0} s)\n\
         \x20 GET /                                   {page_html:8.1} ms\n\
         \x20 GET /api/prompts (cold: index + 20)     {cold:8.1} ms\n\
         \x20 GET /api/prompts (same block, cached)   {warm:8.1} ms\n\
         \x20 GET /api/prompts (next block)           {next_block:8.1} ms\n\
         \x20 GET /api/prompts?offset={deep_offset}          {deep:8.1} ms\n\
         \x20 GET /api/prompts/ID (timeline, cold)    {timeline:8.1} ms\n\
         \x20 GET /api/network (cold)                 {network:8.1} ms"
    );
    // First paint in a browser, against a second explorer that has read nothing yet.
    let (_fresh, fresh_port) = start_explorer(&net);
    let paint = browser_paint(fresh_port, count / 3);
    eprintln!(
        "explorer first paint in chromium (fresh server): prompts table {} ms, prompt {} timeline {} ms",
        paint["promptsMs"],
        count / 3,
        paint["timelineMs"]
    );
}
