//! IPFS CIDv1 `raw` / `sha2-256` CIDs: the form of a content hash that IPFS gateways accept.
//!
//! A CID is the multibase prefix `b` (base32, lower case, no padding) followed by the bytes
//! `0x01` (CID version 1), `0x55` (multicodec `raw`), `0x12` (multihash `sha2-256`), `0x20`
//! (digest length 32) and the 32-byte sha256 digest. The digest is the plain sha256 of the
//! data, so the on-chain `bytes32` content hash and the CID carry the same value.

use data_encoding::BASE32_NOPAD;

use crate::StoreError;

/// The binary prefix of a CIDv1 raw sha2-256 CID: version, codec, hash function, length.
const PREFIX: [u8; 4] = [0x01, 0x55, 0x12, 0x20];

/// The CIDv1 (raw, sha2-256, base32 lower case) of the data whose sha256 is `hash`.
pub fn cid_v1_raw(hash: &[u8; 32]) -> String {
    let mut bytes = [0u8; 36];
    bytes[..4].copy_from_slice(&PREFIX);
    bytes[4..].copy_from_slice(hash);
    let mut out = String::with_capacity(59);
    out.push('b');
    out.push_str(&BASE32_NOPAD.encode(&bytes).to_ascii_lowercase());
    out
}

/// The sha256 inside a CIDv1 raw sha2-256 CID (`b…` base32, either case), or a `0x`-prefixed
/// 64-digit hex sha256. Any other CID (CIDv0 `Qm…`, other codecs, other hash functions or
/// bases) is rejected with the reason.
pub fn parse_cid(cid: &str) -> Result<[u8; 32], StoreError> {
    let invalid = |reason: &str| StoreError::InvalidCid {
        cid: cid.to_owned(),
        reason: reason.to_owned(),
    };
    let cid = cid.trim();
    if let Some(hex_digits) = cid.strip_prefix("0x").or_else(|| cid.strip_prefix("0X")) {
        let bytes =
            hex::decode(hex_digits).map_err(|e| invalid(&format!("not a hex sha256: {e}")))?;
        return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            invalid(&format!(
                "a hex sha256 has 64 digits, this has {}",
                hex_digits.len()
            ))
        });
    }
    if cid.starts_with("Qm") {
        return Err(invalid(
            "CIDv0 (dag-pb) is not a raw sha2-256 CID; use the CIDv1 raw form (bafkrei...)",
        ));
    }
    let body = match cid.as_bytes().first() {
        Some(b'b') => cid[1..].to_ascii_uppercase(),
        Some(b'B') => cid[1..].to_owned(),
        Some(_) => {
            return Err(invalid(
                "unsupported multibase prefix (only base32 'b' is accepted)",
            ));
        }
        None => return Err(invalid("empty")),
    };
    let bytes = BASE32_NOPAD
        .decode(body.as_bytes())
        .map_err(|e| invalid(&format!("bad base32: {e}")))?;
    match bytes.as_slice() {
        [0x01, 0x55, 0x12, 0x20, digest @ ..] if digest.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(digest);
            Ok(out)
        }
        [0x01, 0x55, 0x12, 0x20, ..] => Err(invalid("sha2-256 digest is not 32 bytes")),
        [0x01, 0x55, ..] => Err(invalid("multihash is not sha2-256 (0x12, 32 bytes)")),
        [0x01, codec, ..] => Err(invalid(&format!("codec 0x{codec:02x} is not raw (0x55)"))),
        [version, ..] => Err(invalid(&format!("CID version {version} is not 1"))),
        [] => Err(invalid("empty")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::sha256;

    // The widely published CIDv1 raw sha2-256 CIDs of "" and "hello world", recomputed
    // independently with Python: "b" + b32encode(01 55 12 20 || sha256).lower() without "=".
    const EMPTY: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    const HELLO: &str = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";

    #[test]
    fn known_vectors() {
        assert_eq!(cid_v1_raw(&sha256(b"")), EMPTY);
        assert_eq!(cid_v1_raw(&sha256(b"hello world")), HELLO);
        assert_eq!(parse_cid(HELLO).unwrap(), sha256(b"hello world"));
        assert_eq!(parse_cid(&EMPTY.to_ascii_uppercase()).unwrap(), sha256(b""));
    }

    #[test]
    fn hex_form_round_trips() {
        let h = sha256(b"x");
        assert_eq!(parse_cid(&format!("0x{}", hex::encode(h))).unwrap(), h);
        assert!(parse_cid("0x1234").is_err());
        assert!(parse_cid(&format!("0x{}", "zz".repeat(32))).is_err());
    }

    #[test]
    fn rejects_other_cids() {
        let err = |s: &str| parse_cid(s).unwrap_err().to_string();
        assert!(err("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR").contains("CIDv0"));
        // dag-pb CIDv1 (bafybei...): codec 0x70.
        assert!(
            err("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi").contains("0x70")
        );
        assert!(err("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA").contains("multibase"));
        assert!(err("").contains("empty"));
        assert!(err("bafkrei").contains("digest") || err("bafkrei").contains("base32"));
        assert!(err("b!!!").contains("base32"));
    }
}
