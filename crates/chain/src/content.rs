//! Content roots of model files: a binary Merkle tree of sha256 over fixed-size chunks, so a
//! node can verify every downloaded chunk on its own against the root registered on chain.
//!
//! Leaves are `sha256(chunk)`; a parent is `sha256(left || right)`; an odd node at the end of
//! a level is carried up unchanged. An empty file has the root `sha256("")`.

use std::io::Read;

use sha2::{Digest, Sha256};

/// Default chunk size of model files (1 MiB).
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;

/// The Merkle root of `reader`'s bytes cut into `chunk_size` chunks, and the byte count.
pub fn merkle_root(mut reader: impl Read, chunk_size: u32) -> std::io::Result<([u8; 32], u64)> {
    if chunk_size == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "chunk size is zero",
        ));
    }
    let mut leaves = Vec::new();
    let mut buf = vec![0u8; chunk_size as usize];
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            let n = reader.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        total += filled as u64;
        leaves.push(<[u8; 32]>::from(Sha256::digest(&buf[..filled])));
        if filled < buf.len() {
            break;
        }
    }
    if leaves.is_empty() {
        return Ok((Sha256::digest([]).into(), 0));
    }
    Ok((root_of_leaves(leaves), total))
}

/// Folds a level of leaf hashes into the root.
pub fn root_of_leaves(mut level: Vec<[u8; 32]>) -> [u8; 32] {
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
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level
        .first()
        .copied()
        .unwrap_or_else(|| Sha256::digest([]).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    fn parent(a: [u8; 32], b: [u8; 32]) -> [u8; 32] {
        let mut v = a.to_vec();
        v.extend_from_slice(&b);
        sha(&v)
    }

    #[test]
    fn three_chunks_carry_the_odd_leaf_up() {
        let data = b"aaaabbbbcc";
        let (root, size) = merkle_root(&data[..], 4).unwrap();
        assert_eq!(size, 10);
        assert_eq!(root, parent(parent(sha(b"aaaa"), sha(b"bbbb")), sha(b"cc")));
    }

    #[test]
    fn one_chunk_root_is_its_hash_and_empty_is_sha_of_nothing() {
        assert_eq!(merkle_root(&b"abc"[..], 4).unwrap(), (sha(b"abc"), 3));
        assert_eq!(merkle_root(&b""[..], 4).unwrap(), (sha(b""), 0));
        assert!(merkle_root(&b"abc"[..], 0).is_err());
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
