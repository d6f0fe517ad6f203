//! A download in progress: the preallocated `.part` file, which chunks it holds, and the
//! root-verified leaf manifest when one is known.
//!
//! The state file records each present chunk. With a leaf manifest, a chunk is marked only
//! after it hashed to its leaf, so a restarted fetch trusts those chunks (and the final
//! full check still re-hashes them). Without one, chunks are marked *unverified* with the URI
//! they came from; only that source may continue them, and the whole file's root decides.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cache::{self, Layout};
use crate::merkle::{self, MAX_LEAVES, leaf_count, merkle_leaves, root_of_leaves};
use crate::{ModelSource, StoreError};

/// The state file's content.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    root: String,
    size: u64,
    chunk_size: u32,
    /// `Some(uri)`: the present chunks came from `uri` and are not verified yet.
    unverified_source: Option<String>,
    /// Present chunks as a bitmap, hex encoded (bit `i % 8` of byte `i / 8`).
    present: String,
}

/// What the final full check of a complete `.part` found.
#[derive(Debug)]
pub(crate) enum Check {
    /// The file's root is the expected one; these are its leaves.
    Verified(Vec<[u8; 32]>),
    /// These chunks no longer match their leaves and were unmarked.
    Refetch(Vec<u64>),
}

/// A download in progress for one model root (held under the root's lock).
#[derive(Debug)]
pub(crate) struct Partial {
    layout: Layout,
    root: [u8; 32],
    size: u64,
    chunk_size: u32,
    file: File,
    present: Vec<bool>,
    unverified_source: Option<String>,
    leaves: Option<Vec<[u8; 32]>>,
    /// Chunks stored since the state file was last written.
    unsaved: u32,
    last_save: Instant,
}

/// The state file is rewritten after this many new chunks or this much time, whichever first
/// (and after every request): a killed process refetches at most that much.
const SAVE_EVERY_CHUNKS: u32 = 64;
const SAVE_EVERY: Duration = Duration::from_secs(1);

impl Partial {
    /// Opens (or starts) the download of `source` in `layout`'s partial folder.
    pub(crate) fn open(layout: &Layout, source: &ModelSource) -> Result<Partial, StoreError> {
        let count = leaf_count(source.size, source.chunk_size);
        if count > MAX_LEAVES {
            return Err(StoreError::InvalidSource {
                root: source.root,
                reason: format!(
                    "{} bytes in {}-byte chunks is {count} chunks, over the limit of {MAX_LEAVES}",
                    source.size, source.chunk_size
                ),
            });
        }
        let count = count as usize;
        let leaves = match fs::read(&layout.part_leaves) {
            Ok(bytes) => {
                let what = layout.part_leaves.display().to_string();
                match merkle::parse_leaves_manifest(
                    &bytes,
                    &source.root,
                    source.size,
                    source.chunk_size,
                    &what,
                ) {
                    Ok(leaves) => Some(leaves),
                    Err(e) => {
                        tracing::warn!(error = %e, "discarding a cached leaf manifest");
                        cache::remove_if_exists(&layout.part_leaves)?;
                        None
                    }
                }
            }
            Err(_) => None,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&layout.part)
            .map_err(|e| StoreError::io(&layout.part, e))?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io(&layout.part, e))?
            .len();
        let mut partial = Partial {
            layout: layout.clone(),
            root: source.root,
            size: source.size,
            chunk_size: source.chunk_size,
            file,
            present: vec![false; count],
            unverified_source: None,
            leaves,
            unsaved: 0,
            last_save: Instant::now(),
        };
        if len == source.size
            && let Some(state) = partial.load_state()
        {
            partial.present = state.0;
            partial.unverified_source = state.1;
            // Marks that claim verification need the manifest they were verified against.
            if partial.unverified_source.is_none() && partial.leaves.is_none() {
                partial.present.fill(false);
            }
        } else {
            partial
                .file
                .set_len(source.size)
                .map_err(|e| StoreError::io(&layout.part, e))?;
        }
        let have = partial.present.iter().filter(|p| **p).count();
        if have > 0 {
            tracing::info!(
                root = %hex::encode(source.root),
                chunks = have,
                of = count,
                "resuming a partial download"
            );
        }
        Ok(partial)
    }

    fn load_state(&self) -> Option<(Vec<bool>, Option<String>)> {
        let text = fs::read_to_string(&self.layout.state).ok()?;
        let state: StateFile = serde_json::from_str(&text).ok()?;
        if state.root != hex::encode(self.root)
            || state.size != self.size
            || state.chunk_size != self.chunk_size
        {
            return None;
        }
        let bits = hex::decode(state.present).ok()?;
        if bits.len() != self.present.len().div_ceil(8) {
            return None;
        }
        let present = (0..self.present.len())
            .map(|i| bits[i / 8] & (1 << (i % 8)) != 0)
            .collect();
        Some((present, state.unverified_source))
    }

    fn save_state(&mut self) -> Result<(), StoreError> {
        self.unsaved = 0;
        self.last_save = Instant::now();
        let mut bits = vec![0u8; self.present.len().div_ceil(8)];
        for (i, _) in self.present.iter().enumerate().filter(|(_, p)| **p) {
            bits[i / 8] |= 1 << (i % 8);
        }
        let state = StateFile {
            root: hex::encode(self.root),
            size: self.size,
            chunk_size: self.chunk_size,
            unverified_source: self.unverified_source.clone(),
            present: hex::encode(bits),
        };
        let json =
            serde_json::to_vec(&state).map_err(|e| StoreError::io(&self.layout.state, e.into()))?;
        cache::write_atomic(&self.layout.state, &json, false)
    }

    /// The model's root, size and chunk size.
    pub(crate) fn identity(&self) -> ([u8; 32], u64, u32) {
        (self.root, self.size, self.chunk_size)
    }

    /// The `.part` file's path.
    pub(crate) fn part_path(&self) -> &std::path::Path {
        &self.layout.part
    }

    /// Whether a root-verified leaf manifest is known.
    pub(crate) fn has_leaves(&self) -> bool {
        self.leaves.is_some()
    }

    /// The number of leaves a manifest for this model has.
    pub(crate) fn leaf_count(&self) -> u64 {
        self.present.len() as u64
    }

    /// Bytes present in the `.part` file.
    pub(crate) fn present_bytes(&self) -> u64 {
        (0..self.present.len())
            .filter(|i| self.present[*i])
            .map(|i| self.chunk_len(i as u64))
            .sum()
    }

    /// Whether chunk `index` is present.
    pub(crate) fn is_present(&self, index: u64) -> bool {
        self.present.get(index as usize).copied().unwrap_or(false)
    }

    /// Number of chunks present.
    pub(crate) fn present_count(&self) -> usize {
        self.present.iter().filter(|p| **p).count()
    }

    /// The length of chunk `index` (the last one may be short).
    pub(crate) fn chunk_len(&self, index: u64) -> u64 {
        let start = index * u64::from(self.chunk_size);
        (self.size - start).min(u64::from(self.chunk_size))
    }

    /// Adopts a root-verified manifest: saves it, and checks any unverified chunks against it.
    pub(crate) fn set_leaves(&mut self, leaves: Vec<[u8; 32]>) -> Result<(), StoreError> {
        let bytes: Vec<u8> = leaves.iter().flatten().copied().collect();
        cache::write_atomic(&self.layout.part_leaves, &bytes, true)?;
        self.leaves = Some(leaves);
        if self.unverified_source.take().is_some() {
            let bad = self.recheck_present()?;
            if !bad.is_empty() {
                tracing::warn!(chunks = ?bad, "chunks received before the manifest do not match it; refetching them");
            }
            self.save_state()?;
        }
        Ok(())
    }

    /// Before reading from `uri`: unverified chunks from another source are dropped.
    pub(crate) fn begin_source(&mut self, uri: &str) -> Result<(), StoreError> {
        if let Some(from) = &self.unverified_source
            && from != uri
        {
            tracing::info!(from = %from, "dropping unverified chunks from another source");
            self.present.fill(false);
            self.unverified_source = None;
            self.save_state()?;
        }
        Ok(())
    }

    /// The first run of missing chunks, at most `max` long: `(first index, count)`.
    pub(crate) fn next_missing(&self, max: u64) -> Option<(u64, u64)> {
        let first = self.present.iter().position(|p| !p)?;
        let count = self.present[first..]
            .iter()
            .take(max.max(1) as usize)
            .take_while(|p| !**p)
            .count();
        Some((first as u64, count as u64))
    }

    /// Verifies (when the manifest is known) and writes chunk `index`, then records it.
    pub(crate) fn store_chunk(
        &mut self,
        index: u64,
        data: &[u8],
        uri: &str,
    ) -> Result<(), StoreError> {
        if let Some(leaves) = &self.leaves {
            if merkle::sha256(data) != leaves[index as usize] {
                return Err(StoreError::ChunkMismatch {
                    uri: uri.to_owned(),
                    index,
                });
            }
        } else {
            self.unverified_source = Some(uri.to_owned());
        }
        let offset = index * u64::from(self.chunk_size);
        let path = &self.layout.part;
        (&self.file)
            .seek(SeekFrom::Start(offset))
            .and_then(|_| (&self.file).write_all(data))
            .map_err(|e| StoreError::io(path, e))?;
        self.present[index as usize] = true;
        self.unsaved += 1;
        if self.unsaved >= SAVE_EVERY_CHUNKS || self.last_save.elapsed() >= SAVE_EVERY {
            self.save_state()?;
        }
        Ok(())
    }

    /// Writes the state file if chunks were stored since it was last written.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        if self.unsaved > 0 {
            self.save_state()?;
        }
        Ok(())
    }

    /// Hashes every present chunk on disk against the manifest; unmarks and returns the bad
    /// ones.
    fn recheck_present(&mut self) -> Result<Vec<u64>, StoreError> {
        let (disk, _) = self.disk_leaves()?;
        let Some(leaves) = &self.leaves else {
            return Ok(Vec::new());
        };
        let mut bad = Vec::new();
        for (i, present) in self.present.iter_mut().enumerate() {
            if *present && disk.get(i) != leaves.get(i) {
                *present = false;
                bad.push(i as u64);
            }
        }
        Ok(bad)
    }

    fn disk_leaves(&self) -> Result<(Vec<[u8; 32]>, u64), StoreError> {
        let path = &self.layout.part;
        self.file
            .sync_data()
            .and_then(|()| (&self.file).seek(SeekFrom::Start(0)))
            .and_then(|_| merkle_leaves(BufReader::new(&self.file), self.chunk_size))
            .map_err(|e| StoreError::io(path, e))
    }

    /// The full check of a complete `.part`: every chunk re-hashed from disk. Without a
    /// manifest a wrong root discards the download and fails with `RootMismatch`.
    pub(crate) fn final_check(&mut self, uri: &str) -> Result<Check, StoreError> {
        let (disk, size) = self.disk_leaves()?;
        if size != self.size {
            self.reset()?;
            return Err(StoreError::SizeMismatch {
                what: self.layout.part.display().to_string(),
                expected: self.size,
                actual: size,
            });
        }
        let actual = root_of_leaves(&disk);
        if actual == self.root {
            return Ok(Check::Verified(disk));
        }
        if self.leaves.is_some() {
            let bad = self.recheck_present()?;
            self.save_state()?;
            if !bad.is_empty() {
                return Ok(Check::Refetch(bad));
            }
        }
        self.reset()?;
        Err(StoreError::RootMismatch {
            what: uri.to_owned(),
            expected: self.root,
            actual,
        })
    }

    /// Forgets every chunk (the file stays allocated).
    pub(crate) fn reset(&mut self) -> Result<(), StoreError> {
        self.present.fill(false);
        self.unverified_source = None;
        self.save_state()
    }

    /// Moves the verified `.part` into place (read-only), with its leaves and marker.
    pub(crate) fn finish(self, leaves: &[[u8; 32]]) -> Result<(), StoreError> {
        let Partial { layout, file, .. } = self;
        file.sync_all()
            .map_err(|e| StoreError::io(&layout.part, e))?;
        let mut perms = file
            .metadata()
            .map_err(|e| StoreError::io(&layout.part, e))?
            .permissions();
        perms.set_readonly(true);
        drop(file);
        fs::set_permissions(&layout.part, perms).map_err(|e| StoreError::io(&layout.part, e))?;
        cache::remove_if_exists(&layout.marker)?;
        fs::rename(&layout.part, &layout.model).map_err(|e| StoreError::io(&layout.model, e))?;
        cache::write_marker(&layout)?;
        let bytes: Vec<u8> = leaves.iter().flatten().copied().collect();
        cache::write_atomic(&layout.model_leaves, &bytes, true)?;
        cache::remove_if_exists(&layout.state)?;
        cache::remove_if_exists(&layout.part_leaves)
    }
}
