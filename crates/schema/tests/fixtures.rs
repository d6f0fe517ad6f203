//! Shared vectors for the Solidity tests (`contracts/test/fixtures/schema_vectors.json`):
//! schema bytes with their validity, node-produced outputs of every kind, error outputs.
//! `AIKERNEL_UPDATE_FIXTURES=1 cargo test -p aikernel-schema --test fixtures` rewrites the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use aikernel_schema::{ErrorCode, Node, Schema};
use common::{drive_text, synthetic_vocab};
use serde_json::{Value as Json, json};

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::from("0x");
    for x in b {
        write!(s, "{x:02x}").unwrap();
    }
    s
}

fn enc(n: Node) -> Vec<u8> {
    Schema::new(n).unwrap().encode()
}

fn int(min: i64, max: i64) -> Vec<u8> {
    let mut b = vec![3];
    b.extend_from_slice(&min.to_be_bytes());
    b.extend_from_slice(&max.to_be_bytes());
    b
}

/// A choice of options of these lengths (distinct ASCII).
fn choice_of(lens: &[u8]) -> Vec<u8> {
    let mut b = vec![2, lens.len() as u8];
    for (i, &l) in lens.iter().enumerate() {
        b.push(l);
        let mut o = format!("{i:03}");
        o.truncate(l as usize);
        while o.len() < l as usize {
            o.push('x');
        }
        b.extend_from_slice(o.as_bytes());
    }
    b
}

fn schema_cases() -> Vec<(&'static str, Vec<u8>)> {
    let many: Vec<u8> = {
        let mut b = vec![2, 255];
        for i in 0..255u32 {
            b.push(2);
            b.push(b'a' + (i / 26) as u8);
            b.push(b'a' + (i % 26) as u8);
        }
        b
    };
    let mut full = choice_of(&[64; 15]);
    full.extend_from_slice(&[46]);
    full.extend_from_slice(&[b'z'; 46]);
    full[1] = 16;
    let mut over = full.clone();
    *over.iter_mut().rev().nth(46).unwrap() = 47;
    over.push(b'z');
    vec![
        ("free text", vec![]),
        ("text 1", vec![1, 0, 1]),
        ("text 4096", vec![1, 0x10, 0]),
        ("text 0", vec![1, 0, 0]),
        ("text 4097", vec![1, 0x10, 1]),
        ("text truncated", vec![1, 0]),
        (
            "choice yes/no",
            vec![2, 2, 3, b'y', b'e', b's', 2, b'n', b'o'],
        ),
        (
            "choice utf8",
            vec![2, 2, 2, 0xc3, 0xa9, 3, 0xe2, 0x9c, 0x93],
        ),
        (
            "choice 4-byte utf8",
            vec![2, 2, 4, 0xf0, 0x9f, 0x98, 0x80, 1, b'a'],
        ),
        ("choice 1 option", vec![2, 1, 1, b'a']),
        ("choice duplicate", vec![2, 2, 1, b'a', 1, b'a']),
        ("choice empty option", vec![2, 2, 0, 1, b'a']),
        ("choice 65-byte option", choice_of(&[65, 1])),
        ("choice 64-byte option", choice_of(&[64, 1])),
        ("choice 255 options", many),
        ("choice truncated", vec![2, 2, 3, b'y', b'e']),
        ("choice invalid utf8 0xff", vec![2, 2, 1, 0xff, 1, b'a']),
        ("choice overlong utf8", vec![2, 2, 2, 0xc0, 0x80, 1, b'a']),
        (
            "choice surrogate utf8",
            vec![2, 2, 3, 0xed, 0xa0, 0x80, 1, b'a'],
        ),
        (
            "choice above U+10FFFF",
            vec![2, 2, 4, 0xf4, 0x90, 0x80, 0x80, 1, b'a'],
        ),
        ("choice cut utf8", vec![2, 2, 1, 0xc3, 1, b'a']),
        ("int -5..5", int(-5, 5)),
        ("int full range", int(i64::MIN, i64::MAX)),
        ("int min == max", int(7, 7)),
        ("int empty range", int(5, -5)),
        ("int truncated", int(0, 1)[..16].to_vec()),
        ("bool", vec![4]),
        ("address", vec![5]),
        ("bool trailing byte", vec![4, 4]),
        ("unknown kind 0", vec![0]),
        ("unknown kind 8", vec![8]),
        ("tuple 1", vec![6, 1, 4]),
        ("tuple 16", [vec![6, 16], vec![4; 16]].concat()),
        ("tuple 0", vec![6, 0]),
        ("tuple 17", [vec![6, 17], vec![4; 17]].concat()),
        ("tuple short", vec![6, 3, 4, 5]),
        ("array 1", vec![7, 1, 5]),
        ("array 64", vec![7, 64, 5]),
        ("array 0", vec![7, 0, 5]),
        ("array 65", vec![7, 65, 5]),
        ("array missing element", vec![7, 3]),
        ("depth 4", vec![7, 2, 6, 1, 7, 2, 1, 0, 5]),
        ("depth 5", vec![7, 2, 6, 1, 7, 2, 7, 1, 4]),
        ("length 1024", full),
        ("length 1025", over),
        (
            "nested mix",
            enc(Node::tuple([
                Node::array(Node::text(16), 4),
                Node::choice(["a", "b"]),
                Node::Address,
            ])),
        ),
    ]
}

/// Deterministic one-byte mutations and truncations of valid schemas: both verdicts must agree.
fn mutations() -> Vec<(String, Vec<u8>)> {
    let bases: Vec<Vec<u8>> = schema_cases()
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty() && b.len() < 64 && Schema::parse(b).is_ok())
        .collect();
    let mut rng = common::Rng(0x5eed_cafe);
    let mut out = Vec::new();
    for i in 0..96 {
        let mut b = bases[i % bases.len()].clone();
        let at = (rng.next_f32() * b.len() as f32) as usize % b.len();
        let byte = (rng.next_f32() * 256.0) as u8;
        if i % 4 == 3 {
            b.truncate(at);
        } else {
            b[at] = [byte, byte & 0x07, byte & 0x7f][i % 3];
        }
        out.push((format!("mutation {i}"), b));
    }
    out
}

fn outputs() -> Vec<(&'static str, Schema, &'static str)> {
    let s = |n| Schema::new(n).unwrap();
    vec![
        ("free", Schema::free_text(), "free text ✓"),
        ("text", s(Node::text(64)), "hello, world"),
        (
            "choice",
            s(Node::choice(["low", "medium", "high"])),
            "medium",
        ),
        ("intSigned", s(Node::int(-1000, 1000)), "-42"),
        ("intUnsigned", s(Node::int(0, 1_000_000)), "65535"),
        (
            "intMin",
            s(Node::int(i64::MIN, i64::MAX)),
            "-9223372036854775808",
        ),
        ("bool", s(Node::Bool), "true"),
        (
            "address",
            s(Node::Address),
            "0x00000000000000000000000000000000deadbeef",
        ),
        (
            "tuple",
            s(Node::tuple([Node::int(0, 100), Node::text(32), Node::Bool])),
            "[42, \"ok \\\"fine\\\"\", true]",
        ),
        ("array", s(Node::array(Node::int(-10, 10), 8)), "[1, -2, 3]"),
        (
            "nested",
            s(Node::tuple([
                Node::array(Node::text(16), 4),
                Node::choice(["a", "b"]),
                Node::Address,
            ])),
            "[[\"x\", \"yz\"], \"b\", 0x000000000000000000000000000000000000beef]",
        ),
    ]
}

fn generate() -> String {
    let named = schema_cases().into_iter().map(|(n, b)| (n.to_owned(), b));
    let schemas: Vec<Json> = named
        .chain(mutations())
        .map(|(name, bytes)| {
            let valid = Schema::parse(&bytes).is_ok();
            json!({ "name": name, "schema": hex(&bytes), "valid": valid })
        })
        .collect();
    let vocab = synthetic_vocab(&[]);
    let mut outs = serde_json::Map::new();
    for (name, schema, text) in outputs() {
        let v = drive_text(&schema, &vocab, text.as_bytes());
        outs.insert(
            name.to_owned(),
            json!({ "schema": hex(&schema.encode()), "text": text, "output": hex(&v.abi_encode()), "abiType": schema.abi_type() }),
        );
    }
    let errors: Vec<Json> = [
        ErrorCode::InvalidSchema,
        ErrorCode::InputTooLong,
        ErrorCode::Unsupported,
        ErrorCode::InvalidInput,
        ErrorCode::OutputIncomplete,
    ]
    .into_iter()
    .map(|c| json!({ "code": c as u8, "output": hex(&c.output()) }))
    .collect();
    let doc = json!({ "schemaCount": schemas.len(), "schemas": schemas, "outputs": outs, "errors": errors });
    serde_json::to_string_pretty(&doc).unwrap() + "\n"
}

#[test]
fn fixture_file_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/test/fixtures/schema_vectors.json");
    let want = generate();
    if std::env::var_os("AIKERNEL_UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: run AIKERNEL_UPDATE_FIXTURES=1 cargo test -p aikernel-schema --test fixtures",
        path.display()
    );
}

#[test]
fn expected_validity() {
    let invalid = [
        "text 0",
        "text 4097",
        "text truncated",
        "choice 1 option",
        "choice duplicate",
        "choice empty option",
        "choice 65-byte option",
        "choice truncated",
        "choice invalid utf8 0xff",
        "choice overlong utf8",
        "choice surrogate utf8",
        "choice above U+10FFFF",
        "choice cut utf8",
        "int empty range",
        "int truncated",
        "bool trailing byte",
        "unknown kind 0",
        "unknown kind 8",
        "tuple 0",
        "tuple 17",
        "tuple short",
        "array 0",
        "array 65",
        "array missing element",
        "depth 5",
        "length 1025",
    ];
    for (name, bytes) in schema_cases() {
        assert_eq!(
            Schema::parse(&bytes).is_ok(),
            !invalid.contains(&name),
            "{name}"
        );
    }
}
