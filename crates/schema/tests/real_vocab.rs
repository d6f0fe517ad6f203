//! Constrained decoding over the real SmolLM2 tokenizer vocabulary (the model is required).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aikernel_engine::gguf::GgufFile;
use aikernel_engine::tokenizer::Tokenizer;
use aikernel_schema::{ConstrainedDecoder, Node, Schema, Vocab};
use common::{Rng, abi_decode};

/// The default model (`aikernel_engine::paths::model`), required: a missing model fails
/// (docs/testing.md).
fn model_path() -> PathBuf {
    let p = aikernel_engine::paths::model();
    assert!(
        p.exists(),
        "model not found at {}: set AIKERNEL_MODEL or run scripts/setup.sh",
        p.display()
    );
    p
}

fn real_vocab() -> (Tokenizer, Arc<Vocab>) {
    let path = model_path();
    let tok = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    let n = tok.vocab_size() as u32;
    let tokens = (0..n).map(|i| tok.token_bytes(i).to_vec()).collect();
    let special = (0..n).map(|i| tok.is_special(i)).collect();
    let vocab = Vocab::new(tokens, tok.eos_token_id().unwrap(), special).unwrap();
    (tok, Arc::new(vocab))
}

#[test]
fn real_vocab_masks_and_decodes_every_kind() {
    let (tok, vocab) = real_vocab();
    assert_eq!(vocab.len(), 49_152);
    let schemas = [
        Schema::free_text(),
        Schema::new(Node::text(64)).unwrap(),
        Schema::new(Node::choice(["positive", "negative", "neutral"])).unwrap(),
        Schema::new(Node::int(-1000, 1000)).unwrap(),
        Schema::new(Node::Bool).unwrap(),
        Schema::new(Node::Address).unwrap(),
        Schema::new(Node::tuple([
            Node::text(32),
            Node::int(0, 100),
            Node::array(Node::Bool, 4),
        ]))
        .unwrap(),
    ];
    for s in &schemas {
        let mut d = ConstrainedDecoder::new(s, vocab.clone());
        let mut rng = Rng(0x9e37_79b9);
        let mut times = Vec::new();
        for step in 0..200u32 {
            if d.is_finished() {
                break;
            }
            let mut logits: Vec<f32> = (0..vocab.len()).map(|_| rng.next_f32()).collect();
            logits[vocab.eos() as usize] += step.saturating_sub(30) as f32 / 50.0;
            logits[tok.encode("]", false)[0] as usize] += step as f32 / 50.0;
            let t = Instant::now();
            d.mask(&mut logits);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            let best = (0..logits.len())
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .unwrap();
            assert!(
                logits[best].is_finite(),
                "dead end after {:?}",
                String::from_utf8_lossy(d.text())
            );
            assert!(!tok.is_special(best as u32) || best as u32 == vocab.eos());
            d.accept(best as u32).unwrap();
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        eprintln!(
            "{:<24} mask: first {first:>6.2} ms, median {:>6.2} ms over {} steps; text {:?}",
            s.abi_type(),
            times[times.len() / 2],
            times.len(),
            String::from_utf8_lossy(d.text())
        );
        if d.is_complete() {
            let v = d.finish().unwrap();
            if let Some(root) = s.root() {
                assert!(v.conforms_to(root));
            }
            assert_eq!(abi_decode(s, &v.abi_encode()), v);
        } else {
            assert!(
                s.root().is_none_or(|r| matches!(r, Node::Tuple(_))),
                "stopped incomplete"
            );
        }
    }
}
