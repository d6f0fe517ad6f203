//! Model fetching and content-addressed data for aikernel nodes.
//!
//! # Models
//!
//! [`fetch_model`] turns a registered model (`ModelFileSystem.getModel`: content root, size,
//! chunk size, URIs) into the path of a verified local copy. URIs are tried in order:
//! `file:///abs/path`, `http(s)://…` and `ipfs://<cid>[/path]` (through the configured HTTP
//! gateway, `{gateway}/ipfs/<cid>[/path]`); an unknown scheme fails that URI with a message
//! naming it. A failing or corrupt source moves on to the next; when all fail, the error
//! lists each URI's failure.
//!
//! Content roots are a binary sha256 Merkle tree over fixed-size chunks ([`merkle_root`]).
//! The chain holds only the root, so per-chunk verification needs the *leaf manifest*
//! `<uri>.leaves`: the raw concatenation of the 32-byte leaf hashes `sha256(chunk_i)`, in
//! chunk order, `32 * ceil(size / chunk_size)` bytes. It is used only if it folds to the
//! on-chain root; then each chunk is checked as it arrives and a bad one fails that source
//! (it is never recorded). Without a manifest the whole file is fetched and its root
//! compared at the end. Either way the complete file is re-hashed before it is moved into
//! the cache, so a file whose root differs from the on-chain root is never returned.
//! Publish a manifest with [`write_leaves_manifest`].
//!
//! Downloads are ranged requests of up to 8 MiB of whole chunks, written into a
//! preallocated `.part` file with a state file of the chunks present (rewritten every 64
//! chunks or second and after every request), so a dropped connection resumes from the
//! last stored chunk and a killed process from the last saved state.
//!
//! # Cache layout
//!
//! ```text
//! <cache_dir>/models/<hex root>.bin        verified model file (read-only)
//! <cache_dir>/models/<hex root>.verified   marker: size and mtime when it was verified
//! <cache_dir>/models/<hex root>.leaves     its leaf manifest
//! <cache_dir>/partial/<hex root>.part      download in progress (preallocated)
//! <cache_dir>/partial/<hex root>.state     chunks present in .part (JSON)
//! <cache_dir>/partial/<hex root>.leaves    root-verified manifest in use
//! <cache_dir>/locks/<hex root>.lock        advisory lock held while fetching or repairing
//! ```
//!
//! Processes sharing a cache serialise on the lock (released by the OS if a holder dies);
//! files appear by atomic rename. A cached file whose size or mtime differs from its marker
//! is re-hashed, and deleted and fetched again if its root is wrong.
//!
//! # Content store
//!
//! [`ContentStore`] keeps small blobs (prompt inputs, context entries) under their sha256,
//! which is also the digest of their IPFS CIDv1 raw sha2-256 CID ([`cid_v1_raw`],
//! [`parse_cid`]), and resolves missing ones through IPFS gateways, verifying what comes back.

#![forbid(unsafe_code)]

mod cache;
mod cid;
mod content;
mod error;
mod fetch;
mod http;
mod merkle;
mod partial;
mod source;

pub use cache::cached_model_path;
pub use cid::{cid_v1_raw, parse_cid};
pub use content::{ContentStore, MAX_RESOLVE_BYTES};
pub use error::{SourceFailure, StoreError};
pub use fetch::{FetchOptions, ModelSource, fetch_model, verify_model_file};
pub use merkle::{
    DEFAULT_CHUNK_SIZE, LeavesManifest, MAX_LEAVES, leaf_count, leaves_manifest_path,
    merkle_leaves, merkle_root, parse_leaves_manifest, root_of_leaves, sha256,
    write_leaves_manifest,
};
pub use source::check_uri;
