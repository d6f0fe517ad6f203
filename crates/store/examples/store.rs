//! A small command-line front to the crate, for devnets and measurements.
//!
//! ```text
//! store manifest <model file> [chunk size]        write <file>.leaves; print root, size, leaves
//! store fetch <cache dir> <root hex> <size> <uri>… fetch into the cache with a progress bar
//! store cid <file>                                print the file's sha256 and CIDv1 raw
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use aikernel_store::{
    DEFAULT_CHUNK_SIZE, FetchOptions, ModelSource, StoreError, cid_v1_raw, fetch_model, sha256,
    write_leaves_manifest,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let text = |e: StoreError| e.to_string();
    match args {
        [cmd, file, rest @ ..] if cmd == "manifest" && rest.len() <= 1 => {
            let chunk = match rest.first() {
                Some(c) => c.parse().map_err(|e| format!("chunk size {c:?}: {e}"))?,
                None => DEFAULT_CHUNK_SIZE,
            };
            let started = Instant::now();
            let info = write_leaves_manifest(Path::new(file), chunk).map_err(text)?;
            println!("manifest   {}", info.path.display());
            println!("root       0x{}", hex::encode(info.root));
            println!("size       {}", info.size);
            println!("chunk_size {chunk}");
            println!("leaves     {}", info.leaves);
            println!("seconds    {:.3}", started.elapsed().as_secs_f64());
            Ok(())
        }
        [cmd, cache, root, size, uris @ ..] if cmd == "fetch" && !uris.is_empty() => {
            let root_bytes = hex::decode(root.trim_start_matches("0x"))
                .map_err(|e| format!("root {root:?}: {e}"))?;
            let root = <[u8; 32]>::try_from(root_bytes.as_slice())
                .map_err(|_| format!("root {root:?} is not 32 bytes"))?;
            let source = ModelSource {
                root,
                size: size.parse().map_err(|e| format!("size {size:?}: {e}"))?,
                chunk_size: DEFAULT_CHUNK_SIZE,
                uris: uris.to_vec(),
            };
            let options = FetchOptions {
                cache_dir: PathBuf::from(cache),
                ipfs_gateway: std::env::var("IPFS_GATEWAY")
                    .unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned()),
                progress: true,
            };
            let started = Instant::now();
            let path = fetch_model(&source, &options).map_err(text)?;
            println!("{}", path.display());
            eprintln!("seconds {:.3}", started.elapsed().as_secs_f64());
            Ok(())
        }
        [cmd, file] if cmd == "cid" => {
            let data = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
            let hash = sha256(&data);
            println!("0x{}", hex::encode(hash));
            println!("{}", cid_v1_raw(&hash));
            Ok(())
        }
        _ => Err(
            "usage: store manifest <file> [chunk] | store fetch <cache> <root> <size> <uri>... | store cid <file>"
                .to_owned(),
        ),
    }
}
