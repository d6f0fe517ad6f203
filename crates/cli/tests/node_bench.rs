//! Node benchmark (ignored by default; run in release for real figures):
//!
//! ```sh
//! cargo test --release -p aikernel --test node_bench -- --ignored --nocapture
//! ```
//!
//! Three real node processes on a spawned anvil settle `AIKERNEL_BENCH_PROMPTS` (default 30)
//! prompts submitted at once. Reports prompts settled per minute, each node's CPU time for the
//! batch against the engine alone computing the same prompts in this process (the node's
//! overhead), and each node's resident memory split into the shared, file-backed model pages
//! and its private memory.

// Helpers outside #[test] fns read /proc; a failure there means the benchmark cannot run.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use aikernel_drivers::{Driver, InferenceRequest, LlmDriver};
use aikernel_protocol::PromptStatus;

use common::{Net, choice_yes_no};

/// utime + stime of a process, in seconds (clock ticks of 1/100 s on Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn self_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id())
}

/// (VmRSS, RssAnon, RssFile) in MiB.
fn rss_mib(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let get = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .map_or(0.0, |v| v.parse::<f64>().unwrap() / 1024.0)
    };
    (get("VmRSS:"), get("RssAnon:"), get("RssFile:"))
}

fn input(i: usize) -> String {
    format!(
        "Question {i}: is {} greater than {}? Answer yes or no.",
        i * 7 % 50,
        i * 13 % 50
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: minutes of CPU; run explicitly (see the file's docs)"]
async fn node_throughput_overhead_and_memory() {
    let n: usize = std::env::var("AIKERNEL_BENCH_PROMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let net = Net::start(3, 120, None);
    let nodes: Vec<_> = (1..=3).map(|i| net.node(i, None, &[])).collect();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let cpu_before: Vec<f64> = nodes.iter().map(|p| cpu_seconds(p.pid())).collect();
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..n {
        // A topic per prompt: independent prompts, no context carried between them.
        let topic = alloy::primitives::B256::from(alloy::primitives::U256::from(i + 1));
        ids.push(net.submit_on(topic, &input(i), choice_yes_no(), 3).await);
    }
    for id in &ids {
        let status = net.wait_final(*id, Duration::from_mins(10)).await;
        assert_eq!(
            status,
            PromptStatus::Settled,
            "prompt {id} was not settled:{}",
            net.logs()
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let node_cpu: Vec<f64> = nodes
        .iter()
        .zip(&cpu_before)
        .map(|(p, before)| cpu_seconds(p.pid()) - before)
        .collect();
    let memory: Vec<(f64, f64, f64)> = nodes.iter().map(|p| rss_mib(p.pid())).collect();

    // The engine alone on the same requests, same thread count (1), in this process.
    let model = common::shared_cache().join("models");
    let path = std::fs::read_dir(&model)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "bin"))
        .unwrap();
    let driver = LlmDriver::load(&path, 1).unwrap();
    let engine_before = self_cpu_seconds();
    let engine_started = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        let request = InferenceRequest {
            prompt_id: id.to_be_bytes::<32>(),
            input: input(i).into_bytes(),
            schema: choice_yes_no(),
            max_tokens: 8,
            ..InferenceRequest::default()
        };
        let out = driver.run(&request).unwrap();
        let settled = net.kernel().resultOf(*id).call().await.unwrap();
        assert_eq!(
            out.output,
            settled.to_vec(),
            "the engine alone gives the settled bytes"
        );
    }
    let engine_wall = engine_started.elapsed().as_secs_f64();
    let engine_cpu = self_cpu_seconds() - engine_before;

    println!("\nnode benchmark: {n} prompts, committee of 3, 3 node processes on this machine");
    println!(
        "  settled {n} prompts in {elapsed:.1} s: {:.1} prompts/min",
        n as f64 * 60.0 / elapsed
    );
    println!("  engine alone, same prompts: {engine_wall:.2} s wall, {engine_cpu:.2} s CPU");
    for (i, (cpu, (rss, anon, file))) in node_cpu.iter().zip(&memory).enumerate() {
        println!(
            "  node {}: {cpu:.2} s CPU for the batch ({:+.1} % over the engine alone); RSS {rss:.1} MiB = {file:.1} MiB shared model pages + {anon:.1} MiB private",
            i + 1,
            (cpu / engine_cpu - 1.0) * 100.0
        );
    }
}
