//! What a node's model loading (`LlmDriver::load`, run by `aikernel-node`'s `models::load_one`)
//! does with a model file whose header claims absurd sizes: a typed error the node reports
//! for that model, never an aborted process (`llama.block_count = 0xFFFFFFFF` once aborted
//! with "memory allocation of 1236950580960 bytes failed"). No model download needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;

use std::path::{Path, PathBuf};

use aikernel_drivers::{Driver, DriverError, LlmDriver};
use aikernel_engine::EngineError;
use aikernel_engine::gguf::MetaValue;

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn the_tiny_model_loads() {
    let path = write("driver-tiny.gguf", &tiny::tiny_llama_bytes(1));
    let driver = LlmDriver::load(&path, 1).unwrap();
    assert_eq!(driver.identity().model, "tiny");
}

#[test]
fn absurd_header_sizes_are_errors_naming_the_key() {
    for (key, value) in [
        ("llama.block_count", u32::MAX),
        ("llama.embedding_length", 0x8000_0000),
        ("llama.attention.head_count", u32::MAX),
        ("llama.feed_forward_length", u32::MAX),
    ] {
        let mut w = tiny::tiny_llama(1);
        w.add_metadata(key, MetaValue::U32(value));
        let path = write("driver-hostile.gguf", &w.to_bytes().unwrap());
        let err = LlmDriver::load(&path, 1).unwrap_err();
        assert!(
            matches!(&err, DriverError::Engine(EngineError::BadConfig { key: k, .. }) if *k == key),
            "{key} = {value}: {err}"
        );
        assert!(err.to_string().contains(&value.to_string()), "{err}");
    }
}

#[test]
fn a_truncated_file_is_an_error() {
    let bytes = tiny::tiny_llama_bytes(1);
    let path = write("driver-truncated.gguf", &bytes[..bytes.len() / 2]);
    let err = LlmDriver::load(&path, 1).unwrap_err();
    assert!(err.to_string().contains("runs past the end"), "{err}");
}
