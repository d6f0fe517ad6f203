//! A real network for integration tests: `aikernel devnet` (anvil + kernel + model + funded
//! node keys) and `aikernel node run` processes, driven through alloy.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use aikernel_chain::Deployment;
use aikernel_chain::bindings::{DecentralizedInference, GPUManagement, IAIKernel};
use aikernel_protocol::PromptStatus;

pub mod proxy;

/// Tests of one binary run one network at a time: each runs several node processes, and
/// on two cores parallel networks could miss their commit windows.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// anvil's account 0 (the devnet admin and, in tests, the requester).
pub const ADMIN_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The aikernel binary the network runs: `$AIKERNEL_TEST_BIN` where set (a prebuilt binary,
/// as on a GPU machine without Rust: scripts/gpu-bundle.sh), else the one cargo built for
/// these tests.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("AIKERNEL_TEST_BIN")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_aikernel").to_owned())
    })
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc(pub Child);

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Sends a signal by name (`INT`, `TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shared model cache of the tests (a verified copy of the model is made once).
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("aikernel-node-cache")
}

/// A devnet and the node processes of one test.
pub struct Net {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub rpc: String,
    pub deployment_file: PathBuf,
    pub deployment: Deployment,
    pub keys: Vec<PathBuf>,
    pub cache: PathBuf,
    window: u32,
    model: Option<PathBuf>,
    devnet: Option<Proc>,
    /// The process id of the last process [`Net::node`] started for each node.
    node_pids: std::sync::Mutex<HashMap<usize, u32>>,
}

impl Net {
    /// Starts `aikernel devnet` with `nodes` funded node keys and `window`-second phases.
    pub fn start(nodes: usize, window: u32, model: Option<&Path>) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let deployment_file = dir.path().join("deployment.json");
        let devnet = spawn_devnet(port, nodes, window, model, &deployment_file);
        let deployment = Deployment::load(&deployment_file).unwrap();
        let keys = (1..=nodes)
            .map(|i| dir.path().join(format!("keys/node-{i}.key")))
            .collect();
        Net {
            port,
            rpc: format!("http://127.0.0.1:{port}"),
            deployment_file,
            deployment,
            keys,
            cache: shared_cache(),
            window,
            model: model.map(Path::to_path_buf),
            devnet: Some(devnet),
            node_pids: std::sync::Mutex::default(),
            dir,
        }
    }

    /// Stops the chain (devnet and its anvil); everything on it is gone.
    pub fn stop_chain(&mut self) {
        if let Some(devnet) = self.devnet.take() {
            stop_devnet(devnet);
        }
    }

    /// Starts a fresh chain on the same port, as after a restart of the devnet: a new
    /// genesis, blocks from 0, the kernel redeployed (same deployer, so same addresses) and
    /// the deployment file and node keys written again.
    pub fn start_chain(&mut self) {
        assert!(self.devnet.is_none(), "stop the chain first");
        let devnet = spawn_devnet(
            self.port,
            self.keys.len(),
            self.window,
            self.model.as_deref(),
            &self.deployment_file,
        );
        self.devnet = Some(devnet);
        self.deployment = Deployment::load(&self.deployment_file).unwrap();
    }

    /// Starts node `i` (1-based) with `extra` flags, talking to `rpc` (default: the devnet).
    pub fn node(&self, i: usize, rpc: Option<&str>, extra: &[&str]) -> Proc {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(i))
            .unwrap();
        let child = Command::new(bin())
            .args([
                "-v",
                "node",
                "run",
                "--no-progress",
                "--rpc",
                rpc.unwrap_or(&self.rpc),
            ])
            .arg("--deployment")
            .arg(&self.deployment_file)
            .arg("--key-file")
            .arg(&self.keys[i - 1])
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("node-{i}")))
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.node_pids.lock().unwrap().insert(i, child.id());
        Proc(child)
    }

    /// The first of `nodes` whose last process has exited while the test still holds it (a
    /// zombie: its `Proc` not yet dropped), such as a node that refused its flags.
    fn exited_node(&self, nodes: &[usize]) -> Option<usize> {
        let pids = self.node_pids.lock().unwrap();
        nodes.iter().copied().find(|i| {
            pids.get(i).is_some_and(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // The state follows the command name's closing parenthesis.
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z'))
            })
        })
    }

    pub fn log(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}.log"))
    }

    /// Every node log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for i in 1..=self.keys.len() {
            let text = std::fs::read_to_string(self.log(i)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let _ = write!(out, "\n===== node {i} =====\n");
            out += &tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        }
        out
    }

    pub fn node_address(&self, i: usize) -> Address {
        let text = std::fs::read_to_string(&self.keys[i - 1]).unwrap();
        text.trim().parse::<PrivateKeySigner>().unwrap().address()
    }

    /// A provider with the admin's wallet.
    pub fn provider(&self) -> DynProvider {
        let signer: PrivateKeySigner = ADMIN_KEY.parse().unwrap();
        ProviderBuilder::new()
            .wallet(signer)
            .connect_http(self.rpc.parse().unwrap())
            .erased()
    }

    pub fn kernel(&self) -> DecentralizedInference::DecentralizedInferenceInstance<DynProvider> {
        DecentralizedInference::new(self.deployment.kernel, self.provider())
    }

    /// Waits until every node in `nodes` is eligible (registered, staked, not jailed).
    pub async fn wait_eligible(&self, nodes: &[usize], timeout: Duration) {
        let gpu = GPUManagement::new(self.deployment.gpu, self.provider());
        let end = Instant::now() + timeout;
        loop {
            let mut all = true;
            for &i in nodes {
                all &= gpu.isEligible(self.node_address(i)).call().await.unwrap();
            }
            if all {
                return;
            }
            if let Some(i) = self.exited_node(nodes) {
                panic!(
                    "node {i} exited before it became eligible (see its log):{}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < end,
                "nodes not eligible in time:{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Submits a greedy prompt directly from the admin account.
    pub async fn submit(&self, input: &str, schema: Vec<u8>, committee: u16) -> U256 {
        self.submit_on(B256::ZERO, input, schema, committee).await
    }

    /// Submits a greedy prompt on `topic` (its own context chain).
    pub async fn submit_on(
        &self,
        topic: B256,
        input: &str,
        schema: Vec<u8>,
        committee: u16,
    ) -> U256 {
        self.submit_request(text_request(topic, input, schema, 8, committee))
            .await
    }

    /// Submits `request` from the admin account with the quoted fee and returns its id.
    pub async fn submit_request(&self, request: IAIKernel::Request) -> U256 {
        let kernel = self.kernel();
        let fee = kernel
            .quote(
                request.modelId,
                request.maxTokens,
                request.committeeSize,
                request.callbackGasLimit,
            )
            .call()
            .await
            .unwrap();
        let call = kernel.infer(request).value(fee);
        let id = call.call().await.unwrap();
        let gas = call.estimate_gas().await.unwrap();
        let receipt = call
            .gas(gas * 2)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
        id
    }

    /// Waits for a final status (settled or refunded).
    pub async fn wait_final(&self, id: U256, timeout: Duration) -> PromptStatus {
        let kernel = self.kernel();
        let end = Instant::now() + timeout;
        loop {
            let status = PromptStatus::try_from(kernel.statusOf(id).call().await.unwrap()).unwrap();
            // Publishing is not final: a decided round waits for its output bytes.
            if status.is_final() {
                return status;
            }
            assert!(
                Instant::now() < end,
                "prompt {id} not final in time (status {status}):{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The request identity of prompt `id` as the chain has it now (docs/protocol.md).
    pub async fn identity(&self, id: U256) -> B256 {
        let kernel = self.kernel();
        let request = kernel.requestOf(id).call().await.unwrap();
        let context = kernel.contextOf(id).call().await.unwrap();
        aikernel_chain::protocol::request_identity(id, &request, context.root)
    }

    /// The output node `i` computed for prompt `id` as the request with `identity`.
    pub fn output_of(&self, i: usize, id: U256, identity: B256) -> Option<Vec<u8>> {
        let file = self.dir.path().join(format!(
            "node-{i}/outputs/{id}-{}.bin",
            alloy::hex::encode(identity)
        ));
        std::fs::read(file).ok()
    }

    /// The decoded events of `kind` from the kernel and GPUManagement since the deployment.
    pub async fn logs_of<E: alloy::sol_types::SolEvent>(&self, address: Address) -> Vec<E> {
        let filter = alloy::rpc::types::Filter::new()
            .address(address)
            .event_signature(E::SIGNATURE_HASH)
            .from_block(0);
        self.provider()
            .get_logs(&filter)
            .await
            .unwrap()
            .iter()
            .filter_map(|l| l.log_decode::<E>().ok().map(|l| l.inner.data))
            .collect()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.stop_chain();
    }
}

/// Starts `aikernel devnet` and waits until it serves.
fn spawn_devnet(
    port: u16,
    nodes: usize,
    window: u32,
    model: Option<&Path>,
    deployment_file: &Path,
) -> Proc {
    let mut cmd = Command::new(bin());
    cmd.args([
        "devnet",
        "--port",
        &port.to_string(),
        "--nodes",
        &nodes.to_string(),
    ])
    .args(["--window", &window.to_string(), "--deployment"])
    .arg(deployment_file)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(model) = model {
        cmd.arg("--model").arg(model);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let devnet = Proc(child);
    loop {
        let line = lines.next().expect("devnet exited before serving").unwrap();
        if line.contains("serving until Ctrl-C") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    devnet
}

/// A greedy request for model 1 without callback: `input` on `topic`, `schema` (empty: free
/// text), at most `max_tokens` tokens, a committee of `committee`.
pub fn text_request(
    topic: B256,
    input: &str,
    schema: Vec<u8>,
    max_tokens: u32,
    committee: u16,
) -> IAIKernel::Request {
    IAIKernel::Request {
        modelId: U256::from(1u8),
        topic,
        input: input.as_bytes().to_vec().into(),
        inputHash: B256::ZERO,
        extraContext: Bytes::new(),
        schema: schema.into(),
        maxTokens: max_tokens,
        temperature: 0,
        seed: 0,
        callback: Address::ZERO,
        callbackGasLimit: 0,
        committeeSize: committee,
    }
}

/// SIGINT lets devnet stop its anvil.
fn stop_devnet(mut devnet: Proc) {
    devnet.signal("INT");
    let _ = devnet.wait_exit(Duration::from_secs(10));
}

/// `Schema.choice(["yes", "no"])` in the compact encoding.
pub fn choice_yes_no() -> Vec<u8> {
    let mut s = vec![0x02, 0x02, 3];
    s.extend_from_slice(b"yes");
    s.push(2);
    s.extend_from_slice(b"no");
    s
}

/// `GET path` on a node's metrics address: the HTTP status code and the body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_request(port, "GET", path)
}

/// The value of metric `name` in the Prometheus text (panics naming it when absent).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        .parse()
        .unwrap()
}

/// `METHOD path` (no body) on 127.0.0.1:`port`, a server that closes the connection after
/// answering (a node's metrics, the explorer): the HTTP status code and the body.
pub fn http_request(port: u16, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or_else(String::new, |(_, b)| b.to_owned());
    (code, body)
}

/// A provider signing with node `i`'s key.
pub fn node_provider(net: &Net, i: usize) -> DynProvider {
    let text = std::fs::read_to_string(&net.keys[i - 1]).unwrap();
    let signer: PrivateKeySigner = text.trim().parse().unwrap();
    ProviderBuilder::new()
        .wallet(signer)
        .connect_http(net.rpc.parse().unwrap())
        .erased()
}
