//! The node's TOML configuration; command-line flags override it field by field.
//!
//! ```toml
//! rpc_url = "http://127.0.0.1:8545"
//! deployment = ".aikernel/deployment.json"
//! key_env = "AIKERNEL_NODE_KEY"          # or: key_file = "node.key"
//! data_dir = ".aikernel/node-1"           # jobs, outputs, checkpoint
//! cache_dir = "~/.cache/aikernel"         # models/ and content/ (shared by nodes)
//! threads = 1
//! models = [1]
//! stake_eai = 1500                       # target stake, topped up from the EAI balance
//! metrics_addr = "127.0.0.1:9101"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::NodeError;

/// Everything a node needs to run. Paths are used as given (relative to the working
/// directory); `~/` expands to `$HOME`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
// The fields are the TOML file's keys, and a switch in the file is a boolean.
#[allow(clippy::struct_excessive_bools)]
pub struct NodeConfig {
    /// JSON-RPC endpoint of the chain.
    pub rpc_url: String,
    /// Deployment file with the kernel's addresses (written by `aikernel deploy`/`devnet`).
    pub deployment: PathBuf,
    /// File holding the operator's hex private key (first line).
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the hex private key (used when `key_file` is unset).
    pub key_env: String,
    /// Node-private state: jobs, computed outputs, the event checkpoint.
    pub data_dir: PathBuf,
    /// Shared cache: verified model files (`models/`) and content-addressed data (`content/`).
    pub cache_dir: PathBuf,
    /// IPFS HTTP gateways for `ipfs://` model URIs and off-chain inputs.
    pub ipfs_gateways: Vec<String>,
    /// Where the engine computes: `cpu` (the CPU kernels, the fastest this CPU has) or
    /// `cuda` (generations on GPU 0 through the CUDA forward pass, bit-identical to the CPU;
    /// refused, naming what is missing, where there is no NVIDIA driver or device).
    pub device: Device,
    /// Engine threads per computation, which also hash and sample a batch's sequences
    /// (results never depend on it); unset, [`NodeConfig::thread_count`]'s default.
    pub threads: Option<usize>,
    /// MiB of recent prompts' key/value caches kept per model, so a conversation's next
    /// prompt computes only its new tokens (results never depend on it; 0 turns it off).
    pub prefix_cache_mib: u64,
    /// Most prompts of one model computed together in one batch (results never depend on
    /// it); unset: [`DEFAULT_MAX_BATCH_CPU`] on the CPU, [`DEFAULT_MAX_BATCH_CUDA`] on CUDA.
    pub max_batch: Option<usize>,
    /// Models to serve (ids in the ModelFileSystem); registration uses them.
    pub models: Vec<u64>,
    /// Target stake in whole EAI: staked at registration, and topped up from the node's EAI
    /// balance whenever the stake falls below it (a slash). Keep it above `minStake` so one
    /// slash does not drop the node out of the pools.
    pub stake_eai: u64,
    /// Leave a jail automatically once it has expired.
    pub auto_unjail: bool,
    /// Withdraw earnings when at least this much ETH (wei) is claimable (0: never).
    pub withdraw_min_wei: u128,
    /// Claim EAI block rewards once at least this many whole EAI are pending (0: never).
    pub claim_min_eai: u64,
    /// Milliseconds between polls for new blocks.
    pub poll_interval_ms: u64,
    /// Blocks per `eth_getLogs` query.
    pub log_range: u64,
    /// Recent blocks re-checked for reorgs.
    pub reorg_depth: u64,
    /// Gas limit = estimate x this, in percent.
    pub gas_margin_percent: u64,
    /// Seconds before an unconfirmed transaction is replaced with higher fees.
    pub tx_replace_after_s: u64,
    /// Highest max fee per gas the node will pay, in gwei.
    pub max_fee_gwei: u64,
    /// Address of the Prometheus `/metrics` and `/health` endpoint (none: disabled).
    pub metrics_addr: Option<SocketAddr>,
    /// Show download progress bars.
    pub progress: bool,
    /// Seconds the latest block's timestamp may run ahead of this machine's clock before
    /// the node warns (deadlines are in block time).
    pub chain_clock_tolerance_s: u64,
    /// When a prompt's output is still not computed this many seconds before its commit
    /// deadline, the node declines the round (no stake lost) instead of staying silent
    /// (slashed). Give it at least a few block times, so the decline is mined in time.
    pub decline_before_deadline_s: u64,
    /// With `device = "cuda"`: each forward step's kernel launches as one CUDA graph, replayed
    /// while decode steps repeat them (false: each kernel launched on its own). Never changes
    /// a result; off is for comparing, or for a driver whose graphs misbehave.
    pub cuda_graphs: bool,
    /// Test-only misbehaviour (`lie`, `copy`, `silent`): only in builds with the `test-hooks`
    /// feature; elsewhere the key is unknown, so no config can turn it on.
    #[cfg(feature = "test-hooks")]
    pub byzantine: Option<Byzantine>,
    /// Test-only: seconds to sleep right after each commit is mined (to kill the node there);
    /// only in builds with the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub pause_after_commit_s: u64,
    /// Test-only: with `device = "cuda"`, the host build of the CUDA kernels stands in for
    /// the GPU (the GPU path's launches, slots and sampling loop on the CPU), so a GPU node's
    /// path runs in a committee on machines without a GPU; only in builds with the
    /// `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub gpu_stand_in: bool,
}

/// A commented config with every operator key at its default (`aikernel node init`).
pub const TEMPLATE: &str = include_str!("../node.example.toml");

/// Test-only misbehaviours, used by adversarial tests to prove the network punishes them
/// (compiled only with the `test-hooks` feature).
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Byzantine {
    /// Commits and reveals a different output than the honest one.
    Lie,
    /// Commits another member's commitment and later tries to reveal its output.
    Copy,
    /// Never commits or reveals.
    Silent,
}

#[cfg(feature = "test-hooks")]
impl std::str::FromStr for Byzantine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lie" => Ok(Byzantine::Lie),
            "copy" => Ok(Byzantine::Copy),
            "silent" => Ok(Byzantine::Silent),
            other => Err(format!(
                "unknown byzantine mode {other:?} (lie, copy, silent)"
            )),
        }
    }
}

/// The `device` key: where the engine computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// The CPU kernels.
    Cpu,
    /// An NVIDIA GPU through the CUDA backend.
    Cuda,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            rpc_url: "http://127.0.0.1:8545".to_owned(),
            deployment: PathBuf::from(".aikernel/deployment.json"),
            key_file: None,
            key_env: "AIKERNEL_NODE_KEY".to_owned(),
            data_dir: PathBuf::from(".aikernel/node"),
            cache_dir: default_cache_dir(),
            ipfs_gateways: vec!["http://127.0.0.1:8080".to_owned()],
            device: Device::Cpu,
            cuda_graphs: true,
            threads: None,
            prefix_cache_mib: DEFAULT_PREFIX_CACHE_MIB,
            max_batch: None,
            models: vec![1],
            stake_eai: DEFAULT_STAKE_EAI,
            auto_unjail: true,
            withdraw_min_wei: 1,
            claim_min_eai: 100,
            poll_interval_ms: 500,
            log_range: 2000,
            reorg_depth: 12,
            gas_margin_percent: 130,
            tx_replace_after_s: 20,
            max_fee_gwei: 500,
            metrics_addr: None,
            chain_clock_tolerance_s: 15,
            decline_before_deadline_s: 10,
            progress: true,
            #[cfg(feature = "test-hooks")]
            byzantine: None,
            #[cfg(feature = "test-hooks")]
            pause_after_commit_s: 0,
            #[cfg(feature = "test-hooks")]
            gpu_stand_in: false,
        }
    }
}

/// The default prefix cache per model: about 11,600 positions of the default model
/// (SmolLM2-135M: 22.5 KiB each in the binary16 KV cache), a few long conversations.
pub const DEFAULT_PREFIX_CACHE_MIB: u64 = 256;

/// The default `max_batch` on the CPU: a few prompts share each decode step's pass over the
/// weights, and the first of them waits little for the others.
pub const DEFAULT_MAX_BATCH_CPU: usize = 4;

/// The default `max_batch` on CUDA: a decode step of 32 sequences costs about what one does.
pub const DEFAULT_MAX_BATCH_CUDA: usize = 32;

/// The largest `max_batch`.
pub const MAX_BATCH_LIMIT: usize = 256;

/// The default target stake: 1.5 x the contracts' default `minStake` (1000 EAI), so a node
/// survives a few 2 % slashes above the minimum even before it tops up.
pub const DEFAULT_STAKE_EAI: u64 = 1500;

/// `$AIKERNEL_CACHE`, else `~/.cache/aikernel` (where setup puts the default model): the
/// library's one rule, [`aikernel_engine::paths::cache_dir`].
pub fn default_cache_dir() -> PathBuf {
    aikernel_engine::paths::cache_dir()
}

impl NodeConfig {
    /// The target stake in EAI wei.
    pub fn target_stake(&self) -> alloy::primitives::U256 {
        crate::standing::eai_wei(self.stake_eai)
    }

    /// Threads per computation: `threads`, else 1 on the CPU and every core (at most 256) on
    /// CUDA, where the GPU computes and the CPU's share is each step's hashing and sampling,
    /// which one thread would make slower than the GPU's step.
    pub fn thread_count(&self) -> usize {
        self.threads.unwrap_or(match self.device {
            Device::Cpu => 1,
            Device::Cuda => std::thread::available_parallelism()
                .map_or(1, std::num::NonZero::get)
                .min(256),
        })
    }

    /// Most prompts computed together: `max_batch`, else the device's default.
    pub fn batch_size(&self) -> usize {
        self.max_batch.unwrap_or(match self.device {
            Device::Cpu => DEFAULT_MAX_BATCH_CPU,
            Device::Cuda => DEFAULT_MAX_BATCH_CUDA,
        })
    }

    /// Reads and checks a TOML config file.
    pub fn from_file(path: &Path) -> Result<NodeConfig, NodeError> {
        let text = std::fs::read_to_string(path).map_err(|source| NodeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        NodeConfig::from_toml(&text).map_err(|reason| NodeError::Config {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses TOML text (unknown keys are errors, so typos do not pass silently).
    pub fn from_toml(text: &str) -> Result<NodeConfig, String> {
        let mut config: NodeConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.expand_home();
        config.check()?;
        Ok(config)
    }

    /// Whether the host build of the CUDA kernels stands in for the GPU (the `gpu_stand_in`
    /// test hook; always false in an operator's build).
    pub fn gpu_stand_in(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        return self.gpu_stand_in;
        #[cfg(not(feature = "test-hooks"))]
        false
    }

    /// Rejects values the node cannot run with.
    pub fn check(&self) -> Result<(), String> {
        if self.gpu_stand_in() && self.device != Device::Cuda {
            return Err("gpu_stand_in = true needs device = \"cuda\"".to_owned());
        }
        if self.device == Device::Cuda
            && !self.gpu_stand_in()
            && let Err(e) = aikernel_cuda::discover()
        {
            // Refused here, naming what is missing, never a silent CPU fallback.
            return Err(format!(
                "device = \"cuda\": the cuda kernel cannot run here: {e}"
            ));
        }
        if let Some(t) = self.threads
            && !(1..=256).contains(&t)
        {
            return Err(format!("threads = {t} (must be 1..=256)"));
        }
        if self.prefix_cache_mib > 1 << 20 {
            return Err(format!(
                "prefix_cache_mib = {} (at most 1048576, a TiB)",
                self.prefix_cache_mib
            ));
        }
        if let Some(n) = self.max_batch
            && !(1..=MAX_BATCH_LIMIT).contains(&n)
        {
            return Err(format!(
                "max_batch = {n} (must be 1..={MAX_BATCH_LIMIT}; 1 computes one prompt at a time)"
            ));
        }
        if self.models.is_empty() || self.models.len() > 16 {
            return Err(format!(
                "models has {} entries (serve 1..=16 models)",
                self.models.len()
            ));
        }
        if self.models.contains(&0) {
            return Err("models contains 0 (model ids start at 1)".to_owned());
        }
        if self.poll_interval_ms == 0 || self.log_range == 0 {
            return Err("poll_interval_ms and log_range must be positive".to_owned());
        }
        if self.stake_eai == 0 {
            return Err("stake_eai = 0 (the target stake must be positive)".to_owned());
        }
        if self.gas_margin_percent < 100 {
            return Err(format!(
                "gas_margin_percent = {} (must be >= 100)",
                self.gas_margin_percent
            ));
        }
        if !self.rpc_url.starts_with("http://") && !self.rpc_url.starts_with("https://") {
            return Err(format!(
                "rpc_url = {:?} (an http:// or https:// URL)",
                self.rpc_url
            ));
        }
        Ok(())
    }

    /// Expands a leading `~/` in every path.
    pub fn expand_home(&mut self) {
        for path in [
            &mut self.deployment,
            &mut self.data_dir,
            &mut self.cache_dir,
        ] {
            *path = expand(path);
        }
        if let Some(key) = &mut self.key_file {
            *key = expand(key);
        }
    }
}

fn expand(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_file() {
        let c = NodeConfig::from_toml(
            r#"
            rpc_url = "http://10.0.0.1:8545"
            key_file = "/keys/node.key"
            data_dir = "/var/lib/aikernel"
            threads = 2
            models = [1, 3]
            stake_eai = 5000
            metrics_addr = "127.0.0.1:9200"
            "#,
        )
        .unwrap();
        assert_eq!(c.rpc_url, "http://10.0.0.1:8545");
        assert_eq!(c.key_file, Some(PathBuf::from("/keys/node.key")));
        assert_eq!(c.models, vec![1, 3]);
        assert_eq!((c.threads, c.thread_count()), (Some(2), 2));
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9200".parse().unwrap()));
        assert_eq!(c.poll_interval_ms, 500, "unset keys keep defaults");
        assert_eq!(c.target_stake(), crate::standing::eai_wei(5000));
        assert_eq!(
            NodeConfig::default().stake_eai,
            1500,
            "above the 1000 EAI minimum"
        );
        assert_eq!(NodeConfig::default().chain_clock_tolerance_s, 15);
    }

    #[test]
    fn rejects_typos_and_bad_values() {
        let typo = NodeConfig::from_toml("rpc_ulr = \"http://x\"").unwrap_err();
        assert!(typo.contains("rpc_ulr"), "{typo}");
        assert!(
            NodeConfig::from_toml("threads = 0")
                .unwrap_err()
                .contains("threads")
        );
        assert!(
            NodeConfig::from_toml("models = []")
                .unwrap_err()
                .contains("models")
        );
        // A GPU is asked for: accepted where one is found; elsewhere refused, naming what is
        // missing (no NVIDIA driver on a machine without one), never a silent CPU fallback.
        match (
            aikernel_cuda::discover(),
            NodeConfig::from_toml("device = \"cuda\""),
        ) {
            (Ok(_), Ok(c)) => assert_eq!(c.device, Device::Cuda),
            (Err(e), Err(cuda)) => {
                assert!(
                    cuda.contains("device = \"cuda\"") && cuda.contains("cuda kernel"),
                    "{cuda}"
                );
                if matches!(e, aikernel_cuda::CudaError::DriverMissing { .. }) {
                    assert!(cuda.contains("libcuda.so.1"), "{cuda}");
                }
            }
            (found, parsed) => panic!("discovery {found:?} but config {parsed:?}"),
        }
        let tpu = NodeConfig::from_toml("device = \"tpu\"").unwrap_err();
        assert!(tpu.contains("tpu") && tpu.contains("cpu"), "{tpu}");
        assert!(
            NodeConfig::from_toml("models = [0]")
                .unwrap_err()
                .contains("start at 1")
        );
        assert!(
            NodeConfig::from_toml("rpc_url = \"ws://x\"")
                .unwrap_err()
                .contains("rpc_url")
        );
        assert!(
            NodeConfig::from_toml("gas_margin_percent = 50")
                .unwrap_err()
                .contains("gas_margin")
        );
        assert!(
            NodeConfig::from_toml("stake_eai = 0")
                .unwrap_err()
                .contains("stake_eai")
        );
    }

    #[cfg(feature = "test-hooks")]
    #[test]
    fn the_gpu_stand_in_needs_device_cuda_and_no_gpu() {
        let c = NodeConfig::from_toml("device = \"cuda\"\ngpu_stand_in = true").unwrap();
        assert!(c.gpu_stand_in() && c.device == Device::Cuda);
        let e = NodeConfig::from_toml("gpu_stand_in = true").unwrap_err();
        assert!(e.contains("needs device = \"cuda\""), "{e}");
    }

    #[cfg(feature = "test-hooks")]
    #[test]
    fn test_hooks_parse_in_test_builds() {
        let c = NodeConfig::from_toml("byzantine = \"lie\"\npause_after_commit_s = 60").unwrap();
        assert_eq!(c.byzantine, Some(Byzantine::Lie));
        assert_eq!(c.pause_after_commit_s, 60);
        assert!(
            NodeConfig::from_toml("byzantine = \"evil\"")
                .unwrap_err()
                .contains("byzantine")
        );
    }

    /// The operator's build has no test hooks: a config cannot turn them on.
    #[cfg(not(feature = "test-hooks"))]
    #[test]
    fn test_hooks_are_unknown_keys_in_operator_builds() {
        for key in [
            "byzantine = \"lie\"",
            "pause_after_commit_s = 60",
            "gpu_stand_in = true",
        ] {
            let e = NodeConfig::from_toml(key).unwrap_err();
            assert!(e.contains("unknown field"), "{key}: {e}");
        }
    }

    #[test]
    fn threads_default_per_device() {
        let c = NodeConfig::default();
        assert_eq!((c.threads, c.thread_count()), (None, 1));
        let cuda = NodeConfig {
            device: Device::Cuda,
            ..NodeConfig::default()
        };
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        assert_eq!(cuda.thread_count(), cores.min(256));
        let set = NodeConfig {
            threads: Some(3),
            ..cuda
        };
        assert_eq!(set.thread_count(), 3);
        let e = NodeConfig::from_toml("threads = 257").unwrap_err();
        assert!(e.contains("threads = 257 (must be 1..=256)"), "{e}");
    }

    #[test]
    fn max_batch_defaults_per_device_and_is_range_checked() {
        let c = NodeConfig::default();
        assert_eq!((c.max_batch, c.batch_size()), (None, DEFAULT_MAX_BATCH_CPU));
        let cuda = NodeConfig {
            device: Device::Cuda,
            ..NodeConfig::default()
        };
        assert_eq!(cuda.batch_size(), DEFAULT_MAX_BATCH_CUDA);
        let c = NodeConfig::from_toml("max_batch = 1").unwrap();
        assert_eq!(c.batch_size(), 1);
        assert_eq!(
            NodeConfig::from_toml("max_batch = 256")
                .unwrap()
                .batch_size(),
            256
        );
        for bad in ["max_batch = 0", "max_batch = 257"] {
            let e = NodeConfig::from_toml(bad).unwrap_err();
            assert!(e.contains("max_batch") && e.contains("1..=256"), "{e}");
        }
        let e = NodeConfig::from_toml("max_batch = -1").unwrap_err();
        assert!(e.contains("max_batch"), "{e}");
    }

    #[test]
    fn cuda_graphs_are_on_unless_turned_off() {
        assert!(NodeConfig::from_toml("").unwrap().cuda_graphs);
        assert!(
            !NodeConfig::from_toml("cuda_graphs = false")
                .unwrap()
                .cuda_graphs
        );
        let e = NodeConfig::from_toml("cuda_graphs = \"off\"").unwrap_err();
        assert!(e.contains("cuda_graphs"), "{e}");
    }

    #[test]
    fn expands_home() {
        let c = NodeConfig::from_toml("data_dir = \"~/x\"").unwrap();
        assert!(!c.data_dir.starts_with("~"));
        assert!(c.data_dir.ends_with("x"));
    }

    #[test]
    fn the_template_parses_to_the_defaults() {
        // Every key the template sets is a real key at its default value, so the file
        // `node init` writes never drifts from the code.
        let c = NodeConfig::from_toml(TEMPLATE).unwrap();
        assert_eq!(c, NodeConfig::default());
        for key in [
            "rpc_url",
            "deployment",
            "key_env",
            "data_dir",
            "models",
            "device",
            "cuda_graphs",
            "prefix_cache_mib",
            "stake_eai",
            "decline_before_deadline_s",
            "chain_clock_tolerance_s",
            "max_fee_gwei",
        ] {
            assert!(
                TEMPLATE.contains(&format!("\n{key} = ")),
                "{key} in the template"
            );
        }
    }
}
