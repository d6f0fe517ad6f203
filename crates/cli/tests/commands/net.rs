//! The test network of `commands.rs`: a fresh anvil with the kernel deployed, the CLI
//! pointed at it, and the test playing model admin, node operators and committee members.

use std::{
    io::Read as _,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Output},
    time::{Duration, Instant},
};

use aikernel_chain::{
    DeployConfig, Deployment,
    bindings::{DecentralizedInference, EAI, GPUManagement},
    deploy_kernel, protocol,
    tools::foundry_bin,
};
use aikernel_protocol::{PromptStatus, content::merkle_root};
use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, Bytes, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use serde_json::Value;

pub(crate) const EAI_UNIT: u128 = 1_000_000_000_000_000_000;

/// A fresh anvil with the kernel deployed and the deployment file written.
pub(crate) struct Net {
    pub(crate) anvil: AnvilInstance,
    pub(crate) runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) deployment_file: PathBuf,
    pub(crate) deployment: Deployment,
}

impl Net {
    pub(crate) fn start() -> Net {
        let anvil = Anvil::new()
            .path(
                foundry_bin("anvil")
                    .expect("anvil: set AIKERNEL_FOUNDRY_BIN or run ./scripts/setup.sh"),
            )
            .try_spawn()
            .expect("anvil must start: run ./scripts/setup.sh first");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let admin: PrivateKeySigner = anvil.keys()[0].clone().into();
        let treasury = anvil.addresses()[9];
        let deployment = runtime.block_on(async {
            let provider = ProviderBuilder::new()
                .wallet(admin.clone())
                .connect_http(anvil.endpoint_url());
            deploy_kernel(
                provider,
                admin.address(),
                &DeployConfig::with_treasury(treasury),
            )
            .await
            .unwrap()
        });
        let dir = tempfile::tempdir().unwrap();
        let deployment_file = dir.path().join("deployment.json");
        deployment.save(&deployment_file).unwrap();
        Net {
            dir: dir.path().to_path_buf(),
            _dir: dir,
            anvil,
            runtime,
            deployment_file,
            deployment,
        }
    }

    pub(crate) fn key(&self, i: usize) -> String {
        format!("0x{}", alloy::hex::encode(self.anvil.keys()[i].to_bytes()))
    }

    pub(crate) fn provider(&self, i: usize) -> DynProvider {
        let signer: PrivateKeySigner = self.anvil.keys()[i].clone().into();
        ProviderBuilder::new()
            .wallet(signer)
            .connect_http(self.anvil.endpoint_url())
            .erased()
    }

    /// The CLI with this chain's RPC URL and deployment file, and a clean environment.
    pub(crate) fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aikernel"));
        cmd.arg("--rpc")
            .arg(self.anvil.endpoint())
            .arg("--deployment")
            .arg(&self.deployment_file)
            .env_remove("AIKERNEL_KEY")
            .env_remove("AIKERNEL_RPC")
            .env_remove("AIKERNEL_DEPLOYMENT")
            .env("AIKERNEL_CACHE", self.dir.join("cache"));
        cmd
    }

    pub(crate) fn run_ok(&self, args: &[&str]) -> String {
        let out = self.cli().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "aikernel {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let stdout = self.run_ok(&all);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// Registers a model with the CLI from a tiny valid model file (the CLI refuses a file
    /// its driver cannot run); returns its content root.
    pub(crate) fn register_model(&self, fee_per_token: u128) -> [u8; 32] {
        let file = self.dir.join("tiny.gguf");
        std::fs::write(&file, crate::tiny::tiny_llama_bytes(1)).unwrap();
        let out = self.json(&[
            "models",
            "register",
            "--file",
            file.to_str().unwrap(),
            "--uri",
            "file:///models/tiny.gguf",
            "--uri",
            "https://example.invalid/tiny.gguf",
            "--fee-per-token",
            &fee_per_token.to_string(),
            "--chunk-size",
            "1024",
            "--key",
            &self.key(0),
        ]);
        let (root, size) = merkle_root(std::fs::File::open(&file).unwrap(), 1024).unwrap();
        assert_eq!(out["id"], "1");
        assert_eq!(out["size"], size);
        assert_eq!(
            out["contentRoot"],
            format!("0x{}", alloy::hex::encode(root))
        );
        root
    }

    /// Anvil accounts `ids` become nodes serving model 1 with 1,000 EAI of stake each.
    pub(crate) fn register_nodes(&self, ids: &[usize]) {
        self.runtime.block_on(async {
            let admin = EAI::new(self.deployment.eai, self.provider(0));
            for &i in ids {
                let node = self.anvil.addresses()[i];
                let stake = U256::from(1000 * EAI_UNIT);
                admin
                    .transfer(node, stake)
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap();
                let eai = EAI::new(self.deployment.eai, self.provider(i));
                eai.approve(self.deployment.gpu, stake)
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap();
                let gpu = GPUManagement::new(self.deployment.gpu, self.provider(i));
                let hardware = GPUManagement::Hardware {
                    deviceModel: format!("test-gpu-{i}"),
                    memoryMiB: 8192,
                    deviceCount: 1,
                };
                // A fixed limit, not the estimate: registering accrues block rewards at most
                // once a second, so an estimate made in the second of the last accrual falls
                // short when the transaction is mined in the next one.
                let receipt = gpu
                    .register(hardware, vec![U256::from(1)], stake)
                    .gas(1_000_000)
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap();
                assert!(receipt.status());
            }
        });
    }

    pub(crate) fn kernel(
        &self,
        i: usize,
    ) -> DecentralizedInference::DecentralizedInferenceInstance<DynProvider> {
        DecentralizedInference::new(self.deployment.kernel, self.provider(i))
    }

    /// Waits until prompt `id` exists, mines the blocks its draw needs (this anvil mines only
    /// on transactions) and returns its round-0 committee.
    pub(crate) fn committee_of(&self, id: u64) -> Vec<Address> {
        let kernel = self.kernel(0);
        let provider = self.provider(0);
        let deadline = Instant::now() + Duration::from_mins(1);
        self.runtime.block_on(async {
            loop {
                if kernel.statusOf(U256::from(id)).call().await.unwrap()
                    != PromptStatus::None.as_u8()
                {
                    // The committee is drawn with the hash of the block after the submission's,
                    // readable once a later block exists.
                    let _: Value = provider
                        .raw_request("anvil_mine".into(), (2u64,))
                        .await
                        .unwrap();
                    return kernel.committeeOf(U256::from(id)).call().await.unwrap();
                }
                assert!(Instant::now() < deadline, "prompt {id} never appeared");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }

    /// Plays the committee of round 0: every member commits `output`, then reveals it; the
    /// last reveal carries the bytes and settles.
    pub(crate) fn commit_and_reveal(&self, id: u64, committee: &[Address], output: &[u8]) {
        self.commit_and_reveal_in(id, 0, committee, output);
    }

    /// The anvil account index of `address`.
    pub(crate) fn index_of(&self, address: Address) -> usize {
        self.anvil
            .addresses()
            .iter()
            .position(|x| *x == address)
            .unwrap()
    }

    /// Plays the committee of `round`, as [`Net::commit_and_reveal`] does for round 0.
    pub(crate) fn commit_and_reveal_in(
        &self,
        id: u64,
        round: u8,
        committee: &[Address],
        output: &[u8],
    ) {
        let index = |a: &Address| self.index_of(*a);
        let salt = |a: &Address| keccak256([b"salt".as_slice(), a.as_slice()].concat());
        let trace = keccak256(b"logits");
        let round_hash = protocol::round_hash(U256::from(id), round, output, trace);
        self.runtime.block_on(async {
            let blob = self
                .kernel(index(&committee[0]))
                .promptInfo(U256::from(id))
                .call()
                .await
                .unwrap()
                .blob;
            for member in committee {
                let commitment = protocol::commitment(
                    U256::from(id),
                    round,
                    round_hash,
                    salt(member),
                    *member,
                    blob,
                );
                let receipt = self
                    .kernel(index(member))
                    .commit(U256::from(id), commitment)
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap();
                assert!(receipt.status());
            }
            for (i, member) in committee.iter().enumerate() {
                let bytes = if i + 1 == committee.len() {
                    Bytes::copy_from_slice(output)
                } else {
                    Bytes::new()
                };
                let receipt = self
                    .kernel(index(member))
                    .reveal(U256::from(id), salt(member), round_hash, bytes, trace)
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap();
                assert!(receipt.status());
            }
        });
    }
}

/// Waits for a child for up to `secs`, killing it on timeout; returns its output.
pub(crate) fn finish(mut child: Child, secs: u64) -> Output {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("child did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Asserts every key of a JSON value (at any depth) is camelCase, the one case of every
/// `--json` output.
pub(crate) fn assert_camel_keys(v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                let camel = k.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && k.chars().all(|c| c.is_ascii_alphanumeric());
                assert!(camel, "JSON key {k:?} is not camelCase in {v}");
                assert_camel_keys(item);
            }
        }
        Value::Array(items) => items.iter().for_each(assert_camel_keys),
        _ => {}
    }
}

pub(crate) fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn sha2_of(data: &[u8]) -> [u8; 32] {
    // The store's digest; recomputed here with the chain crate's Merkle root of one chunk.
    merkle_root(data, u32::try_from(data.len()).unwrap())
        .unwrap()
        .0
}
