//! The whole lifecycle on a second EVM implementation: Hardhat's network node (EDR, installed
//! by `scripts/setup.sh` from `tools/hardhat/package-lock.json`) instead of anvil. The real
//! `aikernel deploy` deploys the kernel, `aikernel models register` registers the default
//! model, three `aikernel node run` processes stake and serve it, one prompt of every schema
//! kind is sent with `aikernel prompt --wait` (each from its own requester, all at once), all
//! settle with the three nodes agreeing, and `aikernel verify` finds every output honest.
//!
//! Nothing here is anvil-specific: fresh keys are funded from the deployer, and only standard
//! `eth_*` methods are used. A missing Hardhat fails the test; it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;

use aikernel_chain::Deployment;
use aikernel_chain::bindings::{EAI, GPUManagement, GPUManagement::NodeSlashed};

use common::{ADMIN_KEY, Proc, bin, free_port, shared_cache};

/// One prompt per schema kind (docs/schema.md): spec, input and max tokens. Greedy decoding is
/// deterministic and each of these completes within its tokens, so each settles as a value
/// (`aikernel prompt --wait` exits non-zero on an error result).
const PROMPTS: [(&str, &str, u32); 8] = [
    ("bool", "Is water wet? Answer true or false.", 8),
    ("int:0..100", "How many legs does a spider have?", 8),
    ("choice:yes|no", "Is the sky blue? Answer yes or no.", 8),
    ("address", "Write an Ethereum address.", 48),
    ("text:24", "Name a colour.", 8),
    ("free", "Say hello.", 8),
    (
        "tuple(bool, int:0..9)",
        "Is fire hot, and how many toes?",
        16,
    ),
    ("array(int:0..9, 3)", "List three digits.", 16),
];

/// Hardhat's network node, started from `tools/hardhat` on a free port; killed on drop.
struct Hardhat {
    _proc: Proc,
    rpc: String,
    log: PathBuf,
}

impl Hardhat {
    /// Starts `hardhat node` (with `automine`, every transaction in a block of its own as
    /// well as one block a second) and waits until it serves.
    fn start(dir: &Path, automine: bool) -> Hardhat {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/hardhat");
        let exe = root.join("node_modules/.bin/hardhat");
        assert!(
            exe.is_file(),
            "{} is missing: run ./scripts/setup.sh, which installs Hardhat from \
             tools/hardhat/package-lock.json (this test needs it and never skips)",
            exe.display()
        );
        let port = free_port();
        let log = dir.join("hardhat.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(&exe)
            .current_dir(&root)
            .args(["--config", "hardhat.config.js", "node", "--hostname"])
            .args(["127.0.0.1", "--port", &port.to_string()])
            .env("HARDHAT_DISABLE_TELEMETRY_PROMPT", "true")
            .env(
                "AIKERNEL_HARDHAT_MINING",
                if automine { "auto" } else { "interval" },
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let mut proc = Proc(child);
        let end = Instant::now() + Duration::from_mins(1);
        while !read(&log).contains("Started HTTP and WebSocket JSON-RPC server") {
            assert!(
                proc.running(),
                "hardhat node exited at start:\n{}",
                read(&log)
            );
            assert!(
                Instant::now() < end,
                "hardhat node not serving after 60 s:\n{}",
                read(&log)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Hardhat {
            _proc: proc,
            rpc: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Its log without the colour codes EDR's logger always writes.
    fn log_text(&self) -> String {
        let text = read(&self.log);
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find("\x1b[") {
            out += &rest[..at];
            let tail = &rest[at..];
            rest = tail.find('m').map_or("", |m| &tail[m + 1..]);
        }
        out + rest
    }
}

/// A log file's text (empty while it does not exist).
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The chain, the deployment and the node processes of the test.
struct Network {
    dir: tempfile::TempDir,
    hardhat: Hardhat,
    deployment_file: PathBuf,
    node_keys: Vec<PrivateKeySigner>,
}

impl Network {
    /// `aikernel <args>` against the chain and the deployment; fails with its output and
    /// every log when it does not succeed.
    fn cli(&self, args: &[&str]) -> Output {
        let out = Command::new(bin())
            .arg("--rpc")
            .arg(&self.hardhat.rpc)
            .arg("--deployment")
            .arg(&self.deployment_file)
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aikernel {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        out
    }

    /// A provider signing with `signer`.
    fn provider(&self, signer: PrivateKeySigner) -> DynProvider {
        ProviderBuilder::new()
            .wallet(signer)
            .connect_http(self.hardhat.rpc.parse().unwrap())
            .erased()
    }

    /// The addresses `aikernel deploy` wrote.
    fn deployment(&self) -> Deployment {
        Deployment::load(&self.deployment_file).unwrap()
    }

    fn admin(&self) -> DynProvider {
        self.provider(ADMIN_KEY.parse().unwrap())
    }

    /// Starts node `i` (1-based) with its own key file and data folder.
    fn node(&self, i: usize) -> Proc {
        let key_file = self.dir.path().join(format!("node-{i}.key"));
        let key = self.node_keys[i - 1].to_bytes();
        std::fs::write(&key_file, format!("0x{}\n", alloy::hex::encode(key))).unwrap();
        let log = std::fs::File::create(self.node_log(i)).unwrap();
        let child = Command::new(bin())
            .args([
                "-v",
                "node",
                "run",
                "--no-progress",
                "--rpc",
                &self.hardhat.rpc,
            ])
            .arg("--deployment")
            .arg(&self.deployment_file)
            .arg("--key-file")
            .arg(&key_file)
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("node-{i}")))
            .arg("--cache-dir")
            .arg(shared_cache())
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Proc(child)
    }

    fn node_log(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}.log"))
    }

    /// The tail of every node log and of hardhat's, for failure messages.
    fn logs(&self) -> String {
        let tail = |text: String, n: usize| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        let mut out = String::new();
        for i in 1..=self.node_keys.len() {
            let text = read(&self.node_log(i));
            let _ = write!(out, "\n===== node {i} =====\n{}", tail(text, 40));
        }
        let _ = write!(
            out,
            "\n===== hardhat =====\n{}",
            tail(self.hardhat.log_text(), 60)
        );
        out
    }

    /// Waits until every node is eligible (registered, staked, not jailed).
    async fn wait_eligible(&self, timeout: Duration) {
        let gpu = GPUManagement::new(self.deployment().gpu, self.admin());
        let end = Instant::now() + timeout;
        loop {
            let mut all = true;
            for key in &self.node_keys {
                all &= gpu.isEligible(key.address()).call().await.unwrap();
            }
            if all {
                return;
            }
            assert!(
                Instant::now() < end,
                "nodes not eligible in time:{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Blocks only every second, as on a real chain: transactions wait in the pool and several
/// share a block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_settles_and_verifies_on_hardhat_with_one_block_a_second() {
    lifecycle(false).await;
}

/// Every transaction mined at once, in a block of its own (many blocks share a timestamp).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_settles_and_verifies_on_hardhat_automining() {
    lifecycle(true).await;
}

/// Deploy, register, fund, three nodes, a prompt of every schema kind, verify.
async fn lifecycle(automine: bool) {
    let _serial = common::serial().await;
    let started = Instant::now();
    let net = Network::deploy(automine);
    let requesters = net.fund(PROMPTS.len()).await;
    let _nodes: Vec<Proc> = (1..=3).map(|i| net.node(i)).collect();
    net.wait_eligible(Duration::from_mins(3)).await;
    let ready = started.elapsed();
    let settled = net.prompt_all(&requesters);
    let prompted = started.elapsed();
    net.verify_all(&settled);
    net.assert_clean().await;
    eprintln!(
        "hardhat lifecycle (automine {automine}): nodes eligible after {:.0} s, {} prompts \
         settled after {:.0} s, verified after {:.0} s",
        ready.as_secs_f64(),
        settled.len(),
        prompted.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

impl Network {
    /// Starts Hardhat, deploys the kernel with the real CLI (key by flag) and registers the
    /// default model (setup.sh installs it in the cache).
    fn deploy(automine: bool) -> Network {
        let dir = tempfile::tempdir().unwrap();
        let net = Network {
            hardhat: Hardhat::start(dir.path(), automine),
            deployment_file: dir.path().join("deployment.json"),
            node_keys: (0..3).map(|_| PrivateKeySigner::random()).collect(),
            dir,
        };
        let out = net.cli(&["--json", "deploy", "--private-key", ADMIN_KEY]);
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed["chainId"], 31337, "{printed}");

        let model = aikernel_engine::paths::model();
        assert!(
            model.is_file(),
            "{}: run ./scripts/setup.sh",
            model.display()
        );
        let file = model.to_str().unwrap();
        let out = net.cli(&[
            "--json", "models", "register", "--key", ADMIN_KEY, "--file", file,
        ]);
        let registered: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(registered["id"], "1", "{registered}");
        net
    }

    /// From the deployer: ETH for gas and EAI to stake to each node, ETH to `requesters` fresh
    /// keys, which it returns. All sent at once (pending nonces), then every receipt awaited.
    async fn fund(&self, requesters: usize) -> Vec<PrivateKeySigner> {
        let keys: Vec<PrivateKeySigner> = (0..requesters)
            .map(|_| PrivateKeySigner::random())
            .collect();
        let admin = self.admin();
        let eai = EAI::new(self.deployment().eai, admin.clone());
        let ether = U256::from(10u64).pow(U256::from(18u8));
        let eth = |to: Address, value| TransactionRequest::default().with_to(to).with_value(value);
        let mut txs = Vec::new();
        for key in &self.node_keys {
            txs.push(eth(key.address(), ether * U256::from(10u8)));
            let stake = eai.transfer(key.address(), ether * U256::from(10_000u32));
            txs.push(stake.into_transaction_request());
        }
        txs.extend(keys.iter().map(|k| eth(k.address(), ether)));
        let mut pending = Vec::new();
        for tx in txs {
            pending.push(admin.send_transaction(tx).await.unwrap());
        }
        for p in pending {
            assert!(p.get_receipt().await.unwrap().status());
        }
        keys
    }

    /// Sends one prompt of each schema kind with `aikernel prompt --wait`, each from its own
    /// requester and all at once; checks each settled with all three nodes paid. Returns the
    /// schemas and prompt ids.
    fn prompt_all(&self, requesters: &[PrivateKeySigner]) -> Vec<(&'static str, String)> {
        let children: Vec<_> = PROMPTS
            .iter()
            .zip(requesters)
            .map(|(&(schema, input, max_tokens), key)| {
                Command::new(bin())
                    .arg("--rpc")
                    .arg(&self.hardhat.rpc)
                    .arg("--deployment")
                    .arg(&self.deployment_file)
                    .args(["--json", "prompt", "--model-id", "1", "--committee", "3"])
                    .args(["--wait", "--timeout", "300", "--schema", schema])
                    .args(["--input", input, "--max-tokens", &max_tokens.to_string()])
                    .env(
                        "AIKERNEL_KEY",
                        format!("0x{}", alloy::hex::encode(key.to_bytes())),
                    )
                    .env("NO_COLOR", "1")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut settled = Vec::new();
        for (child, &(schema, ..)) in children.into_iter().zip(&PROMPTS) {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "prompt {schema} failed ({}):\nstdout:\n{}\nstderr:\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
            let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            eprintln!(
                "{schema}: prompt {} -> {} ({:.1} s)",
                result["promptId"], result["result"], result["seconds"]
            );
            assert_eq!(
                result["status"],
                "settled",
                "{schema}: {result}{}",
                self.logs()
            );
            assert_eq!(
                result["rewards"].as_array().map(Vec::len),
                Some(3),
                "{schema}: all three nodes revealed the same answer: {result}{}",
                self.logs()
            );
            assert_eq!(result["result"]["success"], true, "{schema}: {result}");
            settled.push((schema, result["promptId"].as_str().unwrap().to_owned()));
        }
        settled
    }

    /// `aikernel verify` finds each settled output honest (what this machine computes).
    fn verify_all(&self, settled: &[(&str, String)]) {
        let cache = shared_cache();
        for (schema, id) in settled {
            let out = self.cli(&["verify", id, "--cache-dir", cache.to_str().unwrap()]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("HONEST"), "{schema} (prompt {id}):\n{text}");
        }
    }

    /// Nobody was slashed and no node logged an error; warnings are printed.
    async fn assert_clean(&self) {
        let filter = alloy::rpc::types::Filter::new()
            .address(self.deployment().gpu)
            .event_signature(<NodeSlashed as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
            .from_block(0);
        let slashed = self.admin().get_logs(&filter).await.unwrap();
        assert!(slashed.is_empty(), "nobody slashed:{}", self.logs());
        for i in 1..=self.node_keys.len() {
            let log = read(&self.node_log(i));
            for line in log.lines().filter(|l| l.contains(" WARN ")) {
                eprintln!("node {i}: {line}");
            }
            assert!(
                !log.contains(" ERROR "),
                "node {i} logged errors:{}",
                self.logs()
            );
        }
    }
}
