//! `fetch_model`: a verified local copy of a registered model, fetched from its URIs in order
//! with chunked, resumable, per-chunk-verified downloads.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ureq::Agent;

use crate::cache::{self, Layout, Lock};
use crate::merkle::{self, merkle_root, read_full};
use crate::partial::{Check, Partial};
use crate::source::Source;
use crate::{SourceFailure, StoreError, http};

/// Bytes asked for in one ranged request (rounded to whole chunks, at least one).
const REQUEST_BYTES: u64 = 8 << 20;
/// Consecutive failed attempts, without a single new chunk, before a source is given up.
const MAX_ATTEMPTS: u32 = 4;
/// Full-file checks that may send bad chunks back for refetching before giving up.
const MAX_FINAL_ROUNDS: u32 = 3;

/// Where a model lives and what it must hash to (from `ModelFileSystem.getModel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// The Merkle content root registered on chain.
    pub root: [u8; 32],
    /// The file's size in bytes.
    pub size: u64,
    /// The chunk size the root was computed with.
    pub chunk_size: u32,
    /// Where to fetch it, tried in order.
    pub uris: Vec<String>,
}

/// How to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// The cache folder (several processes may share it).
    pub cache_dir: PathBuf,
    /// The IPFS HTTP gateway `ipfs://` URIs go through, e.g. `http://127.0.0.1:8080`.
    pub ipfs_gateway: String,
    /// Whether to draw a progress bar on stderr.
    pub progress: bool,
}

/// Returns the path of a verified copy of the model in the cache,
/// `<cache_dir>/models/<hex root>.bin`, fetching it first when needed. Blocking.
///
/// A cached copy unchanged since it was verified (size and mtime in its marker) returns at
/// once; a changed one is re-hashed, and refetched when its root is wrong. A file whose root
/// is not `source.root` is never returned.
pub fn fetch_model(source: &ModelSource, options: &FetchOptions) -> Result<PathBuf, StoreError> {
    validate(source)?;
    let layout = Layout::new(&options.cache_dir, &source.root);
    if cache::marker_matches(&layout, source.size) {
        tracing::debug!(path = %layout.model.display(), "model cached and verified");
        return Ok(layout.model);
    }
    layout.create_dirs()?;
    let _lock = Lock::acquire(&layout.lock)?;
    let mut failures = Vec::new();
    match check_cached_copy(&layout, source)? {
        Cached::Valid => return Ok(layout.model),
        Cached::Absent => {}
        Cached::Corrupted(error) => failures.push(SourceFailure {
            uri: layout.model.display().to_string(),
            error,
        }),
    }
    let root_hex = hex::encode(source.root);
    let agent = http::agent(None);
    let mut partial = Partial::open(&layout, source)?;
    let bar = progress_bar(options.progress, source.size, partial.present_bytes());
    for uri in &source.uris {
        let attempt = Source::parse(uri, &options.ipfs_gateway)
            .and_then(|src| download_from(&mut partial, &src, &agent, &bar));
        match attempt {
            Ok(leaves) => {
                partial.finish(&leaves)?;
                bar.finish_and_clear();
                tracing::info!(root = %root_hex, uri = %uri, path = %layout.model.display(), "model fetched and verified");
                return Ok(layout.model);
            }
            Err(error @ StoreError::Io { .. }) if is_local(&error, &options.cache_dir) => {
                // The cache itself failed (disk full, permissions): no source can fix that.
                bar.abandon();
                return Err(error);
            }
            Err(error) => {
                tracing::warn!(root = %root_hex, uri = %uri, error = %error, "model source failed");
                failures.push(SourceFailure {
                    uri: uri.clone(),
                    error,
                });
                bar.set_position(partial.present_bytes());
            }
        }
    }
    bar.abandon();
    Err(StoreError::AllSourcesFailed {
        what: format!("model 0x{root_hex}"),
        failures,
    })
}

fn is_local(error: &StoreError, cache_dir: &Path) -> bool {
    matches!(error, StoreError::Io { path, .. } if path.starts_with(cache_dir))
}

fn validate(source: &ModelSource) -> Result<(), StoreError> {
    let invalid = |reason: &str| StoreError::InvalidSource {
        root: source.root,
        reason: reason.to_owned(),
    };
    if source.chunk_size == 0 {
        return Err(invalid("chunk size is zero"));
    }
    if source.uris.is_empty() {
        return Err(invalid("no URIs"));
    }
    Ok(())
}

/// Re-hashes the file at `path` and checks its size and content root against `source`
/// (`SizeMismatch` / `RootMismatch` otherwise). Reads the whole file: use it for a full check
/// beyond [`fetch_model`]'s size-and-mtime marker, e.g. at a node's startup.
pub fn verify_model_file(path: &Path, source: &ModelSource) -> Result<(), StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let (root, size) = merkle_root(BufReader::new(file), source.chunk_size)
        .map_err(|e| StoreError::io(path, e))?;
    let what = path.display().to_string();
    if size != source.size {
        return Err(StoreError::SizeMismatch {
            what,
            expected: source.size,
            actual: size,
        });
    }
    if root != source.root {
        return Err(StoreError::RootMismatch {
            what,
            expected: source.root,
            actual: root,
        });
    }
    Ok(())
}

/// What the cache held for a root.
enum Cached {
    /// A verified copy.
    Valid,
    /// Nothing.
    Absent,
    /// A copy with the wrong size or root, now deleted.
    Corrupted(StoreError),
}

/// Under the lock: whether the cached file is there and right (re-hashing it when it changed
/// since it was verified). A wrong one is deleted with a warning.
fn check_cached_copy(layout: &Layout, source: &ModelSource) -> Result<Cached, StoreError> {
    if cache::marker_matches(layout, source.size) {
        return Ok(Cached::Valid);
    }
    let exists = layout
        .model
        .try_exists()
        .map_err(|e| StoreError::io(&layout.model, e))?;
    if !exists {
        cache::remove_if_exists(&layout.marker)?;
        return Ok(Cached::Absent);
    }
    tracing::info!(path = %layout.model.display(), "verifying the cached model");
    let problem = match verify_model_file(&layout.model, source) {
        Ok(()) => None,
        Err(mut e @ (StoreError::SizeMismatch { .. } | StoreError::RootMismatch { .. })) => {
            if let StoreError::SizeMismatch { what, .. } | StoreError::RootMismatch { what, .. } =
                &mut e
            {
                *what = format!("cached copy {what}");
            }
            Some(e)
        }
        Err(e) => return Err(e),
    };
    if let Some(problem) = problem {
        tracing::warn!(error = %problem, "cached model is corrupted; deleting it and fetching again");
        cache::remove_if_exists(&layout.marker)?;
        cache::remove_if_exists(&layout.model)?;
        return Ok(Cached::Corrupted(problem));
    }
    cache::write_marker(layout)?;
    Ok(Cached::Valid)
}

/// Completes the download from one source; returns the verified file's leaves.
fn download_from(
    partial: &mut Partial,
    src: &Source,
    agent: &Agent,
    bar: &ProgressBar,
) -> Result<Vec<[u8; 32]>, StoreError> {
    partial.begin_source(src.uri())?;
    bar.set_position(partial.present_bytes());
    if !partial.has_leaves() {
        adopt_manifest(partial, src, agent)?;
    }
    for _ in 0..MAX_FINAL_ROUNDS {
        fetch_missing(partial, src, agent, bar)?;
        match partial.final_check(src.uri())? {
            Check::Verified(leaves) => return Ok(leaves),
            Check::Refetch(bad) => {
                tracing::warn!(chunks = ?bad, "chunks changed on disk after verification; refetching");
                bar.set_position(partial.present_bytes());
            }
        }
    }
    Err(StoreError::io(
        partial.part_path(),
        std::io::Error::other("chunks keep failing verification after being written to disk"),
    ))
}

/// Fetches the source's leaf manifest, and uses it when it folds to the root.
fn adopt_manifest(partial: &mut Partial, src: &Source, agent: &Agent) -> Result<(), StoreError> {
    let (root, size, chunk_size) = partial.identity();
    let limit = partial.leaf_count().saturating_mul(32);
    match src.manifest(agent, limit) {
        Ok(Some(bytes)) => {
            let what = format!("{}.leaves", src.uri());
            match merkle::parse_leaves_manifest(&bytes, &root, size, chunk_size, &what) {
                Ok(leaves) => {
                    tracing::info!(manifest = %what, "verifying each chunk against the leaf manifest");
                    partial.set_leaves(leaves)?;
                }
                Err(e) => tracing::warn!(error = %e, "ignoring the leaf manifest"),
            }
        }
        Ok(None) => tracing::debug!(
            uri = src.uri(),
            "no leaf manifest; the whole file is verified at the end"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "leaf manifest unavailable; the whole file is verified at the end");
        }
    }
    Ok(())
}

/// Fetches every missing chunk, retrying transient failures while progress is made.
fn fetch_missing(
    partial: &mut Partial,
    src: &Source,
    agent: &Agent,
    bar: &ProgressBar,
) -> Result<(), StoreError> {
    let (_, _, chunk_size) = partial.identity();
    let per_request = (REQUEST_BYTES / u64::from(chunk_size)).max(1);
    let mut failed_attempts = 0u32;
    while let Some((first, count)) = partial.next_missing(per_request) {
        let before = partial.present_count();
        let result = fetch_run(partial, src, agent, bar, first, count);
        partial.flush()?;
        match result {
            Ok(()) => failed_attempts = 0,
            Err(e) if e.is_transient() => {
                if partial.present_count() > before {
                    failed_attempts = 0;
                }
                failed_attempts += 1;
                if failed_attempts >= MAX_ATTEMPTS {
                    return Err(e);
                }
                let wait = Duration::from_millis(200 << failed_attempts);
                tracing::warn!(error = %e, retry_in = ?wait, "transfer failed; resuming from the last verified chunk");
                std::thread::sleep(wait);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Fetches chunks `first .. first + count` in one request, storing each as it arrives (and,
/// when the server sent the rest of the file instead of the range, every missing chunk up to
/// the end).
fn fetch_run(
    partial: &mut Partial,
    src: &Source,
    agent: &Agent,
    bar: &ProgressBar,
    first: u64,
    count: u64,
) -> Result<(), StoreError> {
    let (_, size, chunk_size) = partial.identity();
    let start = first * u64::from(chunk_size);
    let end = ((first + count) * u64::from(chunk_size)).min(size);
    let body = src.open_range(agent, start, end - start, size)?;
    let last = if body.to_end {
        partial.leaf_count()
    } else {
        first + count
    };
    let mut reader = body.reader;
    let mut buf = vec![0u8; chunk_size as usize];
    for index in first..last {
        let len = partial.chunk_len(index) as usize;
        let got = read_full(&mut reader, &mut buf[..len]).map_err(|e| src.read_error(e))?;
        if got < len {
            return Err(src.read_error(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the transfer ended after {got} of chunk {index}'s {len} bytes"),
            )));
        }
        if partial.is_present(index) {
            continue;
        }
        partial.store_chunk(index, &buf[..len], src.uri())?;
        bar.inc(len as u64);
    }
    Ok(())
}

fn progress_bar(enabled: bool, size: u64, position: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .map_or_else(
        |_| ProgressStyle::default_bar(),
        |s| s.progress_chars("=> "),
    );
    bar.set_style(style);
    bar.set_message("fetching model");
    bar.set_position(position);
    bar
}
