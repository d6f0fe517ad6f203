//! Content roots of model files: a binary sha256 Merkle tree over fixed-size chunks, the same
//! tree as `aikernel_chain::content` (and ModelFileSystem's `contentRoot`).
//!
//! Leaves are `sha256(chunk)`; a parent is `sha256(left || right)`; an odd node at the end of
//! a level is carried up unchanged; an empty file has the root `sha256("")`. Every chunk is
//! `chunk_size` bytes except the last, which may be shorter.
//!
//! A *leaf manifest* (`<model>.leaves`) is the raw concatenation of the 32-byte leaf hashes in
//! chunk order. It is trusted only after it folds to the on-chain root, and then lets every
//! chunk be verified on its own as it arrives.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::StoreError;

/// Default chunk size of model files (1 MiB).
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;

/// The most chunks a model may have (4 TiB at the default chunk size); a larger count is
/// refused before any memory is reserved for it.
pub const MAX_LEAVES: u64 = 1 << 22;

/// The sha256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The number of chunks (leaves) of a `size`-byte file: `ceil(size / chunk_size)`, zero for an
/// empty file. `chunk_size` must not be zero (returns zero then).
pub fn leaf_count(size: u64, chunk_size: u32) -> u64 {
    if chunk_size == 0 {
        return 0;
    }
    size.div_ceil(u64::from(chunk_size))
}

/// The leaf hashes of `reader`'s bytes cut into `chunk_size` chunks, and the byte count.
pub fn merkle_leaves(mut reader: impl Read, chunk_size: u32) -> io::Result<(Vec<[u8; 32]>, u64)> {
    if chunk_size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "chunk size is zero",
        ));
    }
    let mut leaves = Vec::new();
    let mut buf = vec![0u8; chunk_size as usize];
    let mut total = 0u64;
    loop {
        let filled = read_full(&mut reader, &mut buf)?;
        if filled == 0 {
            break;
        }
        total += filled as u64;
        leaves.push(sha256(&buf[..filled]));
        if filled < buf.len() {
            break;
        }
    }
    Ok((leaves, total))
}

/// The Merkle root of `reader`'s bytes cut into `chunk_size` chunks, and the byte count.
pub fn merkle_root(reader: impl Read, chunk_size: u32) -> io::Result<([u8; 32], u64)> {
    let (leaves, total) = merkle_leaves(reader, chunk_size)?;
    Ok((root_of_leaves(&leaves), total))
}

/// Folds leaf hashes into the root (`sha256("")` for no leaves).
pub fn root_of_leaves(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.is_empty() {
        return sha256(&[]);
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => {
                    let mut h = Sha256::new();
                    h.update(left);
                    h.update(right);
                    h.finalize().into()
                }
                [single, ..] => *single,
                [] => sha256(&[]),
            })
            .collect();
    }
    level[0]
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

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

    fn parent(a: [u8; 32], b: [u8; 32]) -> [u8; 32] {
        let mut v = a.to_vec();
        v.extend_from_slice(&b);
        sha256(&v)
    }

    /// Roots of `pattern(n)` computed with `aikernel_chain::content::merkle_root` (the file
    /// compiled on its own with sha2, since the chain crate pulls alloy).
    const CHAIN_VECTORS: &[(usize, u32, &str)] = &[
        (
            0,
            4,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            1,
            4,
            "ca358758f6d27e6cf45272937977a748fd88391db679ceda7dc7bf1f005ee879",
        ),
        (
            4,
            4,
            "b999f79c534a332dfb989ab78cda3d1967c16133ca1d668cf62737f8d768962f",
        ),
        (
            5,
            4,
            "71f309757dc87df09ac1f3aa4ca7b46ceade8fb60ef61af78e8f3bd3bbe1cdf2",
        ),
        (
            10,
            4,
            "d3f5f5acf962840e52db11492a2e117ce1c6b871c70bc7f9944c8b2fa44b2bea",
        ),
        (
            1000,
            64,
            "c09dc4d9275959d3a291575f07df166460b6ceaf1cdceea7afb33e79b357f3d4",
        ),
        (
            1000,
            100,
            "4e0594662f3919a25b43c752a737c98ae5bc77818761699a8776117a87060153",
        ),
        (
            3 * 1_048_576 + 5,
            DEFAULT_CHUNK_SIZE,
            "a78b99fd04d3e5a0f8615ec7b301f35dd4505046b398fbc7344d040522020845",
        ),
    ];

    #[test]
    fn roots_equal_the_chain_crate_vectors() {
        for &(n, chunk, hex_root) in CHAIN_VECTORS {
            let data = pattern(n);
            let (root, size) = merkle_root(&data[..], chunk).unwrap();
            assert_eq!(size, n as u64);
            assert_eq!(hex::encode(root), hex_root, "n={n} chunk={chunk}");
            let (leaves, _) = merkle_leaves(&data[..], chunk).unwrap();
            assert_eq!(leaves.len() as u64, leaf_count(n as u64, chunk));
        }
    }

    #[test]
    fn tree_shape_carries_the_odd_leaf_up() {
        let data = b"aaaabbbbcc";
        let (root, size) = merkle_root(&data[..], 4).unwrap();
        assert_eq!(size, 10);
        let ab = parent(sha256(b"aaaa"), sha256(b"bbbb"));
        assert_eq!(root, parent(ab, sha256(b"cc")));
        assert_eq!(merkle_root(&b""[..], 4).unwrap(), (sha256(b""), 0));
        assert!(merkle_root(&b"abc"[..], 0).is_err());
        assert_eq!(leaf_count(8, 4), 2);
        assert_eq!(leaf_count(9, 4), 3);
        assert_eq!(leaf_count(0, 4), 0);
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
        assert_eq!(hex::encode(info.root), CHAIN_VECTORS[5].2);
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
