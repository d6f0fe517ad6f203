//! Constrained decoding properties over random schemas, vocabularies and logits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use aikernel_schema::{ConstrainedDecoder, Node, Schema, Value, Vocab, parse_text};
use common::{Rng, abi_decode, drive_text, synthetic_vocab};
use proptest::collection::{hash_set, vec};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Node> {
    prop_oneof![
        (1u16..24).prop_map(Node::text),
        hash_set("[a-c\"\\\\é\n ]{1,5}", 2..5).prop_map(Node::choice),
        (-60i64..60, 0i64..200).prop_map(|(a, w)| Node::int(a, a + w)),
        prop_oneof![
            Just(Node::int(i64::MIN, i64::MAX)),
            Just(Node::int(i64::MAX - 3, i64::MAX)),
            Just(Node::int(i64::MIN, i64::MIN + 20)),
            Just(Node::int(0, 0)),
            Just(Node::int(5, 1000))
        ],
        Just(Node::Bool),
        Just(Node::Address),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 1..4).prop_map(Node::Tuple),
            (inner, 1u8..4).prop_map(|(e, n)| Node::array(e, n)),
        ]
    })
}

fn schema() -> impl Strategy<Value = Schema> {
    prop_oneof![1 => Just(Schema::free_text()), 9 => node().prop_map(|n| Schema::new(n).unwrap())]
}

fn extra_tokens() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let pieces = prop_oneof![
        Just(b"true".to_vec()),
        Just(b"false".to_vec()),
        Just(b", ".to_vec()),
        Just(b"[\"".to_vec()),
        Just(b"\", \"".to_vec()),
        Just(b"]]".to_vec()),
        Just(b"0x".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"00".to_vec()),
        Just("é".as_bytes().to_vec()),
        Just(b"\\\"".to_vec()),
        Just(b"\"]".to_vec()),
        vec(
            prop_oneof![
                Just(b'a'),
                Just(b'0'),
                Just(b'9'),
                Just(b' '),
                Just(b','),
                Just(b'"'),
                Just(b'['),
                Just(b']'),
                Just(0xc3u8),
                Just(0xa9u8)
            ],
            2..6
        ),
    ];
    vec(pieces, 0..40)
}

/// Greedy decoding under the mask; returns the decoder when it stopped.
fn greedy(schema: &Schema, vocab: &Arc<Vocab>, seed: u64, check_brute: bool) -> ConstrainedDecoder {
    let mut d = ConstrainedDecoder::new(schema, vocab.clone());
    let mut rng = Rng(seed | 1);
    for step in 0..3000 {
        if d.is_finished() {
            break;
        }
        let allowed = d.allowed();
        if check_brute {
            for id in 0..vocab.len() as u32 {
                let ok = d.clone().accept(id).is_ok();
                assert_eq!(
                    allowed.contains(id),
                    ok,
                    "token {id} {:?} after {:?}",
                    vocab.token_bytes(id),
                    String::from_utf8_lossy(d.text())
                );
            }
        }
        assert!(
            allowed.count() > 0,
            "dead end after {:?}",
            String::from_utf8_lossy(d.text())
        );
        let mut logits: Vec<f32> = (0..vocab.len()).map(|_| rng.next_f32()).collect();
        // Lean towards closing so long values end.
        logits[vocab.eos() as usize] += 0.3 + step as f32 / 200.0;
        for b in [b']', b'"'] {
            logits[b as usize] += step as f32 / 100.0;
        }
        d.mask(&mut logits);
        let best = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a)))
            .unwrap();
        assert!(logits[best].is_finite());
        d.accept(best as u32).unwrap();
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn greedy_output_parses_and_abi_round_trips(s in schema(), extra in extra_tokens(), seed in any::<u64>()) {
        let vocab = synthetic_vocab(&extra);
        let d = greedy(&s, &vocab, seed, false);
        prop_assert!(d.is_finished(), "did not finish: {:?}", String::from_utf8_lossy(d.text()));
        let v = d.finish().unwrap();
        if let Some(root) = s.root() {
            prop_assert!(v.conforms_to(root), "{v:?} outside {root:?}");
        }
        prop_assert_eq!(parse_text(&s, d.text()).unwrap(), v.clone());
        let out = v.abi_encode();
        prop_assert_eq!(abi_decode(&s, &out), v);
    }

    #[test]
    fn mask_equals_brute_force(s in schema(), extra in extra_tokens(), seed in any::<u64>()) {
        let vocab = synthetic_vocab(&extra);
        greedy(&s, &vocab, seed, true);
    }

    #[test]
    fn parse_encode_round_trip(n in node()) {
        let s = Schema::new(n).unwrap();
        let bytes = s.encode();
        prop_assert_eq!(Schema::parse(&bytes).unwrap(), s);
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..64)) {
        if let Ok(s) = Schema::parse(&bytes) {
            prop_assert_eq!(s.encode(), bytes);
        }
    }

    #[test]
    fn mutated_schemas_never_panic(n in node(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = Schema::new(n).unwrap().encode();
        let i = at.index(bytes.len());
        if cut { bytes.truncate(i); } else { bytes[i] = byte; }
        match Schema::parse(&bytes) {
            Ok(s) => {
                prop_assert!(!cut || bytes.is_empty(), "a proper prefix of a schema parsed");
                prop_assert_eq!(s.encode(), bytes);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

#[test]
fn each_kind_decodes_expected_values() {
    let vocab = synthetic_vocab(&[]);
    let cases: Vec<(Node, &str, Value)> = vec![
        (
            Node::text(20),
            "héllo, \"world\"",
            Value::Text("héllo, \"world\"".into()),
        ),
        (
            Node::choice(["low", "medium", "high"]),
            "high",
            Value::Choice(2),
        ),
        (Node::int(-100, 100), "-42", Value::Int(-42)),
        (Node::int(0, 1_000_000), "1000", Value::Int(1000)),
        (Node::Bool, "true", Value::Bool(true)),
        (
            Node::Address,
            "0x00000000000000000000000000000000000000ff",
            Value::Address({
                let mut a = [0; 20];
                a[19] = 0xff;
                a
            }),
        ),
        (
            Node::tuple([Node::int(0, 9), Node::text(8), Node::Bool]),
            "[7, \"a\\\"b\\n\", false]",
            Value::Tuple(vec![
                Value::Int(7),
                Value::Text("a\"b\n".into()),
                Value::Bool(false),
            ]),
        ),
        (
            Node::array(Node::choice(["x", "y"]), 3),
            "[\"y\", \"x\"]",
            Value::Array(vec![Value::Choice(1), Value::Choice(0)]),
        ),
        (Node::array(Node::Bool, 3), "[]", Value::Array(vec![])),
    ];
    for (n, text, want) in cases {
        let s = Schema::new(n).unwrap();
        assert_eq!(drive_text(&s, &vocab, text.as_bytes()), want, "{text}");
    }
}

#[test]
fn rejects_invalid_forms() {
    let vocab = synthetic_vocab(&[]);
    let rejects: Vec<(Node, &str)> = vec![
        (Node::int(-5, 5), "-0"),
        (Node::int(-5, 5), "05"),
        (Node::int(-5, 5), "6"),
        (Node::int(0, 5), "-"),
        (Node::int(10, 20), "3"),
        (Node::Address, "0xAB"),
        (Node::tuple([Node::Bool, Node::Bool]), "[true,false]"),
        (Node::tuple([Node::Bool, Node::Bool]), "[true, false, true]"),
        (Node::array(Node::Bool, 1), "[true, true]"),
        (Node::text(3), "abcd"),
        (Node::tuple([Node::text(3)]), "[\"abcd\"]"),
        (Node::tuple([Node::text(3)]), "[\"\\u0041\"]"),
        (Node::text(3), "\u{ff}\u{ff}"),
    ];
    for (n, text) in rejects {
        let s = Schema::new(n).unwrap();
        let mut d = ConstrainedDecoder::new(&s, vocab.clone());
        let ok = text.bytes().all(|b| d.accept(u32::from(b)).is_ok()) && d.is_complete();
        assert!(!ok, "{text:?} accepted");
        assert!(parse_text(&s, text.as_bytes()).is_err(), "{text:?} parsed");
    }
    // Invalid UTF-8 byte is refused, EOS only when complete.
    let s = Schema::new(Node::text(4)).unwrap();
    let mut d = ConstrainedDecoder::new(&s, vocab.clone());
    assert!(d.accept(0xff).is_err());
    d.accept(0xc3).unwrap();
    assert!(!d.allowed().contains(vocab.eos()));
    assert!(d.accept(vocab.eos()).is_err());
    d.accept(0xa9).unwrap();
    assert!(d.allowed().contains(vocab.eos()));
    // Special tokens are never allowed.
    assert!(!d.allowed().contains(vocab.eos() - 1));
    assert!(d.accept(vocab.eos() - 1).is_err());
}

#[test]
fn finishes_at_bounds() {
    let vocab = synthetic_vocab(&[]);
    let s = Schema::new(Node::text(2)).unwrap();
    let mut d = ConstrainedDecoder::new(&s, vocab.clone());
    d.accept(u32::from(b'a')).unwrap();
    assert!(!d.is_finished());
    d.accept(u32::from(b'b')).unwrap();
    assert!(d.is_finished());
    assert_eq!(d.finish().unwrap(), Value::Text("ab".into()));
    let s = Schema::new(Node::choice(["yes", "yes!"])).unwrap();
    let mut d = ConstrainedDecoder::new(&s, vocab.clone());
    for b in b"yes" {
        d.accept(u32::from(*b)).unwrap();
    }
    assert!(d.is_complete() && !d.is_finished());
    d.accept(u32::from(b'!')).unwrap();
    assert!(d.is_finished());
    assert_eq!(d.finish().unwrap(), Value::Choice(1));
    let s = Schema::new(Node::int(0, 10)).unwrap();
    let mut d = ConstrainedDecoder::new(&s, vocab);
    d.accept(u32::from(b'1')).unwrap();
    assert!(d.is_complete() && !d.is_finished());
    d.accept(u32::from(b'0')).unwrap();
    assert!(d.is_finished());
}
