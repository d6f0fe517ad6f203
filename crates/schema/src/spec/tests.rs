//! Tests of the schema spec notation: every kind, canonical round trips, and errors.

use super::*;

fn parse(s: &str) -> Node {
    parse_spec(s).unwrap().root().unwrap().clone()
}

fn syntax_column(s: &str) -> (usize, String) {
    match parse_spec(s) {
        Err(SpecError::Syntax { column, message }) => (column, message),
        other => panic!("{s}: expected a syntax error, got {other:?}"),
    }
}

#[test]
fn every_kind() {
    assert_eq!(parse("text:200"), Node::text(200));
    assert_eq!(parse("text"), Node::text(4096));
    assert_eq!(parse(" text : 7 "), Node::text(7));
    assert_eq!(
        parse(r#"choice:"Team A","Team B""#),
        Node::choice(["Team A", "Team B"])
    );
    assert_eq!(
        parse("choice:Team A|Team B"),
        Node::choice(["Team A", "Team B"])
    );
    assert_eq!(
        parse(r#"choice: yes | "no, never" | maybe"#),
        Node::choice(["yes", "no, never", "maybe"])
    );
    assert_eq!(parse("int:300..850"), Node::int(300, 850));
    assert_eq!(parse("int:-5..-1"), Node::int(-5, -1));
    assert_eq!(
        parse("int:-9223372036854775808..9223372036854775807"),
        Node::int(i64::MIN, i64::MAX)
    );
    assert_eq!(parse("bool"), Node::Bool);
    assert_eq!(parse("address"), Node::Address);
    assert_eq!(
        parse("tuple(bool, int:0..9)"),
        Node::tuple([Node::Bool, Node::int(0, 9)])
    );
    assert_eq!(parse("array(int:0..9,3)"), Node::array(Node::int(0, 9), 3));
    assert_eq!(
        parse(r#"tuple(choice:yes|no, choice:"a","b", text:64, array(address, 2))"#),
        Node::tuple([
            Node::choice(["yes", "no"]),
            Node::choice(["a", "b"]),
            Node::text(64),
            Node::array(Node::Address, 2),
        ])
    );
    assert_eq!(
        parse(r#"choice:"say \"hi\"","a\\b\n""#),
        Node::choice(["say \"hi\"", "a\\b\n"])
    );
    assert_eq!(parse_spec("").unwrap(), Schema::free_text());
    assert_eq!(parse_spec(" free ").unwrap(), Schema::free_text());
}

#[test]
fn encodes_to_the_documented_bytes() {
    // docs/schema.md: `0202 03796573 026e6f`.
    assert_eq!(
        parse_spec("choice:yes|no").unwrap().encode(),
        [2, 2, 3, b'y', b'e', b's', 2, b'n', b'o']
    );
    // docs/schema.md: `01012c`.
    assert_eq!(parse_spec("text:300").unwrap().encode(), [1, 1, 0x2c]);
    // docs/schema.md: `0603 0704 010010 0202 0161 0162 05`.
    let s = parse_spec("tuple(array(text:16, 4), choice:a|b, address)").unwrap();
    assert_eq!(
        s.encode(),
        [6, 3, 7, 4, 1, 0, 16, 2, 2, 1, b'a', 1, b'b', 5]
    );
    assert_eq!(Schema::parse(&s.encode()).unwrap(), s);
}

#[test]
fn canonical_spec_round_trips() {
    for spec in [
        "free",
        "text:1",
        "choice:\"x\",\"y \\\"z\\\"\",\"a|b\",\"c,d\"",
        "int:-3..3",
        "tuple(bool, address, array(tuple(int:0..1, text:3), 64))",
    ] {
        let schema = parse_spec(spec).unwrap();
        assert_eq!(to_spec(&schema), spec);
        assert_eq!(parse_spec(&to_spec(&schema)).unwrap(), schema);
    }
}

#[test]
fn syntax_errors_name_the_column() {
    assert_eq!(syntax_column("strng").0, 1);
    assert!(
        syntax_column("strng")
            .1
            .contains("unknown schema kind 'strng'")
    );
    assert_eq!(syntax_column("int:5").0, 6);
    assert!(syntax_column("int:5").1.contains("'..'"));
    assert!(syntax_column("int:a..b").1.contains("integer"));
    assert!(
        syntax_column("int:0..99999999999999999999")
            .1
            .contains("64-bit")
    );
    assert!(syntax_column("choice:a").1.contains("at least two"));
    assert!(syntax_column("choice").1.contains("':'"));
    assert!(syntax_column("choice:a|").1.contains("choice option"));
    assert!(syntax_column("choice:a,b").1.contains("separated by |"));
    assert!(syntax_column("choice:a|b,c").1.contains("separated by |"));
    assert!(syntax_column(r#"choice:"a|b"#).1.contains("unterminated"));
    assert!(syntax_column(r#"choice:"a\x",b"#).1.contains("escape"));
    assert!(syntax_column("tuple(bool").1.contains("',' or ')'"));
    assert!(syntax_column("tuple()").1.contains("expected a schema"));
    assert!(syntax_column("array(bool)").1.contains("maximum length"));
    assert!(syntax_column("array(bool, 2").1.contains("')'"));
    assert!(syntax_column("array(bool, 300)").1.contains("above 64"));
    assert!(syntax_column("text:70000").1.contains("above 4096"));
    assert!(syntax_column("text:").1.contains("number"));
    assert!(syntax_column("bool bool").1.contains("after the schema"));
    assert_eq!(syntax_column("tuple(bool, x)").0, 13);
    assert_eq!(syntax_column("é x").0, 1);
}

#[test]
fn schema_rule_violations_are_reported() {
    let invalid = |s: &str| match parse_spec(s) {
        Err(SpecError::Invalid(e)) => e,
        other => panic!("{s}: expected an invalid schema, got {other:?}"),
    };
    assert!(matches!(
        invalid("text:5000"),
        SchemaError::TextMaxBytes { .. }
    ));
    assert!(matches!(
        invalid("text:0"),
        SchemaError::TextMaxBytes { .. }
    ));
    assert!(matches!(invalid("int:5..1"), SchemaError::IntRange { .. }));
    assert!(matches!(
        invalid("choice:a|a"),
        SchemaError::ChoiceDuplicate { .. }
    ));
    assert!(matches!(
        invalid(&format!("choice:{}|b", "x".repeat(65))),
        SchemaError::ChoiceOptionLength { .. }
    ));
    assert!(matches!(
        invalid("array(bool, 65)"),
        SchemaError::ArrayMaxLen { .. }
    ));
    assert!(matches!(
        invalid("array(array(array(array(bool, 1), 1), 1), 1)"),
        SchemaError::TooDeep { .. }
    ));
    let seventeen = vec!["bool"; 17].join(",");
    assert!(matches!(
        invalid(&format!("tuple({seventeen})")),
        SchemaError::TupleArity { .. }
    ));
}
