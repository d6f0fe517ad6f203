//! The crate's error type: every variant names the URI, path or hash involved and what was
//! wrong, so an operator can act on the message alone.

use std::fmt;
use std::path::PathBuf;

/// One source's failure, kept when every source of a model or blob failed.
#[derive(Debug)]
pub struct SourceFailure {
    /// The URI (or gateway URL) that was tried.
    pub uri: String,
    /// Why it failed.
    pub error: StoreError,
}

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.error.to_string();
        if error.contains(&self.uri) {
            f.write_str(&error)
        } else {
            write!(f, "{}: {error}", self.uri)
        }
    }
}

/// Errors of model fetching and of the content-addressed store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The URI's scheme is not supported, or the URI is malformed.
    #[error("unsupported URI {uri:?}: {reason}")]
    UnsupportedUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An HTTP request failed: a status other than success, or a transport error.
    #[error("HTTP GET {uri}: {message}")]
    Http {
        /// The URL requested.
        uri: String,
        /// The HTTP status when the server answered, `None` for a transport failure.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
    /// The bytes' Merkle content root is not the expected one.
    #[error(
        "{what}: content root mismatch: expected 0x{}, got 0x{}",
        hex::encode(expected),
        hex::encode(actual)
    )]
    RootMismatch {
        /// The file or URI whose content was checked.
        what: String,
        /// The root recorded on chain.
        expected: [u8; 32],
        /// The root of the bytes received.
        actual: [u8; 32],
    },
    /// The bytes' size is not the expected one.
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The file or URI whose size was checked.
        what: String,
        /// The size recorded on chain.
        expected: u64,
        /// The size found.
        actual: u64,
    },
    /// A downloaded chunk does not hash to its leaf in the (root-verified) leaf manifest.
    #[error("{uri}: chunk {index} does not match its leaf hash")]
    ChunkMismatch {
        /// Where the chunk came from.
        uri: String,
        /// The chunk's index (offset / chunk size).
        index: u64,
    },
    /// Data does not hash to the sha256 it was requested by.
    #[error(
        "{what}: sha256 mismatch: expected 0x{}, got 0x{}",
        hex::encode(expected),
        hex::encode(actual)
    )]
    HashMismatch {
        /// The file or URL whose content was checked.
        what: String,
        /// The requested hash.
        expected: [u8; 32],
        /// The hash of the bytes found.
        actual: [u8; 32],
    },
    /// A leaf manifest is malformed or does not fold to the expected root.
    #[error("leaf manifest {what}: {reason}")]
    InvalidManifest {
        /// The manifest's location.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A string is not a CIDv1 raw sha2-256 CID (nor a 0x-prefixed sha256).
    #[error("invalid CID {cid:?}: {reason}")]
    InvalidCid {
        /// The string as given.
        cid: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The model source itself is unusable (no URIs, zero chunk size).
    #[error("invalid model source 0x{}: {reason}", hex::encode(root))]
    InvalidSource {
        /// The model's content root.
        root: [u8; 32],
        /// What is wrong.
        reason: String,
    },
    /// Every source was tried and failed; one entry per source, in the order tried.
    #[error("{what}: every source failed:{}", list(.failures))]
    AllSourcesFailed {
        /// The model root or blob hash being fetched.
        what: String,
        /// Each source's failure.
        failures: Vec<SourceFailure>,
    },
}

fn list(failures: &[SourceFailure]) -> String {
    if failures.is_empty() {
        return " (no sources to try)".to_owned();
    }
    let mut out = String::new();
    for f in failures {
        out.push_str("\n  - ");
        out.push_str(&f.to_string());
    }
    out
}

impl StoreError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether retrying the same source may help (a dropped connection, a timeout, a 5xx).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            StoreError::Http { status: None, .. } => true,
            StoreError::Http {
                status: Some(code), ..
            } => *code >= 500 || *code == 408 || *code == 429,
            _ => false,
        }
    }
}
