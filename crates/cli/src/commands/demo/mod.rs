//! `aikernel demo`: the whole system in one command. A local anvil, the kernel, the default
//! model, three node processes, and every example dapp asking its question; then the
//! network stays up for the user's own prompts until Ctrl-C.

mod apps;
mod chain;
mod dapps;
mod nodes;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::Provider;
use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use aikernel_chain::bindings::GPUManagement;

use self::apps::StepReport;
use self::chain::Env;
use self::nodes::{NodeProcesses, NodeSpec};
use super::devnet::{self, DevnetArgs};
use crate::global::GlobalArgs;

/// Arguments of `aikernel demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Port of the local chain (127.0.0.1).
    #[arg(long, default_value_t = 8545)]
    port: u16,

    /// Folder for the demo's deployment file, node keys, node state and logs (recreated).
    #[arg(long, default_value = ".aikernel/demo")]
    dir: PathBuf,

    /// The model file to register (GGUF).
    #[arg(
        long = "model-file",
        alias = "model",
        value_name = "PATH",
        env = "AIKERNEL_MODEL",
        default_value_os_t = devnet::default_model()
    )]
    model: PathBuf,

    /// Run the dapps, print the report and stop instead of serving until Ctrl-C.
    #[arg(long)]
    no_wait: bool,
}

/// Runs the demo until it is done or Ctrl-C / SIGTERM arrives, at any point: the signal
/// drops the demo where it is, and with it the node processes and anvil (their owners stop
/// them on drop), so nothing is left running.
pub(crate) fn run(args: &DemoArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        // Listening before anything starts: a signal during setup or the dapps counts too.
        let signal = super::shutdown_signal();
        tokio::pin!(signal);
        tokio::select! {
            result = demo(args, global) => result,
            () = &mut signal => {
                if !global.json {
                    crate::output::outln!("stopping the nodes and the chain");
                }
                Ok(())
            }
        }
    })
}

fn spinner(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

async fn demo(args: &DemoArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let human = !global.json;
    let say = |line: String| {
        if human {
            crate::output::outln!("{line}");
        }
    };
    let dir = &args.dir;
    nodes::kill_stale(&dir.join("pids"));
    for sub in ["nodes", "logs", "keys"] {
        let path = dir.join(sub);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cleaning {}", path.display()))?;
        }
    }
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let deployment_file = dir.join("deployment.json");

    say("aikernel demo: verified, typed LLM inference for smart contracts".to_owned());
    say(String::new());
    let t = Instant::now();
    let bar = spinner(!human);
    bar.set_message(format!(
        "starting anvil on port {}, deploying the kernel, registering the model",
        args.port
    ));
    let devnet_args = DevnetArgs {
        port: args.port,
        block_time: 1,
        model: args.model.clone(),
        fee_per_token: 1_000_000_000,
        tokens_per_second: 10,
        nodes: 3,
        node_eai: 10_000,
        window: 60,
        no_wait: true,
    };
    let net = devnet::start(&devnet_args, &deployment_file).await?;
    bar.finish_and_clear();
    let chain_s = t.elapsed().as_secs_f64();
    let rpc = format!("http://127.0.0.1:{}", args.port);
    say(format!(
        "chain    anvil at {rpc}, kernel {} (model {}), {chain_s:.1} s",
        net.deployment.kernel, net.model_id
    ));

    let t = Instant::now();
    let metrics_ports = free_ports_from(args.port.saturating_add(101), net.node_keys.len())?;
    let specs: Vec<NodeSpec> = net
        .node_keys
        .iter()
        .zip(&metrics_ports)
        .enumerate()
        .map(|(i, (key, port))| NodeSpec {
            key_file: key.clone(),
            data_dir: dir.join("nodes").join(format!("node-{}", i + 1)),
            log_file: dir.join("logs").join(format!("node-{}.log", i + 1)),
            metrics_port: *port,
        })
        .collect();
    let mut procs = NodeProcesses::spawn(&specs, &rpc, &deployment_file, &dir.join("pids"))?;
    procs.write_pid_file(net.anvil.child().id().into())?;
    let bar = spinner(!human);
    bar.set_message("3 nodes: fetching and verifying the model, registering and staking");
    let gpu = GPUManagement::new(net.deployment.gpu, net.provider.clone());
    let node_addresses: Vec<_> = net.anvil.addresses()[1..=3].to_vec();
    loop {
        if let Some((i, status)) = procs.exited() {
            bar.finish_and_clear();
            let log = std::fs::read_to_string(&specs[i].log_file).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            bail!(
                "node {} exited ({status}); last lines of {}:\n{}",
                i + 1,
                specs[i].log_file.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let mut ready = 0;
        for a in &node_addresses {
            if gpu.isEligible(*a).call().await.unwrap_or(false) {
                ready += 1;
            }
        }
        if ready == node_addresses.len() {
            break;
        }
        if t.elapsed() > Duration::from_mins(10) {
            bail!(
                "nodes did not register within 10 minutes; see {}",
                dir.join("logs").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    bar.finish_and_clear();
    let nodes_s = t.elapsed().as_secs_f64();
    say(format!(
        "nodes    3 staked nodes up in {nodes_s:.1} s (pids {:?}; logs in {}; metrics on ports {:?})",
        procs.pids(),
        dir.join("logs").display(),
        metrics_ports
    ));
    say(String::new());

    let env = Env {
        kernel: Env::kernel_at(net.provider.clone(), net.deployment.kernel),
        provider: net.provider.clone(),
        model_id: net.model_id,
        gpu: net.deployment.gpu,
        user: net.admin.address(),
        start_block: net.deployment.start_block,
        spinner: ProgressBar::hidden(),
    };
    let steps: [(&str, StepFn); 7] = [
        ("FantasySports", |e| Box::pin(apps::fantasy_sports(e))),
        ("ChatAgent", |e| Box::pin(apps::chat_agent(e))),
        ("AIWallet", |e| Box::pin(apps::ai_wallet(e))),
        ("AIOracle", |e| Box::pin(apps::ai_oracle(e))),
        ("AIDAO", |e| Box::pin(apps::ai_dao(e))),
        ("CreditScore", |e| Box::pin(apps::credit_score(e))),
        ("NameGenerator", |e| Box::pin(apps::name_generator(e))),
    ];
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (i, (name, step)) in steps.iter().enumerate() {
        let bar = spinner(!human);
        bar.set_message(format!("[{}/7] {name}: asking the kernel", i + 1));
        let env = Env {
            spinner: bar.clone(),
            provider: env.provider.clone(),
            kernel: env.kernel.clone(),
            ..env
        };
        let result = step(&env).await;
        bar.finish_and_clear();
        match result {
            Ok(report) => {
                if human {
                    print_step(i + 1, &report);
                }
                if !report.ok() {
                    failures.push(format!(
                        "{name}: not every prompt settled with a delivered callback"
                    ));
                }
                reports.push(report);
            }
            Err(e) => {
                say(format!("[{}/7] {name}: FAILED: {e:#}", i + 1));
                failures.push(format!("{name}: {e:#}"));
            }
        }
    }

    let summary = summary(&env, &node_addresses, &reports).await?;
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
    } else {
        let json = serde_json::json!({
            "rpc": rpc,
            "deployment": net.deployment,
            "deploymentFile": deployment_file,
            "modelId": net.model_id.to_string(),
            "seconds": {"chain": chain_s, "nodes": nodes_s},
            "steps": reports,
            "failures": failures,
            "summary": summary.lines,
        });
        crate::output::outln!("{}", serde_json::to_string_pretty(&json)?);
    }
    if !failures.is_empty() {
        bail!(
            "{} dapp step(s) failed: {}",
            failures.len(),
            failures.join("; ")
        );
    }
    if !args.no_wait {
        say(String::new());
        say(format!(
            "the network is up. Try (anvil account 5 pays): aikernel --rpc {rpc} --deployment {} prompt --model-id 1 --input \"Is the sky blue?\" --schema bool --wait --key 0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
            deployment_file.display()
        ));
        say("Ctrl-C stops the nodes and the chain".to_owned());
        // Serves until `run`'s signal branch ends the demo.
        std::future::pending::<()>().await;
    }
    drop(procs);
    drop(net);
    Ok(())
}

type StepFn = for<'a> fn(
    &'a Env,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = anyhow::Result<StepReport>> + 'a>,
>;

fn print_step(n: usize, r: &StepReport) {
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

fn short(address: &str) -> String {
    format!("{}…{}", &address[..6], &address[address.len() - 4..])
}

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

struct Summary {
    lines: Vec<String>,
}

async fn summary(
    env: &Env,
    nodes: &[alloy::primitives::Address],
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

/// The first `count` ports at or after `start` that nothing on 127.0.0.1 listens on, for the
/// nodes' metrics servers: the usual ones are `--port` + 101, 102, 103, but a port another
/// program holds is skipped instead of failing a node at startup.
fn free_ports_from(start: u16, count: usize) -> anyhow::Result<Vec<u16>> {
    let mut ports = Vec::with_capacity(count);
    let mut candidate = start;
    while ports.len() < count {
        if std::net::TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            ports.push(candidate);
        }
        candidate = candidate.checked_add(1).with_context(|| {
            format!("no {count} free ports for the nodes' metrics between {start} and 65535")
        })?;
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::free_ports_from;

    #[test]
    fn a_metrics_port_in_use_is_skipped() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let ports = free_ports_from(busy, 3).unwrap();
        assert_eq!(ports.len(), 3);
        assert!(
            !ports.contains(&busy),
            "{ports:?} includes the held port {busy}"
        );
        assert!(ports.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn running_out_of_ports_is_an_error_naming_the_range() {
        let err = free_ports_from(65535, 70_000).unwrap_err().to_string();
        assert!(err.contains("65535"), "{err}");
    }
}
