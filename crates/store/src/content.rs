//! A content-addressed store of small data (prompt inputs, context entries) keyed by sha256,
//! the digest of an IPFS CIDv1 raw sha2-256 CID, with IPFS gateways as the fallback.
//!
//! Layout: `<dir>/<first 2 hex digits>/<64 hex digits>` holds the bytes; writes go through a
//! unique temporary file and a rename, so concurrent writers and readers never see a partial
//! blob.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::Agent;

use crate::cache::{self, remove_if_exists};
use crate::cid::cid_v1_raw;
use crate::merkle::sha256;
use crate::{SourceFailure, StoreError, http};

/// The largest blob [`ContentStore::resolve`] accepts from a gateway (64 MiB). Note that an
/// IPFS raw block, which is what a CIDv1 raw CID names, is at most 1 MiB in practice (2 MiB
/// with bitswap), so larger data is only reachable through this store or a cooperating
/// gateway.
pub const MAX_RESOLVE_BYTES: u64 = 64 << 20;

/// Time allowed for one gateway request, body included.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(30);

/// A folder of blobs named by their sha256.
#[derive(Debug)]
pub struct ContentStore {
    dir: PathBuf,
    agent: Agent,
}

impl ContentStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<ContentStore, StoreError> {
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        Ok(ContentStore {
            dir: dir.to_owned(),
            agent: http::agent(Some(GATEWAY_TIMEOUT)),
        })
    }

    /// The file a blob with this hash is kept in (whether or not it is there).
    pub fn path(&self, hash: &[u8; 32]) -> PathBuf {
        let hex = hex::encode(hash);
        self.dir.join(&hex[..2]).join(hex)
    }

    /// Stores `data` and returns its sha256. Idempotent; the write is atomic.
    pub fn put(&self, data: &[u8]) -> Result<[u8; 32], StoreError> {
        let hash = sha256(data);
        let path = self.path(&hash);
        if fs::read(&path).is_ok_and(|existing| sha256(&existing) == hash) {
            return Ok(hash);
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        cache::write_atomic(&path, data, true)?;
        tracing::debug!(hash = %hex::encode(hash), bytes = data.len(), "stored content");
        Ok(hash)
    }

    /// The blob with this hash, `None` when it is not stored. The bytes are re-hashed: a
    /// corrupted file is deleted and reported as [`StoreError::HashMismatch`].
    pub fn get(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(hash);
        let data = match fs::read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let actual = sha256(&data);
        if &actual != hash {
            remove_if_exists(&path)?;
            return Err(StoreError::HashMismatch {
                what: path.display().to_string(),
                expected: *hash,
                actual,
            });
        }
        Ok(Some(data))
    }

    /// The blob with this hash: from the store, else from the first gateway that serves
    /// bytes hashing to it (`GET {gateway}/ipfs/{cid}`), which are then stored.
    pub fn resolve(&self, hash: &[u8; 32], gateways: &[String]) -> Result<Vec<u8>, StoreError> {
        let mut failures = Vec::new();
        match self.get(hash) {
            Ok(Some(data)) => return Ok(data),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(error = %error, "local copy unusable; asking the gateways");
                failures.push(SourceFailure {
                    uri: self.path(hash).display().to_string(),
                    error,
                });
            }
        }
        let cid = cid_v1_raw(hash);
        for gateway in gateways {
            let url = format!("{}/ipfs/{cid}", gateway.trim_end_matches('/'));
            let fetched = http::get_bytes(&self.agent, &url, MAX_RESOLVE_BYTES).and_then(|data| {
                let actual = sha256(&data);
                if &actual == hash {
                    Ok(data)
                } else {
                    Err(StoreError::HashMismatch {
                        what: url.clone(),
                        expected: *hash,
                        actual,
                    })
                }
            });
            match fetched {
                Ok(data) => {
                    self.put(&data)?;
                    tracing::debug!(cid = %cid, gateway = %gateway, "resolved content");
                    return Ok(data);
                }
                Err(error) => {
                    tracing::warn!(url = %url, error = %error, "gateway failed");
                    failures.push(SourceFailure { uri: url, error });
                }
            }
        }
        Err(StoreError::AllSourcesFailed {
            what: format!("content 0x{} ({cid})", hex::encode(hash)),
            failures,
        })
    }
}
