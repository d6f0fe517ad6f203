//! The cache folder's layout, the per-root lock, and the "verified" markers.
//!
//! ```text
//! <cache_dir>/models/<hex root>.bin        verified model file (read-only)
//! <cache_dir>/models/<hex root>.verified   marker: size and mtime of the file when verified
//! <cache_dir>/models/<hex root>.leaves     its leaf manifest (root-verified)
//! <cache_dir>/partial/<hex root>.part      download in progress (preallocated to full size)
//! <cache_dir>/partial/<hex root>.state     which chunks of .part are present (JSON)
//! <cache_dir>/partial/<hex root>.leaves    leaf manifest in use (root-verified)
//! <cache_dir>/locks/<hex root>.lock        exclusive lock held while fetching or repairing
//! ```

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Paths inside a cache folder for one model root.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// `<cache>/models/<hex>.bin`.
    pub(crate) model: PathBuf,
    /// `<cache>/models/<hex>.verified`.
    pub(crate) marker: PathBuf,
    /// `<cache>/models/<hex>.leaves`.
    pub(crate) model_leaves: PathBuf,
    /// `<cache>/partial/<hex>.part`.
    pub(crate) part: PathBuf,
    /// `<cache>/partial/<hex>.state`.
    pub(crate) state: PathBuf,
    /// `<cache>/partial/<hex>.leaves`.
    pub(crate) part_leaves: PathBuf,
    /// `<cache>/locks/<hex>.lock`.
    pub(crate) lock: PathBuf,
}

impl Layout {
    pub(crate) fn new(cache_dir: &Path, root: &[u8; 32]) -> Layout {
        let hex = hex::encode(root);
        let models = cache_dir.join("models");
        let partial = cache_dir.join("partial");
        Layout {
            model: models.join(format!("{hex}.bin")),
            marker: models.join(format!("{hex}.verified")),
            model_leaves: models.join(format!("{hex}.leaves")),
            part: partial.join(format!("{hex}.part")),
            state: partial.join(format!("{hex}.state")),
            part_leaves: partial.join(format!("{hex}.leaves")),
            lock: cache_dir.join("locks").join(format!("{hex}.lock")),
        }
    }

    /// Creates the `models`, `partial` and `locks` folders.
    pub(crate) fn create_dirs(&self) -> Result<(), StoreError> {
        for file in [&self.model, &self.part, &self.lock] {
            if let Some(dir) = file.parent() {
                fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
            }
        }
        Ok(())
    }
}

/// The path a verified model with this root has in `cache_dir` (whether or not it is there).
pub fn cached_model_path(cache_dir: &Path, root: &[u8; 32]) -> PathBuf {
    Layout::new(cache_dir, root).model
}

/// An exclusive advisory lock on a lock file, released on drop (and by the OS when the process
/// dies, so a killed fetcher never leaves a stale lock).
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
}

impl Lock {
    /// Blocks until the lock is held.
    pub(crate) fn acquire(path: &Path) -> Result<Lock, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                tracing::info!(lock = %path.display(), "another process is fetching this model; waiting");
                file.lock().map_err(|e| StoreError::io(path, e))?;
            }
            Err(TryLockError::Error(e)) => return Err(StoreError::io(path, e)),
        }
        Ok(Lock { file })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// What a marker records of a verified file: a change of either means "verify again".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    size: u64,
    mtime_ns: u128,
}

fn marker_of(path: &Path) -> Option<Marker> {
    let meta = fs::metadata(path).ok()?;
    let mtime_ns = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(Marker {
        size: meta.len(),
        mtime_ns,
    })
}

/// Whether `layout.model` exists, has `size` bytes and is unchanged since it was verified.
pub(crate) fn marker_matches(layout: &Layout, size: u64) -> bool {
    let Some(current) = marker_of(&layout.model) else {
        return false;
    };
    let Ok(text) = fs::read_to_string(&layout.marker) else {
        return false;
    };
    let Ok(recorded) = serde_json::from_str::<Marker>(&text) else {
        return false;
    };
    current.size == size && current == recorded
}

/// Records that `layout.model` is verified as it is now.
pub(crate) fn write_marker(layout: &Layout) -> Result<(), StoreError> {
    let marker = marker_of(&layout.model).ok_or_else(|| {
        StoreError::io(
            &layout.model,
            std::io::Error::other("cannot read the file's size and mtime"),
        )
    })?;
    let json = serde_json::to_vec(&marker).map_err(|e| StoreError::io(&layout.marker, e.into()))?;
    write_atomic(&layout.marker, &json, true)
}

/// Writes `data` to `path` through a unique temporary file and a rename (so readers see the
/// old or the new content, never a mix); `sync` flushes the data to disk before the rename.
pub(crate) fn write_atomic(path: &Path, data: &[u8], sync: bool) -> Result<(), StoreError> {
    let tmp = unique_temp(path);
    let result = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        if sync {
            f.sync_data()?;
        }
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        StoreError::io(path, e)
    })
}

/// A temporary name next to `path`, unique across processes and threads.
pub(crate) fn unique_temp(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp.{}.{n}", std::process::id()));
    PathBuf::from(name)
}

/// Removes a file, ignoring "not found".
pub(crate) fn remove_if_exists(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}
