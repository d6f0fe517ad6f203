//! The demo's report: each dapp step as it ends, then the network summary and timings (or
//! one JSON document with all of it).

use std::path::Path;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;

use aikernel_chain::Deployment;
use aikernel_chain::bindings::GPUManagement;

use super::apps::StepReport;
use super::chain::Env;

/// What the report says about the run besides the steps.
pub(super) struct Run<'a> {
    /// The chain's RPC URL.
    pub(super) rpc: &'a str,
    /// The kernel's addresses.
    pub(super) deployment: &'a Deployment,
    /// Where the deployment file is.
    pub(super) deployment_file: &'a Path,
    /// The registered model.
    pub(super) model_id: U256,
    /// The second model (asked by FantasySports).
    pub(super) second_model_id: U256,
    /// The explorer's URL.
    pub(super) explorer: &'a str,
    /// Seconds to start the chain and deploy.
    pub(super) chain_s: f64,
    /// Seconds until the nodes were eligible.
    pub(super) nodes_s: f64,
}

/// Prints the network summary and timings for people, or everything as one JSON document.
pub(super) fn print(
    run: &Run<'_>,
    reports: &[StepReport],
    failures: &[String],
    summary: &Summary,
    human: bool,
) -> anyhow::Result<()> {
    let Run {
        rpc,
        deployment,
        deployment_file,
        model_id,
        second_model_id,
        explorer,
        chain_s,
        nodes_s,
    } = *run;
    if human {
        crate::output::outln!("network summary");
        for line in &summary.lines {
            crate::output::outln!("  {line}");
        }
        crate::output::outln!(
            "  timings  chain {chain_s:.1} s, nodes {nodes_s:.1} s, dapps {:.1} s",
            reports.iter().map(|r| r.seconds).sum::<f64>()
        );
        if let Some(first) = reports.first().and_then(|r| r.prompts.first()) {
            crate::output::outln!(
                "  check any answer: aikernel --rpc {rpc} --deployment {} verify {}",
                deployment_file.display(),
                first.prompt_id
            );
        }
        crate::output::outln!("  explorer {explorer}");
    } else {
        let json = serde_json::json!({
            "rpc": rpc,
            "deployment": deployment,
            "deploymentFile": deployment_file,
            "modelId": model_id.to_string(),
            "secondModelId": second_model_id.to_string(),
            "explorer": explorer,
            "seconds": {"chain": chain_s, "nodes": nodes_s},
            "steps": reports,
            "failures": failures,
            "summary": summary.lines,
        });
        crate::output::outln!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(())
}

/// Prints one dapp step for people: question, each prompt's committee and outcome, answer, gas.
pub(super) fn print_step(n: usize, r: &StepReport) {
    crate::output::outln!("[{n}/7] {}", r.app);
    crate::output::outln!("  question   {}", r.question);
    for p in &r.prompts {
        let committee: Vec<String> = p.committee.iter().map(|a| short(&a.to_string())).collect();
        let state = match (p.settled, p.callback_ok) {
            (true, true) => "settled, callback delivered",
            (true, false) => "settled, callback FAILED",
            _ => "refunded",
        };
        crate::output::outln!(
            "  prompt {:<3} committee {} -> {state} in {:.1} s",
            p.prompt_id.to_string(),
            committee.join(", "),
            p.seconds_to_callback
        );
    }
    crate::output::outln!("  answer     {}", r.answer);
    let gas: Vec<String> = r.request_gas.iter().map(|g| group(*g)).collect();
    crate::output::outln!(
        "  gas        request {} ({:.1} s for the step)",
        gas.join(", "),
        r.seconds
    );
    crate::output::outln!();
}

/// `0x1234…abcd`.
fn short(address: &str) -> String {
    format!("{}…{}", &address[..6], &address[address.len() - 4..])
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The network summary: prompts settled, each node's earnings and balance.
pub(super) struct Summary {
    lines: Vec<String>,
}

/// Reads the network summary after the dapps ran.
pub(super) async fn summary(
    env: &Env,
    nodes: &[Address],
    reports: &[StepReport],
) -> anyhow::Result<Summary> {
    let prompts: usize = reports.iter().map(|r| r.prompts.len()).sum();
    let settled: usize = reports
        .iter()
        .flat_map(|r| &r.prompts)
        .filter(|p| p.settled)
        .count();
    let mut lines = vec![format!(
        "prompts  {settled} of {prompts} settled by 3-node committees; block {}",
        env.provider.get_block_number().await?
    )];
    let gpu = GPUManagement::new(env.gpu, env.provider.clone());
    for (i, node) in nodes.iter().enumerate() {
        let earnings = env.kernel.earningsOf(*node).call().await?;
        let rewards = gpu.pendingRewards(*node).call().await?;
        let balance = env.provider.get_balance(*node).await?;
        lines.push(format!(
            "node {}   {node}: unclaimed {earnings} wei + {} EAI of block rewards, balance {:.4} ETH",
            i + 1,
            rewards / U256::from(10u64).pow(U256::from(18u8)),
            f64::from(balance) / 1e18
        ));
    }
    Ok(Summary { lines })
}
