//! Deploys the whole kernel, one contract per transaction, then wires the roles and starts
//! the block-reward emission: the same sequence as `contracts/script/Deploy.s.sol`
//! (documented in `docs/contracts.md`).

use std::path::{Path, PathBuf};

use alloy::{
    network::Ethereum,
    primitives::{Address, B256, U256, keccak256},
    providers::{PendingTransactionBuilder, Provider},
};
use serde::{Deserialize, Serialize};

use crate::{
    ChainError,
    bindings::{
        ContextManager, DecentralizedInference, EAI, GPUManagement, ModelFileSystem,
        PromptScheduler,
    },
};

/// Parameters of a kernel deployment.
#[derive(Debug, Clone)]
pub struct DeployConfig {
    /// Receives protocol fees (ETH) and silent-node penalties (EAI).
    pub treasury: Address,
    /// Hard cap of the EAI supply, in wei-units (18 decimals).
    pub eai_cap: U256,
    /// EAI minted to the deployer at genesis (for staking and distribution).
    pub genesis_supply: U256,
    /// EAI emitted as block rewards over time (GPUManagement pays it to eligible nodes pro
    /// rata to stake); must fit under `eai_cap - genesis_supply`.
    pub reward_budget: U256,
    /// Seconds after which the emission rate halves (at least one day).
    pub halving_period: u64,
}

/// The default halving period of the block-reward emission: 365 days.
pub const DEFAULT_HALVING_PERIOD: u64 = 365 * 24 * 60 * 60;

impl DeployConfig {
    /// The defaults of `Deploy.s.sol`: cap 1e9 EAI, genesis 1e8 EAI, reward budget 5e8 EAI
    /// emitted at a rate halving every 365 days.
    pub fn with_treasury(treasury: Address) -> Self {
        let eai = U256::from(10).pow(U256::from(18));
        Self {
            treasury,
            eai_cap: U256::from(1_000_000_000u64) * eai,
            genesis_supply: U256::from(100_000_000u64) * eai,
            reward_budget: U256::from(500_000_000u64) * eai,
            halving_period: DEFAULT_HALVING_PERIOD,
        }
    }

    /// The first emission rate (EAI wei per second) `startRewards` gets:
    /// `reward_budget / (2 * halving_period)`, as in `Deploy.s.sol` (the whole geometric
    /// emission is then at most the budget). Saturates at `u128::MAX`.
    pub fn initial_reward_rate(&self) -> u128 {
        let periods = U256::from(self.halving_period.max(1)) * U256::from(2u8);
        (self.reward_budget / periods).saturating_to()
    }
}

/// Addresses of a deployed kernel, as written to a deployment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Chain id the kernel lives on.
    pub chain_id: u64,
    /// Block of the first deployment transaction (where event scans start).
    pub start_block: u64,
    /// The EAI token.
    pub eai: Address,
    /// ModelFileSystem.
    pub models: Address,
    /// PromptScheduler.
    pub scheduler: Address,
    /// GPUManagement.
    pub gpu: Address,
    /// ContextManager.
    pub context: Address,
    /// DecentralizedInference, the `IAIKernel` entry point.
    pub kernel: Address,
    /// Protocol treasury.
    pub treasury: Address,
}

impl Deployment {
    /// Reads a deployment file.
    pub fn load(path: &Path) -> Result<Self, ChainError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChainError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ChainError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes a deployment file, creating its folder; the write is atomic (temp + rename).
    pub fn save(&self, path: &Path) -> Result<(), ChainError> {
        let io = |source| ChainError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let json = serde_json::to_string_pretty(self).map_err(|source| ChainError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        std::fs::write(&tmp, json + "\n").map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Deploys and wires the kernel with `provider`'s default signer as admin.
pub async fn deploy_kernel<P>(
    provider: P,
    admin: Address,
    config: &DeployConfig,
) -> Result<Deployment, ChainError>
where
    P: Provider<Ethereum> + Clone,
{
    let contract = |what| {
        move |source| ChainError::Contract {
            what,
            source: Box::new(source),
        }
    };
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| ChainError::Contract {
            what: "reading the chain id",
            source: Box::new(alloy::contract::Error::TransportError(e)),
        })?;
    let start_block = provider
        .get_block_number()
        .await
        .map_err(|e| ChainError::Contract {
            what: "reading the block number",
            source: Box::new(alloy::contract::Error::TransportError(e)),
        })?;

    let eai = EAI::deploy(
        provider.clone(),
        admin,
        config.eai_cap,
        admin,
        config.genesis_supply,
    )
    .await
    .map_err(contract("deploying EAI"))?;
    let models = ModelFileSystem::deploy(provider.clone(), admin)
        .await
        .map_err(contract("deploying ModelFileSystem"))?;
    let scheduler = PromptScheduler::deploy(provider.clone(), admin)
        .await
        .map_err(contract("deploying PromptScheduler"))?;
    let gpu = GPUManagement::deploy(
        provider.clone(),
        admin,
        *eai.address(),
        *models.address(),
        *scheduler.address(),
        config.treasury,
    )
    .await
    .map_err(contract("deploying GPUManagement"))?;
    let context = ContextManager::deploy(provider.clone(), admin)
        .await
        .map_err(contract("deploying ContextManager"))?;
    let kernel = DecentralizedInference::deploy(
        provider.clone(),
        admin,
        *models.address(),
        *scheduler.address(),
        *gpu.address(),
        *context.address(),
        config.treasury,
    )
    .await
    .map_err(contract("deploying DecentralizedInference"))?;

    let role = |name: &str| keccak256(name.as_bytes());
    let grants: [(&'static str, PendingTransactionBuilder<Ethereum>); 5] = [
        (
            "granting POOL_MANAGER_ROLE to GPUManagement",
            scheduler
                .grantRole(role("POOL_MANAGER_ROLE"), *gpu.address())
                .send()
                .await
                .map_err(contract("granting POOL_MANAGER_ROLE"))?,
        ),
        (
            "granting ASSIGNER_ROLE to the kernel",
            scheduler
                .grantRole(role("ASSIGNER_ROLE"), *kernel.address())
                .send()
                .await
                .map_err(contract("granting ASSIGNER_ROLE"))?,
        ),
        (
            "granting SLASHER_ROLE to the kernel",
            gpu.grantRole(role("SLASHER_ROLE"), *kernel.address())
                .send()
                .await
                .map_err(contract("granting SLASHER_ROLE"))?,
        ),
        (
            "granting KERNEL_ROLE to the kernel",
            context
                .grantRole(role("KERNEL_ROLE"), *kernel.address())
                .send()
                .await
                .map_err(contract("granting KERNEL_ROLE"))?,
        ),
        (
            "granting MINTER_ROLE to GPUManagement",
            eai.grantRole(role("MINTER_ROLE"), *gpu.address())
                .send()
                .await
                .map_err(contract("granting MINTER_ROLE"))?,
        ),
    ];
    for (what, pending) in grants {
        confirm(what, pending).await?;
    }
    // 12: the block-reward emission (needs GPUManagement's MINTER_ROLE to be useful).
    let start = gpu
        .startRewards(config.initial_reward_rate(), config.halving_period)
        .send()
        .await
        .map_err(contract("starting the block rewards"))?;
    confirm("starting the block rewards", start).await?;

    Ok(Deployment {
        chain_id,
        start_block,
        eai: *eai.address(),
        models: *models.address(),
        scheduler: *scheduler.address(),
        gpu: *gpu.address(),
        context: *context.address(),
        kernel: *kernel.address(),
        treasury: config.treasury,
    })
}

/// Waits for a transaction's receipt and fails when it reverted.
pub(crate) async fn confirm(
    what: &'static str,
    pending: PendingTransactionBuilder<Ethereum>,
) -> Result<B256, ChainError> {
    let receipt = pending
        .get_receipt()
        .await
        .map_err(|source| ChainError::Receipt {
            what,
            source: Box::new(source),
        })?;
    if receipt.status() {
        Ok(receipt.transaction_hash)
    } else {
        Err(ChainError::Reverted {
            what,
            tx: receipt.transaction_hash,
        })
    }
}
