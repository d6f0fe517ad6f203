//! The node's durable state in its data folder: the event checkpoint, one file per open
//! assignment, and every computed output (written before the commit is sent, so a node
//! killed after committing reveals the same bytes without recomputing).
//!
//! ```text
//! <data_dir>/checkpoint.json     next block to scan + recent block hashes (reorg check)
//! <data_dir>/jobs/<id>.json      an assignment still to finish
//! <data_dir>/outputs/<id>.bin    the output computed for prompt <id>
//! ```
//! Every write is atomic (temp file, fsync, rename).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use alloy::primitives::U256;
use serde::{Deserialize, Serialize};

use crate::NodeError;

/// An assignment of this node to a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The prompt id.
    pub id: U256,
    /// The model it runs on.
    pub model_id: u64,
    /// The fee paid with the prompt (queue priority).
    pub fee: U256,
    /// Block of the latest assignment naming this node (queue age).
    pub assigned_block: u64,
    /// Round of that assignment.
    pub round: u8,
}

/// Where scanning resumes, and hashes of recently scanned blocks to spot reorgs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The next block to scan.
    pub next_block: u64,
    /// Hashes of the last scanned blocks, by number.
    pub recent: BTreeMap<u64, alloy::primitives::B256>,
}

/// The data folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating) the data folder.
    pub fn open(dir: &Path) -> Result<Store, NodeError> {
        for sub in ["jobs", "outputs"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| NodeError::Io { path, source })?;
        }
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The checkpoint, or none on a first start.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, NodeError> {
        read_json(&self.dir.join("checkpoint.json"))
    }

    /// Saves the checkpoint.
    pub fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), NodeError> {
        write_json(&self.dir.join("checkpoint.json"), checkpoint)
    }

    /// Every open job.
    pub fn jobs(&self) -> Result<Vec<Job>, NodeError> {
        let dir = self.dir.join("jobs");
        let entries = std::fs::read_dir(&dir).map_err(|source| NodeError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut jobs = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| NodeError::Io {
                    path: dir.clone(),
                    source,
                })?
                .path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(job) = read_json::<Job>(&path)?
            {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    /// Records or updates a job.
    pub fn save_job(&self, job: &Job) -> Result<(), NodeError> {
        write_json(&self.job_path(job.id), job)
    }

    /// Forgets a finished job (its output stays for `aikernel verify`-style audits).
    pub fn remove_job(&self, id: U256) -> Result<(), NodeError> {
        let path = self.job_path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(NodeError::Io { path, source }),
        }
    }

    /// The output computed for prompt `id`, if any.
    pub fn output(&self, id: U256) -> Result<Option<Vec<u8>>, NodeError> {
        let path = self.output_path(id);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(NodeError::Io { path, source }),
        }
    }

    /// Keeps the output computed for prompt `id` (durably, before committing to it).
    pub fn save_output(&self, id: U256, output: &[u8]) -> Result<(), NodeError> {
        write_atomic(&self.output_path(id), output)
    }

    fn job_path(&self, id: U256) -> PathBuf {
        self.dir.join("jobs").join(format!("{id}.json"))
    }

    fn output_path(&self, id: U256) -> PathBuf {
        self.dir.join("outputs").join(format!("{id}.bin"))
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, NodeError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| NodeError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(NodeError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), NodeError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| NodeError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(path, &text)
}

/// Temp file in the same folder, fsync, rename: a crash leaves the old or the new file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let io = |source| NodeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

/// Order of the compute queue: higher fee first, then the older assignment.
pub fn priority(job: &Job) -> (U256, std::cmp::Reverse<u64>) {
    (job.fee, std::cmp::Reverse(job.assigned_block))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u64, fee: u64, block: u64) -> Job {
        Job {
            id: U256::from(id),
            model_id: 1,
            fee: U256::from(fee),
            assigned_block: block,
            round: 0,
        }
    }

    #[test]
    fn jobs_outputs_and_checkpoint_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.checkpoint().unwrap(), None);
        store.save_job(&job(1, 10, 5)).unwrap();
        store.save_job(&job(2, 20, 6)).unwrap();
        store.save_output(U256::from(1u8), b"out").unwrap();
        let mut cp = Checkpoint {
            next_block: 42,
            ..Checkpoint::default()
        };
        cp.recent
            .insert(41, alloy::primitives::B256::repeat_byte(7));
        store.save_checkpoint(&cp).unwrap();

        let again = Store::open(dir.path()).unwrap();
        let mut jobs = again.jobs().unwrap();
        jobs.sort_by_key(|j| j.id);
        assert_eq!(jobs, vec![job(1, 10, 5), job(2, 20, 6)]);
        assert_eq!(again.output(U256::from(1u8)).unwrap().unwrap(), b"out");
        assert_eq!(again.output(U256::from(2u8)).unwrap(), None);
        assert_eq!(again.checkpoint().unwrap().unwrap(), cp);
        again.remove_job(U256::from(1u8)).unwrap();
        again.remove_job(U256::from(1u8)).unwrap();
        assert_eq!(again.jobs().unwrap().len(), 1);
    }

    #[test]
    fn corrupt_state_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("checkpoint.json"), "{not json").unwrap();
        let err = store.checkpoint().unwrap_err().to_string();
        assert!(err.contains("checkpoint.json"), "{err}");
    }

    #[test]
    fn queue_prefers_fee_then_age() {
        let mut jobs = [job(1, 10, 9), job(2, 30, 9), job(3, 10, 2)];
        jobs.sort_by_key(|j| std::cmp::Reverse(priority(j)));
        let ids: Vec<u64> = jobs.iter().map(|j| j.id.to::<u64>()).collect();
        assert_eq!(ids, vec![2, 3, 1]);
    }
}
