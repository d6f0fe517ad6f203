//! Tests of output decoding: round trips of every kind, errors, malformed bytes, printing.

use super::*;
use crate::error_code::error_output;
use crate::spec::parse_spec;

fn round_trip(spec: &str, value: &Value) {
    let schema = parse_spec(spec).unwrap();
    let bytes = value.abi_encode();
    assert_eq!(
        decode_output(&schema, &bytes),
        Ok(Output::Value(value.clone())),
        "{spec}"
    );
}

#[test]
fn every_kind_round_trips() {
    round_trip("choice:a|b|c", &Value::Choice(2));
    round_trip("int:300..850", &Value::Int(712));
    round_trip("int:-10..10", &Value::Int(-7));
    round_trip("int:-9223372036854775808..0", &Value::Int(i64::MIN));
    round_trip("bool", &Value::Bool(true));
    round_trip("address", &Value::Address([0xab; 20]));
    round_trip("text:64", &Value::Text("héllo \"x\"".into()));
    round_trip("free", &Value::Text(String::new()));
    round_trip(
        "tuple(bool, text:8, int:-1..1)",
        &Value::Tuple(vec![
            Value::Bool(false),
            Value::Text("abc".into()),
            Value::Int(-1),
        ]),
    );
    round_trip(
        "array(tuple(text:4, bool), 3)",
        &Value::Array(vec![
            Value::Tuple(vec![Value::Text("x".into()), Value::Bool(true)]),
            Value::Tuple(vec![Value::Text("yz".into()), Value::Bool(false)]),
        ]),
    );
    round_trip(
        "tuple(array(array(int:0..9, 2), 2), address)",
        &Value::Tuple(vec![
            Value::Array(vec![
                Value::Array(vec![Value::Int(1), Value::Int(2)]),
                Value::Array(vec![]),
            ]),
            Value::Address([1; 20]),
        ]),
    );
}

#[test]
fn errors_and_bad_bytes() {
    let choice = parse_spec("choice:a|b").unwrap();
    assert_eq!(
        decode_output(&choice, &error_output(2)),
        Ok(Output::Error(2))
    );
    let mut bad_err = error_output(2);
    bad_err[0] ^= 1;
    assert_eq!(
        decode_output(&choice, &bad_err),
        Err(OutputError::BadError { len: 36 })
    );
    // Index 2 of a two-option choice.
    assert_eq!(
        decode_output(&choice, &Value::Choice(2).abi_encode()),
        Err(OutputError::OutOfBounds)
    );
    assert!(matches!(
        decode_output(&choice, &[0u8; 16]),
        Err(OutputError::OutOfRange { .. })
    ));
    // Out of the integer range, and a negative word under a uint schema.
    let int = parse_spec("int:0..9").unwrap();
    assert_eq!(
        decode_output(&int, &Value::Int(10).abi_encode()),
        Err(OutputError::OutOfBounds)
    );
    assert!(matches!(
        decode_output(&int, &[0xff; 32]),
        Err(OutputError::BadWord { .. })
    ));
    let mut two = [0u8; 32];
    two[31] = 2;
    assert!(matches!(
        decode_output(&parse_spec("bool").unwrap(), &two),
        Err(OutputError::BadWord { .. })
    ));
    // Trailing bytes are not canonical.
    let mut long = Value::Bool(true).abi_encode();
    long.extend_from_slice(&[0u8; 32]);
    assert_eq!(
        decode_output(&parse_spec("bool").unwrap(), &long),
        Err(OutputError::NotCanonical)
    );
    // A string length past the end; invalid UTF-8.
    let text = parse_spec("text:10").unwrap();
    let mut s = Value::Text("hi".into()).abi_encode();
    s[63] = 200;
    assert!(matches!(
        decode_output(&text, &s),
        Err(OutputError::OutOfRange { .. })
    ));
    let mut s = Value::Text("hi".into()).abi_encode();
    s[64] = 0xff;
    assert!(matches!(
        decode_output(&text, &s),
        Err(OutputError::NotUtf8 { .. })
    ));
    // An absurd offset does not overflow.
    let mut s = Value::Text("hi".into()).abi_encode();
    s[24..32].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(decode_output(&text, &s).is_err());
}

#[test]
fn formats_for_people() {
    let schema = parse_spec("choice:Team A|Team B").unwrap();
    assert_eq!(
        format_value(schema.root(), &Value::Choice(1)),
        "choice 1 = \"Team B\""
    );
    assert_eq!(format_value(None, &Value::Int(712)), "int 712");
    assert_eq!(
        format_value(None, &Value::Text("a\nb".into())),
        "text \"a\\nb\""
    );
    let schema = parse_spec("tuple(choice:y|n, array(bool, 2), address)").unwrap();
    let v = Value::Tuple(vec![
        Value::Choice(0),
        Value::Array(vec![Value::Bool(true), Value::Bool(false)]),
        Value::Address([0x0a; 20]),
    ]);
    assert_eq!(
        format_value(schema.root(), &v),
        format!("tuple (\"y\", [true, false], 0x{})", "0a".repeat(20))
    );
}
