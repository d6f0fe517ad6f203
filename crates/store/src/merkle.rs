//! Leaf manifests of model files. The content root itself (a binary sha256 Merkle tree over
//! fixed-size chunks, ModelFileSystem's `contentRoot`) is `aikernel_protocol::content`.
//!
//! A *leaf manifest* (`<model>.leaves`) is the raw concatenation of the 32-byte leaf hashes in
//! chunk order. It is trusted only after it folds to the on-chain root, and then lets every
//! chunk be verified on its own as it arrives.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub(crate) use aikernel_protocol::content::read_full;
pub use aikernel_protocol::content::{
    DEFAULT_CHUNK_SIZE, leaf_count, merkle_leaves, merkle_root, root_of_leaves, sha256,
};

use crate::StoreError;

/// The most chunks a model may have (4 TiB at the default chunk size); a larger count is
/// refused before any memory is reserved for it.
pub const MAX_LEAVES: u64 = 1 << 22;

/// Parses a leaf manifest and checks it against the expected root and size; `what` names the
/// manifest in errors.
pub fn parse_leaves_manifest(
    bytes: &[u8],
    root: &[u8; 32],
    size: u64,
    chunk_size: u32,
    what: &str,
) -> Result<Vec<[u8; 32]>, StoreError> {
    let invalid = |reason: String| StoreError::InvalidManifest {
        what: what.to_owned(),
        reason,
    };
    let expected = leaf_count(size, chunk_size);
    if !bytes.len().is_multiple_of(32) {
        return Err(invalid(format!(
            "{} bytes is not a multiple of 32",
            bytes.len()
        )));
    }
    let count = (bytes.len() / 32) as u64;
    if count != expected {
        return Err(invalid(format!(
            "{count} leaves, but {size} bytes in {chunk_size}-byte chunks need {expected}"
        )));
    }
    let leaves: Vec<[u8; 32]> = bytes
        .chunks_exact(32)
        .map(|c| {
            let mut leaf = [0u8; 32];
            leaf.copy_from_slice(c);
            leaf
        })
        .collect();
    let actual = root_of_leaves(&leaves);
    if &actual != root {
        return Err(invalid(format!(
            "folds to root 0x{}, expected 0x{}",
            hex::encode(actual),
            hex::encode(root)
        )));
    }
    Ok(leaves)
}

/// The path of a file's leaf manifest: the file's path with `.leaves` appended.
pub fn leaves_manifest_path(model_path: &Path) -> PathBuf {
    let mut name = model_path.as_os_str().to_owned();
    name.push(".leaves");
    PathBuf::from(name)
}

/// What [`write_leaves_manifest`] wrote: the manifest's path and the file's content identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavesManifest {
    /// `<model_path>.leaves`.
    pub path: PathBuf,
    /// The model file's content root (what ModelFileSystem records).
    pub root: [u8; 32],
    /// The model file's size in bytes.
    pub size: u64,
    /// The number of leaves written.
    pub leaves: u64,
}

/// Computes `model_path`'s leaves in `chunk_size` chunks and writes them next to it as
/// `<model_path>.leaves` (atomically: temporary file, then rename).
///
/// Publish the manifest wherever the model is published (`<uri>.leaves`) so nodes can verify
/// every chunk as it arrives instead of only the whole file at the end.
pub fn write_leaves_manifest(
    model_path: &Path,
    chunk_size: u32,
) -> Result<LeavesManifest, StoreError> {
    let file = File::open(model_path).map_err(|e| StoreError::io(model_path, e))?;
    let (leaves, size) = merkle_leaves(io::BufReader::new(file), chunk_size)
        .map_err(|e| StoreError::io(model_path, e))?;
    let out = leaves_manifest_path(model_path);
    let mut tmp_name = out.as_os_str().to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let write = || -> io::Result<()> {
        let mut w = BufWriter::new(File::create(&tmp)?);
        for leaf in &leaves {
            w.write_all(leaf)?;
        }
        w.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
        std::fs::rename(&tmp, &out)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        StoreError::io(&out, e)
    })?;
    Ok(LeavesManifest {
        path: out,
        root: root_of_leaves(&leaves),
        size,
        leaves: leaves.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 31 + 7) % 251) as u8).collect()
    }

    #[test]
    fn manifest_round_trip_and_rejections() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.bin");
        let data = pattern(1000);
        std::fs::write(&model, &data).unwrap();
        let info = write_leaves_manifest(&model, 64).unwrap();
        assert_eq!(info.path, dir.path().join("m.bin.leaves"));
        assert_eq!((info.size, info.leaves), (1000, 16));
        assert_eq!(
            hex::encode(info.root),
            "c09dc4d9275959d3a291575f07df166460b6ceaf1cdceea7afb33e79b357f3d4"
        );
        let bytes = std::fs::read(&info.path).unwrap();
        assert_eq!(bytes.len(), 16 * 32);
        let leaves = parse_leaves_manifest(&bytes, &info.root, 1000, 64, "m").unwrap();
        assert_eq!(root_of_leaves(&leaves), info.root);

        let err = |b: &[u8], size: u64| {
            parse_leaves_manifest(b, &info.root, size, 64, "m")
                .unwrap_err()
                .to_string()
        };
        assert!(err(&bytes[..100], 1000).contains("multiple of 32"));
        assert!(err(&bytes[..32 * 15], 1000).contains("15 leaves"));
        assert!(err(&bytes, 2000).contains("need 32"));
        let mut tampered = bytes.clone();
        tampered[40] ^= 1;
        assert!(err(&tampered, 1000).contains("folds to root"));
    }
}
