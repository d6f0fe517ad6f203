//! The models this node serves: read from the ModelFileSystem, fetched and verified
//! against their on-chain content root by `aikernel-store`, loaded into drivers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use alloy::primitives::U256;

use aikernel_drivers::{Driver, DriverSpec, LlmDriver};
use aikernel_store::{ContentStore, FetchOptions, ModelSource, StoreError, fetch_model};

use crate::NodeError;
use crate::config::NodeConfig;
use crate::context::{DataResolver, ResolveError};
use crate::contracts::Contracts;

/// Loaded drivers by model id.
pub type Drivers = HashMap<u64, Arc<dyn Driver>>;

/// Fetches, verifies and loads every model in `config.models`; refuses inactive models,
/// unknown drivers, files whose content root differs from the registered one, files whose
/// architecture is not the family of the registered driver name and files the engine cannot
/// run. A model that fails is logged and left out, so the node serves the others (and
/// registers only those: a node drawn for a model it cannot run would be slashed); an error
/// only when none loads.
pub async fn load(contracts: &Contracts, config: &NodeConfig) -> Result<Drivers, NodeError> {
    let mut drivers = Drivers::new();
    let mut first_error = None;
    for &id in &config.models {
        match load_one(contracts, config, id).await {
            Ok(driver) => {
                drivers.insert(id, driver);
            }
            Err(e) => {
                tracing::error!(model = id, error = %e, "MODEL REFUSED: this node does not serve it");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if drivers.is_empty() => Err(e),
        _ => Ok(drivers),
    }
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
        // Refused before fetching: a name this build does not have.
        let driver_name = spec.driver.clone();
        DriverSpec::parse(&driver_name).map_err(|e| NodeError::Model {
            id,
            reason: e.to_string(),
        })?;
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
        let threads = config.thread_count();
        let prefix_bytes = usize::try_from(config.prefix_cache_mib << 20).unwrap_or(usize::MAX);
        let load_path = path.clone();
        // A file whose architecture is not the family the entry's driver name declares is
        // refused here (`NodeError::Driver(DriverError::FamilyMismatch)`), never served under
        // another family's name; `load` logs it and serves the other models.
        // device = "cuda": generations on the GPU; no usable GPU is this model's load error
        // (what is missing), never a CPU fallback.
        // The `gpu_stand_in` test hook: the host build of the kernels in the GPU's place.
        let gpu = config.device == crate::config::Device::Cuda;
        let stand_in = config.gpu_stand_in();
        let batch = config.batch_size();
        let graphs = config.cuda_graphs;
        let driver = tokio::task::spawn_blocking(move || {
            let d = LlmDriver::load_registered(&load_path, threads, &driver_name)?
                .with_prefix_cache(prefix_bytes);
            match (gpu, stand_in) {
                (true, false) => d.with_gpu_batch(batch)?.with_cuda_graphs(graphs),
                (true, true) => d.with_gpu_stand_in_batch(batch),
                (false, _) => Ok(d),
            }
        })
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
    fn resolve(&self, hash: &[u8; 32]) -> Result<Vec<u8>, ResolveError> {
        self.store
            .resolve(hash, &self.gateways)
            .map_err(|e| classify(&e))
    }
}

/// Tells "no such data" from a failed lookup. The data is unavailable when the local store
/// has no copy and every gateway answered definitively without it (a 4xx status other than
/// 408/429, or bytes of another hash), or there is no gateway at all. A local disk error, a
/// gateway that cannot be reached, times out or fails (5xx) is a failed lookup: retried, never
/// answered with `InputUnavailable`.
pub fn classify(error: &StoreError) -> ResolveError {
    fn definitive(e: &StoreError) -> bool {
        match e {
            StoreError::HashMismatch { .. } => true,
            StoreError::Http {
                status: Some(code), ..
            } => (400..500).contains(code) && *code != 408 && *code != 429,
            _ => false,
        }
    }
    match error {
        StoreError::AllSourcesFailed { failures, .. }
            if failures.iter().all(|f| definitive(&f.error)) =>
        {
            ResolveError::NotFound(error.to_string())
        }
        _ => ResolveError::Failed(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use aikernel_store::SourceFailure;

    use super::*;

    fn all_failed(errors: Vec<StoreError>) -> StoreError {
        StoreError::AllSourcesFailed {
            what: "content 0x00".into(),
            failures: errors
                .into_iter()
                .map(|error| SourceFailure {
                    uri: "http://gw/ipfs/x".into(),
                    error,
                })
                .collect(),
        }
    }

    fn http(status: Option<u16>) -> StoreError {
        StoreError::Http {
            uri: "http://gw/ipfs/x".into(),
            status,
            message: "m".into(),
        }
    }

    #[test]
    fn only_definitive_answers_make_data_unavailable() {
        let not_found = |e: StoreError| matches!(classify(&e), ResolveError::NotFound(_));
        // No copy and no gateway to ask; every gateway says 404/410 or serves other bytes.
        assert!(not_found(all_failed(vec![])));
        assert!(not_found(all_failed(vec![
            http(Some(404)),
            http(Some(410))
        ])));
        assert!(not_found(all_failed(vec![StoreError::HashMismatch {
            what: "x".into(),
            expected: [1; 32],
            actual: [2; 32],
        }])));
        // A gateway that is down, overloaded or slow, or a local disk error: retry.
        assert!(!not_found(all_failed(vec![http(Some(404)), http(None)])));
        assert!(!not_found(all_failed(vec![http(Some(503))])));
        assert!(!not_found(all_failed(vec![http(Some(429))])));
        let disk = StoreError::Io {
            path: "/x".into(),
            source: std::io::Error::other("disk"),
        };
        assert!(!not_found(all_failed(vec![StoreError::Io {
            path: "/x".into(),
            source: std::io::Error::other("disk"),
        }])));
        assert!(!not_found(disk));
    }
}
