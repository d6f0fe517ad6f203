//! ContentStore: put/get with verification, and resolution through IPFS gateways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use aikernel_store::{ContentStore, StoreError, cid_v1_raw, sha256};
use common::Server;

#[test]
fn put_get_round_trip_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    let hash = store.put(b"hello world").unwrap();
    assert_eq!(hash, sha256(b"hello world"));
    assert_eq!(store.put(b"hello world").unwrap(), hash);
    assert_eq!(store.get(&hash).unwrap().unwrap(), b"hello world");
    assert!(store.get(&sha256(b"absent")).unwrap().is_none());
    assert_eq!(store.put(b"").unwrap(), sha256(b""));
    assert_eq!(store.get(&sha256(b"")).unwrap().unwrap(), b"");

    fs::write(store.path(&hash), b"hello wOrld").unwrap();
    let err = store.get(&hash).unwrap_err();
    assert!(
        matches!(err, StoreError::HashMismatch { expected, .. } if expected == hash),
        "{err}"
    );
    assert!(!store.path(&hash).exists());
    assert!(store.get(&hash).unwrap().is_none());
    // put repairs a corrupted blob.
    fs::write(store.path(&sha256(b"")), b"x").unwrap();
    store.put(b"").unwrap();
    assert_eq!(store.get(&sha256(b"")).unwrap().unwrap(), b"");
}

#[test]
fn resolve_uses_gateways_and_rejects_wrong_bytes() {
    let good = Server::start();
    let evil = Server::start();
    let data = b"context entry 42".to_vec();
    let hash = sha256(&data);
    let path = format!("/ipfs/{}", cid_v1_raw(&hash));
    good.serve(&path, &data);
    evil.serve(&path, b"context entry 43");
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();

    // Only the lying gateway: refused, nothing stored.
    let err = store
        .resolve(&hash, std::slice::from_ref(&evil.base))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("sha256 mismatch") && text.contains(&path),
        "{text}"
    );
    assert!(store.get(&hash).unwrap().is_none());

    // A missing gateway entry, the liar, then the honest one (trailing slash tolerated).
    let empty = Server::start();
    let gateways = vec![
        empty.base.clone(),
        evil.base.clone(),
        format!("{}/", good.base),
    ];
    assert_eq!(store.resolve(&hash, &gateways).unwrap(), data);
    assert_eq!(store.get(&hash).unwrap().unwrap(), data);

    // Now local: no gateway needed.
    assert_eq!(store.resolve(&hash, &[]).unwrap(), data);

    // Unknown hash, no gateways: a clear error naming the CID.
    let other = sha256(b"nobody has this");
    let text = store.resolve(&other, &[]).unwrap_err().to_string();
    assert!(text.contains(&cid_v1_raw(&other)), "{text}");
}
