//! `aikernel demo`: the whole system in one command. A local anvil, the kernel, the default
//! model, three node processes, and every example dapp asking its question; then the
//! network stays up for the user's own prompts until Ctrl-C.

mod apps;
mod chain;
mod dapps;
mod nodes;
mod ports;
mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use aikernel_chain::bindings::GPUManagement;
use aikernel_drivers::{DriverSpec, Family};

use self::apps::StepReport;
use self::chain::Env;
use self::nodes::{NodeProcesses, NodeSpec};
use self::ports::free_ports_from;
use super::devnet::{self, Devnet, DevnetArgs};
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

    /// The prompt rule the models are registered under, as a driver name (how nodes decide
    /// typed answers; docs/drivers.md): llm-llama@2, llm-llama@3, llm-llama@2-calibrated or
    /// llm-llama. Each model is registered under that rule for its own family: Gemma 3 with
    /// `llm-llama@2` is registered as `llm-gemma3@2`.
    #[arg(long, default_value = aikernel_drivers::DRIVER_NAME_V2)]
    driver: String,

    /// The second model, registered as model 2 and asked by FantasySports (GGUF; default
    /// Gemma 3 270M, a base model served through the completion layout).
    #[arg(
        long = "second-model-file",
        value_name = "PATH",
        default_value_os_t = aikernel_engine::paths::gemma3_270m()
    )]
    second_model: PathBuf,

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

/// Prints `line` to stdout for people (nothing in JSON mode).
fn say(human: bool, line: &str) {
    if human {
        crate::output::outln!("{line}");
    }
}

/// The demo from start to end: chain, nodes, the dapps, the report, then (without
/// `--no-wait`) serving until `run`'s signal branch ends it.
async fn demo(args: &DemoArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let human = !global.json;
    let dir = &args.dir;
    prepare_dir(dir)?;
    let deployment_file = dir.join("deployment.json");

    say(
        human,
        "aikernel demo: verified, typed LLM inference for smart contracts",
    );
    say(human, "");
    let (net, second_model_id, chain_s) = start_chain(args, &deployment_file, human).await?;
    let rpc = format!("http://127.0.0.1:{}", args.port);
    say(
        human,
        &format!(
            "chain    anvil at {rpc}, kernel {} (model {}: {}; model {second_model_id}: {}), {chain_s:.1} s",
            net.deployment.kernel,
            net.model_id,
            file_name(&args.model),
            file_name(&args.second_model)
        ),
    );

    let served = [net.model_id, second_model_id].map(|id| id.to::<u64>());
    let nodes = start_nodes(&net, &served, args.port, dir, &rpc, &deployment_file, human).await?;
    say(
        human,
        &format!(
            "nodes    3 staked nodes up in {:.1} s (pids {:?}; logs in {}; metrics on ports {:?})",
            nodes.seconds,
            nodes.procs.pids(),
            dir.join("logs").display(),
            nodes.metrics_ports
        ),
    );
    let explorer = start_explorer(&rpc, &deployment_file).await?;
    say(
        human,
        &format!("explorer {explorer} (the chain live: prompts, committees, nodes, re-verify)"),
    );
    say(human, "");

    let env = Env {
        kernel: Env::kernel_at(net.provider.clone(), net.deployment.kernel),
        provider: net.provider.clone(),
        model_id: net.model_id,
        second_model_id,
        gpu: net.deployment.gpu,
        user: net.admin.address(),
        start_block: net.deployment.start_block,
        spinner: ProgressBar::hidden(),
    };
    let (reports, failures) = run_dapps(&env, human).await;

    let summary = report::summary(&env, &nodes.addresses, &reports).await?;
    let run = report::Run {
        rpc: &rpc,
        deployment: &net.deployment,
        deployment_file: &deployment_file,
        model_id: net.model_id,
        second_model_id,
        explorer: &explorer,
        chain_s,
        nodes_s: nodes.seconds,
    };
    report::print(&run, &reports, &failures, &summary, human)?;
    if !failures.is_empty() {
        bail!(
            "{} dapp step(s) failed: {}",
            failures.len(),
            failures.join("; ")
        );
    }
    if !args.no_wait {
        serve_until_signal(&rpc, &deployment_file, human).await;
    }
    drop(nodes);
    drop(net);
    Ok(())
}

/// Stops what an earlier demo in `dir` left running and empties its node, log and key folders.
fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    nodes::kill_stale(&dir.join("pids"));
    for sub in ["nodes", "logs", "keys"] {
        let path = dir.join(sub);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cleaning {}", path.display()))?;
        }
    }
    std::fs::create_dir_all(dir.join("logs")).with_context(|| format!("creating {}", dir.display()))
}

/// Starts anvil, deploys the kernel and registers both models (a devnet with 1 s blocks and
/// three funded node keys); returns it, the second model's id and the seconds it took.
async fn start_chain(
    args: &DemoArgs,
    deployment_file: &Path,
    human: bool,
) -> anyhow::Result<(Devnet, alloy::primitives::U256, f64)> {
    if !args.second_model.is_file() {
        bail!(
            "second model file {} not found: run ./scripts/setup.sh (it installs Gemma 3 270M) or pass --second-model-file",
            args.second_model.display()
        );
    }
    if !args.model.is_file() {
        bail!(
            "model file {} not found: run ./scripts/setup.sh",
            args.model.display()
        );
    }
    let first_driver = same_rule(&args.driver, &args.model)?;
    let second_driver = same_rule(&args.driver, &args.second_model)?;
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
        driver: Some(first_driver),
        fee_per_token: 1_000_000_000,
        tokens_per_second: 10,
        nodes: 3,
        node_eai: 10_000,
        window: 60,
        no_wait: true,
    };
    let net = devnet::start(&devnet_args, deployment_file).await?;
    let second = devnet::register_model(
        &net.provider,
        net.deployment.models,
        &args.second_model,
        Some(&second_driver),
        devnet_args.fee_per_token,
        devnet_args.tokens_per_second,
    )
    .await
    .with_context(|| format!("registering {}", args.second_model.display()))?;
    bar.finish_and_clear();
    Ok((net, second.id, t.elapsed().as_secs_f64()))
}

/// The driver name of rule `driver` (any family) for the model file at `path`'s family.
fn same_rule(driver: &str, path: &Path) -> anyhow::Result<String> {
    let spec = DriverSpec::parse(driver).context("--driver")?;
    let family = Family::of_file(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(spec.with_family(family).name())
}

/// The file name of `path`, for the report.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Starts the explorer of the demo's chain in this process, on the first free port from
/// 8090; returns its URL.
async fn start_explorer(rpc: &str, deployment_file: &Path) -> anyhow::Result<String> {
    let port = free_ports_from(8090, 1)?[0];
    let options = super::explorer::VerifyOptions {
        rpc: rpc.to_owned(),
        deployment: deployment_file.to_path_buf(),
        cache_dir: None,
        threads: 1,
    };
    let addr = super::explorer::start(([127, 0, 0, 1], port).into(), options).await?;
    Ok(format!("http://{addr}/"))
}

/// The demo's node processes, once every one of them is eligible on chain.
struct Nodes {
    /// The processes (stopped on drop).
    procs: NodeProcesses,
    /// Their metrics ports.
    metrics_ports: Vec<u16>,
    /// Their addresses (anvil accounts 1 to 3).
    addresses: Vec<Address>,
    /// Seconds from spawning to all eligible.
    seconds: f64,
}

/// Spawns a node process per devnet node key and waits until all are eligible (model fetched
/// and verified, registered, staked); fails with a node's last log lines when one exits, or
/// after 10 minutes.
async fn start_nodes(
    net: &Devnet,
    models: &[u64],
    port: u16,
    dir: &Path,
    rpc: &str,
    deployment_file: &Path,
    human: bool,
) -> anyhow::Result<Nodes> {
    let t = Instant::now();
    let metrics_ports = free_ports_from(port.saturating_add(101), net.node_keys.len())?;
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
            models: models.to_vec(),
        })
        .collect();
    let mut procs = NodeProcesses::spawn(&specs, rpc, deployment_file, &dir.join("pids"))?;
    procs.write_pid_file(net.anvil.child().id().into())?;
    let bar = spinner(!human);
    bar.set_message("3 nodes: fetching and verifying the model, registering and staking");
    let gpu = GPUManagement::new(net.deployment.gpu, net.provider.clone());
    let addresses: Vec<Address> = net.anvil.addresses()[1..=3].to_vec();
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
        for a in &addresses {
            if gpu.isEligible(*a).call().await.unwrap_or(false) {
                ready += 1;
            }
        }
        if ready == addresses.len() {
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
    Ok(Nodes {
        procs,
        metrics_ports,
        addresses,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// Runs the seven dapp steps in order, printing each as it ends; returns the reports of the
/// steps that ran and a line per failure (a failed step does not stop the others).
async fn run_dapps(env: &Env, human: bool) -> (Vec<StepReport>, Vec<String>) {
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
            ..*env
        };
        let result = step(&env).await;
        bar.finish_and_clear();
        match result {
            Ok(report) => {
                if human {
                    report::print_step(i + 1, &report);
                }
                if !report.ok() {
                    failures.push(format!(
                        "{name}: not every prompt settled with a delivered callback"
                    ));
                }
                reports.push(report);
            }
            Err(e) => {
                say(human, &format!("[{}/7] {name}: FAILED: {e:#}", i + 1));
                failures.push(format!("{name}: {e:#}"));
            }
        }
    }
    (reports, failures)
}

/// Prints how to use the running network, then waits forever: `run`'s signal branch ends the
/// demo (and with it the nodes and the chain).
async fn serve_until_signal(rpc: &str, deployment_file: &Path, human: bool) {
    say(human, "");
    say(
        human,
        &format!(
            "the network is up. Try (anvil account 5 pays): aikernel --rpc {rpc} --deployment {} prompt --model-id 1 --input \"Is the sky blue?\" --schema bool --wait --key 0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
            deployment_file.display()
        ),
    );
    say(human, "Ctrl-C stops the nodes and the chain");
    std::future::pending::<()>().await;
}

type StepFn = for<'a> fn(
    &'a Env,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = anyhow::Result<StepReport>> + 'a>,
>;
