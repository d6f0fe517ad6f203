//! Does an RPC endpoint serve a deployment? The chain id must match and each of the six
//! contracts must have code: the usual misconfigurations are a wrong RPC URL and a stale
//! deployment file (a restarted devnet loses every contract).

use alloy::primitives::Address;
use alloy::providers::Provider;
use alloy::transports::TransportError;

use crate::Deployment;

/// Why a deployment does not match the chain an endpoint serves.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The endpoint did not answer a request.
    #[error("{what}: {source}")]
    Rpc {
        /// The request.
        what: &'static str,
        /// The transport error.
        #[source]
        source: TransportError,
    },
    /// The endpoint serves another chain.
    #[error("the RPC serves chain {served} but the deployment is for chain {expected}")]
    WrongChain {
        /// Chain id the endpoint reports.
        served: u64,
        /// Chain id in the deployment.
        expected: u64,
    },
    /// A contract of the deployment has no code on that chain.
    #[error("no {name} contract at {address} on chain {chain_id}")]
    NoCode {
        /// The contract.
        name: &'static str,
        /// Its address in the deployment.
        address: Address,
        /// The chain.
        chain_id: u64,
    },
}

impl Deployment {
    /// The six contracts, by name.
    pub fn contracts(&self) -> [(&'static str, Address); 6] {
        [
            ("DecentralizedInference", self.kernel),
            ("GPUManagement", self.gpu),
            ("ContextManager", self.context),
            ("ModelFileSystem", self.models),
            ("PromptScheduler", self.scheduler),
            ("EAI", self.eai),
        ]
    }

    /// Checks that `provider` serves this deployment: same chain id, code at every contract.
    pub async fn check<P: Provider + ?Sized>(&self, provider: &P) -> Result<(), CheckError> {
        let served = provider
            .get_chain_id()
            .await
            .map_err(|source| CheckError::Rpc {
                what: "reading the chain id",
                source,
            })?;
        if served != self.chain_id {
            return Err(CheckError::WrongChain {
                served,
                expected: self.chain_id,
            });
        }
        for (name, address) in self.contracts() {
            let code = provider
                .get_code_at(address)
                .await
                .map_err(|source| CheckError::Rpc {
                    what: "reading contract code",
                    source,
                })?;
            if code.is_empty() {
                return Err(CheckError::NoCode {
                    name,
                    address,
                    chain_id: served,
                });
            }
        }
        Ok(())
    }
}
