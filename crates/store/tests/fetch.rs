//! fetch_model against local files and a local HTTP server with injected faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use aikernel_store::{
    FetchOptions, ModelSource, StoreError, fetch_model, merkle_leaves, merkle_root,
    write_leaves_manifest,
};
use common::{Fault, Route, Server, pattern};

const CHUNK: u32 = 4096;
/// 5 full chunks and a short one.
const SIZE: usize = 5 * CHUNK as usize + 100;

fn options(cache: &Path) -> FetchOptions {
    FetchOptions {
        cache_dir: cache.to_owned(),
        ipfs_gateway: "http://127.0.0.1:9".to_owned(),
        progress: false,
    }
}

fn source_of(data: &[u8], uris: Vec<String>) -> ModelSource {
    let (root, size) = merkle_root(data, CHUNK).unwrap();
    ModelSource {
        root,
        size,
        chunk_size: CHUNK,
        uris,
    }
}

fn manifest_of(data: &[u8]) -> Vec<u8> {
    merkle_leaves(data, CHUNK).unwrap().0.concat()
}

/// `data` with one byte flipped in chunk `index`.
fn corrupt_chunk(data: &[u8], index: usize) -> Vec<u8> {
    let mut bad = data.to_vec();
    bad[index * CHUNK as usize + 17] ^= 0x5a;
    bad
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn failures(err: StoreError) -> Vec<(String, StoreError)> {
    match err {
        StoreError::AllSourcesFailed { failures, .. } => {
            failures.into_iter().map(|f| (f.uri, f.error)).collect()
        }
        other => panic!("expected AllSourcesFailed, got {other}"),
    }
}

#[test]
fn file_uri_with_manifest_lands_in_the_cache_layout() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.gguf");
    let data = pattern(SIZE, 1);
    fs::write(&model, &data).unwrap();
    let info = write_leaves_manifest(&model, CHUNK).unwrap();
    let cache = dir.path().join("cache");
    let source = source_of(&data, vec![file_uri(&model)]);
    assert_eq!(info.root, source.root);

    let path = fetch_model(&source, &options(&cache)).unwrap();
    let hex = hex::encode(source.root);
    assert_eq!(path, cache.join("models").join(format!("{hex}.bin")));
    assert_eq!(fs::read(&path).unwrap(), data);
    assert!(fs::metadata(&path).unwrap().permissions().readonly());
    assert!(
        cache
            .join("models")
            .join(format!("{hex}.verified"))
            .exists()
    );
    assert_eq!(
        fs::read(cache.join("models").join(format!("{hex}.leaves"))).unwrap(),
        manifest_of(&data)
    );
    assert_eq!(fs::read_dir(cache.join("partial")).unwrap().count(), 0);

    // Cached: the source may vanish, the verified copy is returned.
    fs::remove_file(&model).unwrap();
    assert_eq!(fetch_model(&source, &options(&cache)).unwrap(), path);
}

#[test]
fn corrupted_file_is_refused_without_and_with_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(SIZE, 2);
    let bad = dir.path().join("bad.gguf");
    fs::write(&bad, corrupt_chunk(&data, 3)).unwrap();
    let source = source_of(&data, vec![file_uri(&bad)]);
    let cache = dir.path().join("cache");

    let errs = failures(fetch_model(&source, &options(&cache)).unwrap_err());
    assert!(
        matches!(&errs[..], [(_, StoreError::RootMismatch { expected, .. })] if *expected == source.root),
        "{errs:?}"
    );
    assert!(
        !cache
            .join("models")
            .join(format!("{}.bin", hex::encode(source.root)))
            .exists()
    );

    // With the true manifest beside it, the bad chunk itself is named.
    fs::write(dir.path().join("bad.gguf.leaves"), manifest_of(&data)).unwrap();
    let err = fetch_model(&source, &options(&cache)).unwrap_err();
    let text = err.to_string();
    let errs = failures(err);
    assert!(
        matches!(&errs[..], [(_, StoreError::ChunkMismatch { index: 3, .. })]),
        "{errs:?}"
    );
    assert!(
        text.contains("bad.gguf") && text.contains("chunk 3"),
        "{text}"
    );

    // A good second source completes the download from where the bad one stopped.
    let good = dir.path().join("good.gguf");
    fs::write(&good, &data).unwrap();
    let source = source_of(&data, vec![file_uri(&bad), file_uri(&good)]);
    let path = fetch_model(&source, &options(&cache)).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
}

#[test]
fn dropped_connections_resume_at_the_last_verified_chunk() {
    let server = Server::start();
    let data = pattern(SIZE, 3);
    let mut faults = std::collections::VecDeque::new();
    // Two full chunks and part of the third, then a drop; then a drop before any full chunk.
    faults.push_back(Fault::DropAfter(2 * CHUNK as usize + 1000));
    faults.push_back(Fault::DropAfter(100));
    server.route(
        "/m.gguf",
        Route {
            body: data.clone(),
            faults,
            ..Route::default()
        },
    );
    server.serve("/m.gguf.leaves", &manifest_of(&data));
    let dir = tempfile::tempdir().unwrap();
    let source = source_of(&data, vec![server.url("/m.gguf")]);
    let path = fetch_model(&source, &options(dir.path())).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    let starts = server.range_starts("/m.gguf");
    let two = Some(2 * u64::from(CHUNK));
    assert_eq!(starts, vec![Some(0), two, two]);
}

#[test]
fn a_restarted_fetch_continues_from_the_stored_chunks() {
    let server = Server::start();
    let data = pattern(SIZE, 4);
    let mut faults = std::collections::VecDeque::new();
    faults.push_back(Fault::DropAfter(3 * CHUNK as usize + 5));
    server.route(
        "/m.gguf",
        Route {
            body: data.clone(),
            faults,
            always: Some(Fault::Status(503)),
            ..Route::default()
        },
    );
    server.serve("/m.gguf.leaves", &manifest_of(&data));
    let dir = tempfile::tempdir().unwrap();
    let source = source_of(&data, vec![server.url("/m.gguf")]);
    let errs = failures(fetch_model(&source, &options(dir.path())).unwrap_err());
    assert!(
        matches!(
            &errs[..],
            [(
                _,
                StoreError::Http {
                    status: Some(503),
                    ..
                }
            )]
        ),
        "{errs:?}"
    );
    let hex = hex::encode(source.root);
    assert!(
        dir.path()
            .join("partial")
            .join(format!("{hex}.state"))
            .exists()
    );

    // "Restart": the server recovers; the new fetch asks only for what is missing.
    server.serve("/m.gguf", &data);
    server.clear_log();
    let path = fetch_model(&source, &options(dir.path())).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    let starts = server.range_starts("/m.gguf");
    assert_eq!(starts, vec![Some(3 * u64::from(CHUNK))]);
}

#[test]
fn a_corrupted_chunk_is_rejected_and_the_next_source_used() {
    let server = Server::start();
    let data = pattern(SIZE, 5);
    server.serve("/bad.gguf", &corrupt_chunk(&data, 2));
    server.serve("/bad.gguf.leaves", &manifest_of(&data));
    server.serve("/good.gguf", &data);
    let dir = tempfile::tempdir().unwrap();
    let source = source_of(
        &data,
        vec![server.url("/bad.gguf"), server.url("/good.gguf")],
    );
    let path = fetch_model(&source, &options(dir.path())).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    // Chunks 0 and 1 came from the first source; the second is asked from chunk 2 on.
    let starts = server.range_starts("/good.gguf");
    assert_eq!(starts, vec![Some(2 * u64::from(CHUNK))]);
}

#[test]
fn wrong_file_404_and_unknown_scheme_each_fail_and_are_all_listed() {
    let server = Server::start();
    let data = pattern(SIZE, 6);
    server.serve("/wrong.gguf", &pattern(SIZE, 7));
    let dir = tempfile::tempdir().unwrap();
    let uris = vec![
        "ar://someid".to_owned(),
        server.url("/missing.gguf"),
        server.url("/wrong.gguf"),
    ];
    let source = source_of(&data, uris.clone());
    let err = fetch_model(&source, &options(dir.path())).unwrap_err();
    let text = err.to_string();
    for uri in &uris {
        assert!(text.contains(uri.as_str()), "{text}");
    }
    let errs = failures(err);
    assert!(
        matches!(errs[0].1, StoreError::UnsupportedUri { .. }),
        "{errs:?}"
    );
    assert!(
        matches!(
            errs[1].1,
            StoreError::Http {
                status: Some(404),
                ..
            }
        ),
        "{errs:?}"
    );
    assert!(
        matches!(errs[2].1, StoreError::RootMismatch { expected, .. } if expected == source.root),
        "{errs:?}"
    );

    // The same list with a good source at the end succeeds.
    server.serve("/good.gguf", &data);
    let mut uris = uris;
    uris.push(server.url("/good.gguf"));
    let source = source_of(&data, uris);
    let path = fetch_model(&source, &options(dir.path())).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
}

#[test]
fn size_mismatch_is_reported() {
    let server = Server::start();
    let data = pattern(SIZE, 8);
    server.serve("/short.gguf", &data[..SIZE - 1]);
    let dir = tempfile::tempdir().unwrap();
    let source = source_of(&data, vec![server.url("/short.gguf")]);
    let errs = failures(fetch_model(&source, &options(dir.path())).unwrap_err());
    assert!(
        matches!(
            &errs[..],
            [(_, StoreError::SizeMismatch { expected, actual, .. })]
                if *expected == SIZE as u64 && *actual == SIZE as u64 - 1
        ),
        "{errs:?}"
    );
}

#[test]
fn a_server_that_ignores_range_still_works() {
    let server = Server::start();
    let data = pattern(SIZE, 9);
    let mut faults = std::collections::VecDeque::new();
    faults.push_back(Fault::DropAfter(CHUNK as usize + 10));
    server.route(
        "/m.gguf",
        Route {
            body: data.clone(),
            ignore_range: true,
            faults,
            ..Route::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let source = source_of(&data, vec![server.url("/m.gguf")]);
    let path = fetch_model(&source, &options(dir.path())).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
}

#[test]
fn a_corrupted_cached_model_is_detected_and_fetched_again() {
    let server = Server::start();
    let data = pattern(SIZE, 10);
    server.serve("/m.gguf", &data);
    let dir = tempfile::tempdir().unwrap();
    let source = source_of(&data, vec![server.url("/m.gguf")]);
    let path = fetch_model(&source, &options(dir.path())).unwrap();

    // Corrupt the cached copy in place (the size stays, the mtime moves).
    let mut perms = fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&path, perms).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(&path, corrupt_chunk(&data, 4)).unwrap();

    // With the source gone, the corrupted copy is refused, never returned.
    server.remove("/m.gguf");
    let err = fetch_model(&source, &options(dir.path())).unwrap_err();
    let text = err.to_string();
    eprintln!("{text}");
    assert!(
        text.contains(&path.display().to_string()) && text.contains("content root mismatch"),
        "{text}"
    );
    let errs = failures(err);
    assert!(
        matches!(
            &errs[..],
            [
                (_, StoreError::RootMismatch { .. }),
                (
                    _,
                    StoreError::Http {
                        status: Some(404),
                        ..
                    }
                ),
            ]
        ),
        "{errs:?}"
    );
    assert!(!path.exists());

    // With the source back, a fresh download succeeds.
    server.serve("/m.gguf", &data);
    let again = fetch_model(&source, &options(dir.path())).unwrap();
    assert_eq!(again, path);
    assert_eq!(fs::read(&again).unwrap(), data);
}

#[test]
fn ipfs_uris_go_through_the_gateway_and_bad_manifests_are_ignored() {
    let server = Server::start();
    let data = pattern(SIZE, 11);
    server.serve("/ipfs/bafydir/model.gguf", &data);
    // A manifest that does not fold to the root is ignored; the whole file is checked.
    server.serve(
        "/ipfs/bafydir/model.gguf.leaves",
        &manifest_of(&pattern(SIZE, 12)),
    );
    let dir = tempfile::tempdir().unwrap();
    let source = source_of(&data, vec!["ipfs://bafydir/model.gguf".to_owned()]);
    let mut opts = options(dir.path());
    opts.ipfs_gateway = server.base.clone();
    opts.progress = true;
    let path = fetch_model(&source, &opts).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    assert_eq!(server.requests("/ipfs/bafydir/model.gguf.leaves").len(), 1);
}

#[test]
fn concurrent_fetches_share_one_download() {
    let server = Server::start();
    let data = pattern(SIZE, 13);
    server.serve("/m.gguf", &data);
    server.serve("/m.gguf.leaves", &manifest_of(&data));
    let dir = tempfile::tempdir().unwrap();
    let source = source_of(&data, vec![server.url("/m.gguf")]);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let source = source.clone();
            let opts = options(dir.path());
            std::thread::spawn(move || fetch_model(&source, &opts))
        })
        .collect();
    let paths: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert!(paths.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(fs::read(&paths[0]).unwrap(), data);
    assert_eq!(server.requests("/m.gguf").len(), 1);
}

#[test]
fn empty_model_and_invalid_sources() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.bin");
    fs::write(&empty, b"").unwrap();
    let source = source_of(b"", vec![file_uri(&empty)]);
    let path = fetch_model(&source, &options(&dir.path().join("c"))).unwrap();
    assert_eq!(fs::read(path).unwrap(), b"");

    let mut bad = source.clone();
    bad.chunk_size = 0;
    assert!(matches!(
        fetch_model(&bad, &options(dir.path())),
        Err(StoreError::InvalidSource { .. })
    ));
    bad.chunk_size = CHUNK;
    bad.uris.clear();
    assert!(matches!(
        fetch_model(&bad, &options(dir.path())),
        Err(StoreError::InvalidSource { .. })
    ));
    // An absurd registered size is refused up front, not allocated.
    let mut huge = source.clone();
    huge.size = u64::MAX / 2;
    huge.chunk_size = 1;
    let err = fetch_model(&huge, &options(dir.path())).unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidSource { .. }) && err.to_string().contains("limit"),
        "{err}"
    );
}

#[test]
fn redirects_keep_the_range() {
    let server = Server::start();
    let data = pattern(SIZE, 14);
    server.serve("/cdn/m.gguf", &data);
    server.serve("/cdn/m.gguf.leaves", &manifest_of(&data));
    for (from, to) in [
        ("/m.gguf", "/cdn/m.gguf"),
        ("/m.gguf.leaves", "/cdn/m.gguf.leaves"),
    ] {
        server.route(
            from,
            Route {
                always: Some(Fault::Redirect(to)),
                ..Route::default()
            },
        );
    }
    let mut faults = std::collections::VecDeque::new();
    faults.push_back(Fault::DropAfter(CHUNK as usize + 1));
    server.route(
        "/cdn/m.gguf",
        Route {
            body: data.clone(),
            faults,
            ..Route::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let source = source_of(&data, vec![server.url("/m.gguf")]);
    let path = fetch_model(&source, &options(dir.path())).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    let starts = server.range_starts("/cdn/m.gguf");
    assert_eq!(starts, vec![Some(0), Some(u64::from(CHUNK))]);
    assert_eq!(server.requests("/cdn/m.gguf.leaves").len(), 1);
}

/// A fetching process killed with SIGKILL mid-transfer leaves no stale lock, and the next
/// fetch asks only for what the dead one had not saved. The test binary re-runs itself as
/// the child.
#[test]
fn a_killed_fetcher_leaves_a_resumable_download() {
    const CHILD: &str = "AIKERNEL_STORE_TEST_CHILD";
    const N: usize = 48 * CHUNK as usize;
    let data = pattern(N, 15);
    if let Ok(spec) = std::env::var(CHILD) {
        let (cache, url) = spec.split_once('|').unwrap();
        let source = source_of(&data, vec![url.to_owned()]);
        let _ = fetch_model(&source, &options(Path::new(cache)));
        return;
    }
    let server = Server::start();
    server.route(
        "/slow.gguf",
        Route {
            body: data.clone(),
            // 4 pieces per chunk, 48 chunks: about 4 s for the whole file.
            throttle: Some(std::time::Duration::from_millis(20)),
            ..Route::default()
        },
    );
    server.serve("/slow.gguf.leaves", &manifest_of(&data));
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/slow.gguf");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_killed_fetcher_leaves_a_resumable_download",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, format!("{}|{url}", dir.path().display()))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(server.requests("/slow.gguf").len(), 1);

    server.serve("/slow.gguf", &data);
    let source = source_of(&data, vec![url]);
    let path = fetch_model(&source, &options(dir.path())).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    let resumed_at = server.requests("/slow.gguf")[1].range_start.unwrap();
    eprintln!("resumed at byte {resumed_at} of {N}");
    assert!(
        resumed_at > 0 && resumed_at.is_multiple_of(u64::from(CHUNK)),
        "{resumed_at}"
    );
}

/// Requests cover 8 MiB: a larger file takes several ranged requests, but a server that
/// ignores `Range` is read through in one response instead of re-sending the start each time.
#[test]
fn request_count_with_and_without_range_support() {
    let server = Server::start();
    let n = 2100 * CHUNK as usize; // 8.2 MiB: two 8 MiB requests
    let data = pattern(n, 16);
    server.serve("/ranged.gguf", &data);
    server.route(
        "/plain.gguf",
        Route {
            body: data.clone(),
            ignore_range: true,
            ..Route::default()
        },
    );
    for (path, requests) in [("/ranged.gguf", 2), ("/plain.gguf", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let source = source_of(&data, vec![server.url(path)]);
        let got = fetch_model(&source, &options(dir.path())).unwrap();
        assert_eq!(fs::read(got).unwrap(), data);
        assert_eq!(server.requests(path).len(), requests, "{path}");
    }
}

/// Throughput over local HTTP with a real model file:
/// `AIKERNEL_STORE_BENCH_FILE=<model> cargo test -p aikernel-store --release --test fetch -- --ignored --nocapture`
#[test]
#[ignore = "benchmark; needs AIKERNEL_STORE_BENCH_FILE"]
fn bench_fetch_over_local_http() {
    let Ok(file) = std::env::var("AIKERNEL_STORE_BENCH_FILE") else {
        eprintln!("AIKERNEL_STORE_BENCH_FILE not set");
        return;
    };
    let data = fs::read(&file).unwrap();
    let (root, size) = merkle_root(&data[..], aikernel_store::DEFAULT_CHUNK_SIZE).unwrap();
    let leaves = merkle_leaves(&data[..], aikernel_store::DEFAULT_CHUNK_SIZE)
        .unwrap()
        .0
        .concat();
    let server = Server::start();
    server.serve("/m.gguf", &data);
    for with_manifest in [false, true] {
        if with_manifest {
            server.serve("/m.gguf.leaves", &leaves);
        }
        let dir = tempfile::tempdir().unwrap();
        let source = ModelSource {
            root,
            size,
            chunk_size: aikernel_store::DEFAULT_CHUNK_SIZE,
            uris: vec![server.url("/m.gguf")],
        };
        let started = std::time::Instant::now();
        fetch_model(&source, &options(dir.path())).unwrap();
        let cold = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();
        fetch_model(&source, &options(dir.path())).unwrap();
        let warm = started.elapsed().as_secs_f64();
        eprintln!(
            "manifest={with_manifest} size={size} cold={cold:.3}s ({:.0} MB/s) cached={warm:.6}s",
            size as f64 / cold / 1e6
        );
    }
}
