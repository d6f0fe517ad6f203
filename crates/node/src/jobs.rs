//! The node's durable state in its data folder: the event checkpoint, one file per open
//! prompt, and every computed output (written before the commit is sent, so a node killed
//! after committing reveals the same bytes without recomputing).
//!
//! ```text
//! <data_dir>/checkpoint.json                  next block to scan + recent block hashes (reorg check)
//! <data_dir>/jobs/<id>.json                   a prompt still to follow, with its request identity
//! <data_dir>/outputs/<id>-<identity>.bin      the output computed for that request
//! <data_dir>/outputs/<id>-<identity>.trace    its trace (the engine's logits hash, 32 bytes)
//! ```
//! Outputs are keyed by the request's identity (docs/protocol.md), not by the prompt id
//! alone: a reorg can give prompt id N to another request, and the output computed for the
//! old one must never be committed for the new one. Every write is atomic (temp file,
//! fsync, rename); the trace is written before the output, and an output without its trace
//! counts as missing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use alloy::primitives::{B256, U256};
use serde::{Deserialize, Serialize};

use crate::NodeError;

/// A prompt of a model this node serves, followed from its draw until the node knows it is
/// not in the committee, or until the prompt is final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The prompt id.
    pub id: U256,
    /// The model it runs on.
    pub model_id: u64,
    /// The fee paid with the prompt (queue priority).
    pub fee: U256,
    /// Block of the latest draw scheduled for it (queue age, log scans).
    pub assigned_block: u64,
    /// Round of that draw.
    pub round: u8,
    /// The request's identity when the draw was seen (docs/protocol.md).
    #[serde(default)]
    pub identity: B256,
    /// The round's commit deadline (block timestamp; 0 when not known): the compute queue
    /// serves the earliest deadline first.
    #[serde(default)]
    pub commit_deadline: u64,
}

/// An output and the trace of the computation that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    /// The output bytes (ABI-encoded value or error output).
    pub output: Vec<u8>,
    /// The engine's logits hash (zero when no generation ran).
    pub trace: B256,
}

/// Where scanning resumes, hashes of recently scanned blocks to spot reorgs, and the chain
/// they belong to (so a restarted chain is not followed from a stale position).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The next block to scan.
    pub next_block: u64,
    /// Hashes of the last scanned blocks, by number.
    pub recent: BTreeMap<u64, alloy::primitives::B256>,
    /// The chain id (0: unknown, a checkpoint written before it was recorded).
    #[serde(default)]
    pub chain_id: u64,
    /// The hash of the chain's genesis block (none: unknown).
    #[serde(default)]
    pub genesis: Option<B256>,
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
        let mut jobs = Vec::new();
        for path in paths_in(&self.dir.join("jobs"))? {
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

    /// The output computed for prompt `id` as the request with `identity`, if any.
    pub fn output(&self, id: U256, identity: B256) -> Result<Option<Computed>, NodeError> {
        let (output_path, trace_path) = self.output_paths(id, identity);
        let Some(trace) = read_optional(&trace_path)? else {
            return Ok(None);
        };
        let Some(output) = read_optional(&output_path)? else {
            return Ok(None);
        };
        if trace.len() != 32 {
            return Err(NodeError::Io {
                path: trace_path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a trace is 32 bytes, this file has {}", trace.len()),
                ),
            });
        }
        Ok(Some(Computed {
            output,
            trace: B256::from_slice(&trace),
        }))
    }

    /// Keeps the output computed for prompt `id` as the request with `identity` (durably,
    /// before committing to it).
    pub fn save_output(
        &self,
        id: U256,
        identity: B256,
        computed: &Computed,
    ) -> Result<(), NodeError> {
        let (output_path, trace_path) = self.output_paths(id, identity);
        write_atomic(&trace_path, computed.trace.as_slice())?;
        write_atomic(&output_path, &computed.output)
    }

    /// Deletes the outputs kept for prompt `id` under any identity other than `identity`
    /// (computed for a request that a reorg replaced); returns how many were deleted.
    pub fn drop_stale_outputs(&self, id: U256, identity: B256) -> Result<usize, NodeError> {
        let dir = self.dir.join("outputs");
        let prefix = format!("{id}-");
        let keep = alloy::hex::encode(identity);
        let mut dropped = 0;
        for path in paths_in(&dir)? {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let Some((key, ext)) = rest.split_once('.') else {
                continue;
            };
            if key == keep || key.len() != 64 || !(ext == "bin" || ext == "trace") {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => dropped += usize::from(ext == "bin"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(NodeError::Io { path, source }),
            }
        }
        Ok(dropped)
    }

    /// Where the output of prompt `id` as the request with `identity` is kept: the output
    /// bytes and the trace.
    pub fn output_paths(&self, id: U256, identity: B256) -> (PathBuf, PathBuf) {
        let stem = format!("{id}-{}", alloy::hex::encode(identity));
        let dir = self.dir.join("outputs");
        (
            dir.join(format!("{stem}.bin")),
            dir.join(format!("{stem}.trace")),
        )
    }

    fn job_path(&self, id: U256) -> PathBuf {
        self.dir.join("jobs").join(format!("{id}.json"))
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, NodeError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(NodeError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The paths of a folder's entries; errors name the folder.
fn paths_in(dir: &Path) -> Result<Vec<PathBuf>, NodeError> {
    let io = |source| NodeError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()).map_err(io))
        .collect()
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

/// Order of the compute queue (the greatest first): the earliest commit deadline (an unknown
/// one last), then the higher fee, then the older assignment. Serving by fee alone let long,
/// well-paid requests starve short ones until their deadlines passed.
pub fn priority(job: &Job) -> (std::cmp::Reverse<u64>, U256, std::cmp::Reverse<u64>) {
    let deadline = if job.commit_deadline == 0 {
        u64::MAX
    } else {
        job.commit_deadline
    };
    (
        std::cmp::Reverse(deadline),
        job.fee,
        std::cmp::Reverse(job.assigned_block),
    )
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
            identity: B256::repeat_byte(id as u8),
            commit_deadline: 0,
        }
    }

    fn computed(output: &[u8], trace: u8) -> Computed {
        Computed {
            output: output.to_vec(),
            trace: B256::repeat_byte(trace),
        }
    }

    #[test]
    fn jobs_outputs_and_checkpoint_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.checkpoint().unwrap(), None);
        store.save_job(&job(1, 10, 5)).unwrap();
        store.save_job(&job(2, 20, 6)).unwrap();
        let identity = B256::repeat_byte(1);
        store
            .save_output(U256::from(1u8), identity, &computed(b"out", 7))
            .unwrap();
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
        assert_eq!(
            again.output(U256::from(1u8), identity).unwrap().unwrap(),
            computed(b"out", 7)
        );
        assert_eq!(again.output(U256::from(2u8), identity).unwrap(), None);
        assert_eq!(again.checkpoint().unwrap().unwrap(), cp);
        again.remove_job(U256::from(1u8)).unwrap();
        again.remove_job(U256::from(1u8)).unwrap();
        assert_eq!(again.jobs().unwrap().len(), 1);
    }

    #[test]
    fn outputs_are_keyed_by_request_identity() {
        // Prompt 7 was request A; a reorg gave id 7 to request B. A's output must never be
        // found for B, and the stale one can be dropped without touching B's or prompt 70's.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (B256::repeat_byte(0xaa), B256::repeat_byte(0xbb));
        let seven = U256::from(7u8);
        let seventy = U256::from(70u8);
        store.save_output(seven, a, &computed(b"for A", 1)).unwrap();
        store
            .save_output(seventy, a, &computed(b"other", 3))
            .unwrap();
        assert_eq!(store.output(seven, b).unwrap(), None, "B is not A");
        assert_eq!(store.output(seven, a).unwrap().unwrap().output, b"for A");
        store.save_output(seven, b, &computed(b"for B", 2)).unwrap();
        assert_eq!(store.drop_stale_outputs(seven, b).unwrap(), 1);
        assert_eq!(store.output(seven, a).unwrap(), None);
        assert_eq!(
            store.output(seven, b).unwrap().unwrap(),
            computed(b"for B", 2)
        );
        assert_eq!(store.output(seventy, a).unwrap().unwrap().output, b"other");
        assert_eq!(store.drop_stale_outputs(seven, b).unwrap(), 0);
        let (bin, trace) = store.output_paths(seven, b);
        assert!(bin.ends_with(format!("7-{}.bin", "bb".repeat(32))));
        assert_eq!(
            std::fs::read(bin).unwrap(),
            b"for B",
            "the .bin is the raw output"
        );
        // An output whose trace is missing (a crash between the two writes) is recomputed.
        std::fs::remove_file(trace).unwrap();
        assert_eq!(store.output(seven, b).unwrap(), None);
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

    #[test]
    fn queue_serves_the_earliest_deadline_before_a_bigger_fee() {
        let with = |id, fee, deadline| Job {
            commit_deadline: deadline,
            ..job(id, fee, 1)
        };
        // A long, well-paid request due late must not starve a cheap one due soon.
        let mut jobs = [
            with(1, 600, 300),
            with(2, 8, 70),
            with(3, 8, 0),
            with(4, 9, 70),
        ];
        jobs.sort_by_key(|j| std::cmp::Reverse(priority(j)));
        let ids: Vec<u64> = jobs.iter().map(|j| j.id.to::<u64>()).collect();
        assert_eq!(ids, vec![4, 2, 1, 3]);
    }
}
