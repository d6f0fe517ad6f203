//! The deployed kernel as seen by a node: contract instances over one provider, checked
//! at startup, and chunked log queries.

use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, Log};

use aikernel_chain::bindings::{
    ContextManager::{self, ContextManagerInstance},
    DecentralizedInference::{self, DecentralizedInferenceInstance},
    EAI::{self, EAIInstance},
    GPUManagement::{self, GPUManagementInstance},
    ModelFileSystem::{self, ModelFileSystemInstance},
    PromptScheduler::{self, PromptSchedulerInstance},
};
use aikernel_chain::{CheckError, Deployment};

use crate::NodeError;

/// Instances of the kernel contracts.
#[derive(Debug, Clone)]
pub struct Contracts {
    /// The provider they share (with the node's wallet for sending).
    pub provider: DynProvider,
    /// The deployment file's addresses.
    pub deployment: Deployment,
    /// DecentralizedInference.
    pub kernel: DecentralizedInferenceInstance<DynProvider>,
    /// GPUManagement.
    pub gpu: GPUManagementInstance<DynProvider>,
    /// ContextManager.
    pub context: ContextManagerInstance<DynProvider>,
    /// ModelFileSystem.
    pub models: ModelFileSystemInstance<DynProvider>,
    /// EAI.
    pub eai: EAIInstance<DynProvider>,
    /// PromptScheduler (the pools committees are drawn from).
    pub scheduler: PromptSchedulerInstance<DynProvider>,
}

impl Contracts {
    /// Binds the deployment's addresses to `provider`.
    pub fn new(provider: DynProvider, deployment: Deployment) -> Contracts {
        Contracts {
            kernel: DecentralizedInference::new(deployment.kernel, provider.clone()),
            gpu: GPUManagement::new(deployment.gpu, provider.clone()),
            context: ContextManager::new(deployment.context, provider.clone()),
            models: ModelFileSystem::new(deployment.models, provider.clone()),
            eai: EAI::new(deployment.eai, provider.clone()),
            scheduler: PromptScheduler::new(deployment.scheduler, provider.clone()),
            provider,
            deployment,
        }
    }

    /// Refuses a chain whose id differs from the deployment's or where a contract has no
    /// code: the most common misconfigurations (wrong RPC URL, stale deployment file).
    pub async fn check(&self) -> Result<(), NodeError> {
        self.deployment
            .check(&self.provider)
            .await
            .map_err(|e| match e {
                CheckError::Rpc { what, source } => NodeError::rpc(what, &source),
                CheckError::WrongChain { served, expected } => NodeError::Misconfigured(format!(
                    "the RPC serves chain {served} but the deployment file is for chain {expected}"
                )),
                e @ CheckError::NoCode { .. } => {
                    NodeError::Misconfigured(format!("{e}: is the deployment file current?"))
                }
            })
    }

    /// Logs matching `filter` in `[from, to]`, queried `range` blocks at a time.
    pub async fn logs(
        &self,
        filter: &Filter,
        from: u64,
        to: u64,
        range: u64,
    ) -> Result<Vec<Log>, NodeError> {
        aikernel_chain::logs::get_logs_chunked(&self.provider, filter, from, to, range)
            .await
            .map_err(|e| NodeError::Rpc {
                what: "reading logs",
                message: e.to_string(),
            })
    }

    /// The latest block number.
    pub async fn head(&self) -> Result<u64, NodeError> {
        self.provider
            .get_block_number()
            .await
            .map_err(|e| NodeError::rpc("reading the block number", &e))
    }

    /// The address of the kernel contract.
    pub fn kernel_address(&self) -> Address {
        self.deployment.kernel
    }
}
