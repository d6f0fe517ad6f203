//! Tokenizer on the default model: round trips, special tokens, speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

mod common;

use std::sync::OnceLock;
use std::time::Instant;

use aikernel_engine::gguf::GgufFile;
use aikernel_engine::tokenizer::Tokenizer;
use proptest::prelude::*;

/// The default model's tokenizer (the model is required: docs/testing.md).
fn tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        Tokenizer::from_gguf(&GgufFile::open(&common::model_path()).unwrap()).unwrap()
    })
}

#[test]
fn vocabulary_facts() {
    let t = tokenizer();
    assert_eq!(t.vocab_size(), 49152);
    assert_eq!(t.token_id("<|endoftext|>"), Some(0));
    assert_eq!(t.token_id("<|im_start|>"), Some(1));
    assert_eq!(t.token_id("<|im_end|>"), Some(2));
    assert!(!t.add_bos());
    assert_eq!(t.eos_token_id(), Some(2));
    assert!((0..=16).all(|i| t.is_special(i)));
    assert!(!t.is_special(17));
    assert_eq!(t.token_bytes(1), b"<|im_start|>");
    assert_eq!(t.token_bytes(u32::MAX), b"");
}

#[test]
fn special_tokens_need_parse_special() {
    let t = tokenizer();
    let text = "<|im_start|>user\nHi<|im_end|>";
    let ids = t.encode(text, true);
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    let plain = t.encode(text, false);
    assert!(!plain.contains(&1) && !plain.contains(&2), "{plain:?}");
    assert_eq!(t.decode(&ids), text.as_bytes());
    assert_eq!(t.decode(&plain), text.as_bytes());
}

#[test]
fn digits_are_single_tokens() {
    let t = tokenizer();
    let ids = t.encode("12345", false);
    assert_eq!(ids.len(), 5);
    for (id, d) in ids.iter().zip(b"12345") {
        assert_eq!(t.token_bytes(*id), [*d]);
    }
}

#[test]
fn ten_kilobytes_is_fast() {
    let t = tokenizer();
    let base = "The quick brown fox jumps over the lazy dog 1234567890. fn main() { println!(\"héllo 世界 🎉\"); }\n";
    let text = base.repeat(10_240 / base.len() + 1);
    let start = Instant::now();
    let ids = t.encode(&text, true);
    let elapsed = start.elapsed();
    assert_eq!(t.decode(&ids), text.as_bytes());
    eprintln!(
        "{} bytes -> {} tokens in {elapsed:?}",
        text.len(),
        ids.len()
    );
    assert!(elapsed.as_millis() < 100, "{elapsed:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
    #[test]
    fn any_utf8_round_trips(text in any::<String>()) {
        let t = tokenizer();
        prop_assert_eq!(t.decode(&t.encode(&text, false)), text.as_bytes());
        prop_assert_eq!(t.decode(&t.encode(&text, true)), text.as_bytes());
    }

    #[test]
    fn mixed_scripts_round_trip(text in "[ a-zA-Z0-9\\n\\t'.,!é世界🎉½²٣<|>_]{0,64}") {
        let t = tokenizer();
        prop_assert_eq!(t.decode(&t.encode(&text, true)), text.as_bytes());
    }
}
