//! Content roots of model files: a binary sha256 Merkle tree over fixed-size chunks, the value
//! ModelFileSystem records as `contentRoot`, so a node can verify every downloaded chunk on its
//! own against the root registered on chain.
//!
//! Leaves are `sha256(chunk)`; a parent is `sha256(left || right)`; an odd node at the end of
//! a level is carried up unchanged; an empty file has the root `sha256("")`. Every chunk is
//! `chunk_size` bytes except the last, which may be shorter.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// Default chunk size of model files (1 MiB).
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;

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
    level.first().copied().unwrap_or_else(|| sha256(&[]))
}

/// Reads until `buf` is full or the reader ends; returns the bytes read. This is how a file
/// is cut into chunks: a short read is never a chunk boundary, only the end of the file is.
pub fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

    /// Roots of `pattern(n)` in `chunk` chunks, computed by the two implementations this one
    /// replaced (`aikernel_chain::content` and `aikernel_store::merkle`), which agreed.
    const VECTORS: &[(usize, u32, &str)] = &[
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
    fn roots_equal_the_vectors() {
        for &(n, chunk, hex_root) in VECTORS {
            let data = pattern(n);
            let (root, size) = merkle_root(&data[..], chunk).unwrap();
            assert_eq!(size, n as u64);
            assert_eq!(hex::encode(root), hex_root, "n={n} chunk={chunk}");
            let (leaves, _) = merkle_leaves(&data[..], chunk).unwrap();
            assert_eq!(leaves.len() as u64, leaf_count(n as u64, chunk));
            assert_eq!(root_of_leaves(&leaves), root);
        }
    }

    #[test]
    fn tree_shape_carries_the_odd_leaf_up() {
        let data = b"aaaabbbbcc";
        let (root, size) = merkle_root(&data[..], 4).unwrap();
        assert_eq!(size, 10);
        let ab = parent(sha256(b"aaaa"), sha256(b"bbbb"));
        assert_eq!(root, parent(ab, sha256(b"cc")));
        assert_eq!(merkle_root(&b"abc"[..], 4).unwrap(), (sha256(b"abc"), 3));
        assert_eq!(merkle_root(&b""[..], 4).unwrap(), (sha256(b""), 0));
        assert_eq!(root_of_leaves(&[]), sha256(b""));
        assert!(merkle_root(&b"abc"[..], 0).is_err());
        assert_eq!(leaf_count(8, 4), 2);
        assert_eq!(leaf_count(9, 4), 3);
        assert_eq!(leaf_count(0, 4), 0);
    }

    #[test]
    fn a_changed_byte_changes_the_root() {
        let a = vec![7u8; 100];
        let mut b = a.clone();
        b[77] = 8;
        assert_ne!(
            merkle_root(&a[..], 16).unwrap().0,
            merkle_root(&b[..], 16).unwrap().0
        );
    }
}
