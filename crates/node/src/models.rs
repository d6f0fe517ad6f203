//! The models this node serves: read from the ModelFileSystem, fetched and verified
//! against their on-chain content root by `aikernel-store`, loaded into drivers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use alloy::primitives::U256;

use aikernel_drivers::{DRIVER_NAME, Driver, LlmDriver};
use aikernel_store::{ContentStore, FetchOptions, ModelSource, fetch_model};

use crate::NodeError;
use crate::config::NodeConfig;
use crate::context::DataResolver;
use crate::contracts::Contracts;

/// Loaded drivers by model id.
pub type Drivers = HashMap<u64, Arc<dyn Driver>>;

/// Fetches, verifies and loads every model in `config.models`; refuses inactive models,
/// unknown drivers and files whose content root differs from the registered one.
pub async fn load(contracts: &Contracts, config: &NodeConfig) -> Result<Drivers, NodeError> {
    let mut drivers = Drivers::new();
    for &id in &config.models {
        drivers.insert(id, load_one(contracts, config, id).await?);
    }
    Ok(drivers)
}

/// Fetches, verifies and loads model `id`.
pub async fn load_one(
    contracts: &Contracts,
    config: &NodeConfig,
    id: u64,
) -> Result<Arc<dyn Driver>, NodeError> {
    {
        let model = contracts
            .models
            .getModel(U256::from(id))
            .call()
            .await
            .map_err(|e| NodeError::Model {
                id,
                reason: format!(
                    "not in the ModelFileSystem: {}",
                    NodeError::call("getModel", &e)
                ),
            })?;
        let (spec, active) = (model.spec, model.active);
        if !active {
            return Err(NodeError::Model {
                id,
                reason: format!("{} is deactivated in the registry", spec.name),
            });
        }
        if spec.driver != DRIVER_NAME {
            return Err(NodeError::Model {
                id,
                reason: format!(
                    "driver {:?} is not supported by this node (it has {DRIVER_NAME})",
                    spec.driver
                ),
            });
        }
        let source = ModelSource {
            root: spec.contentRoot.0,
            size: spec.size,
            chunk_size: spec.chunkSize,
            uris: spec.uris.clone(),
        };
        let options = FetchOptions {
            cache_dir: config.cache_dir.clone(),
            ipfs_gateway: config.ipfs_gateways.first().cloned().unwrap_or_default(),
            progress: config.progress,
        };
        tracing::info!(model = id, name = %spec.name, size = spec.size, "fetching and verifying the model");
        let path: PathBuf = tokio::task::spawn_blocking(move || fetch_model(&source, &options))
            .await
            .map_err(|e| NodeError::Model {
                id,
                reason: format!("fetch task failed: {e}"),
            })?
            .map_err(|e| NodeError::Model {
                id,
                reason: e.to_string(),
            })?;
        let threads = config.threads;
        let load_path = path.clone();
        let driver = tokio::task::spawn_blocking(move || LlmDriver::load(&load_path, threads))
            .await
            .map_err(|e| NodeError::Model {
                id,
                reason: format!("load task failed: {e}"),
            })??;
        tracing::info!(model = id, path = %path.display(), "model loaded");
        Ok(Arc::new(driver))
    }
}

/// Off-chain data through the shared content store and IPFS gateways.
#[derive(Debug)]
pub struct StoreResolver {
    store: ContentStore,
    gateways: Vec<String>,
}

impl StoreResolver {
    /// Opens `<cache_dir>/content`.
    pub fn open(config: &NodeConfig) -> Result<StoreResolver, NodeError> {
        let dir = config.cache_dir.join("content");
        let store = ContentStore::open(&dir).map_err(|e| {
            NodeError::Misconfigured(format!("content store {}: {e}", dir.display()))
        })?;
        Ok(StoreResolver {
            store,
            gateways: config.ipfs_gateways.clone(),
        })
    }
}

impl DataResolver for StoreResolver {
    fn resolve(&self, hash: &[u8; 32]) -> Result<Vec<u8>, String> {
        self.store
            .resolve(hash, &self.gateways)
            .map_err(|e| e.to_string())
    }
}
