//! A small Solidity ABI encoder for the value types schemas produce.

use crate::value::Value;

fn word_u(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

fn is_dynamic(v: &Value) -> bool {
    match v {
        Value::Text(_) | Value::Array(_) => true,
        Value::Tuple(items) => items.iter().any(is_dynamic),
        _ => false,
    }
}

fn static_size(v: &Value) -> usize {
    match v {
        Value::Tuple(items) => items.iter().map(static_size).sum(),
        _ => 32,
    }
}

/// Encodes `items` as an ABI tuple (heads, then tails of the dynamic items).
pub(crate) fn encode_tuple(items: &[Value]) -> Vec<u8> {
    let head_len: usize = items
        .iter()
        .map(|v| if is_dynamic(v) { 32 } else { static_size(v) })
        .sum();
    let mut head = Vec::with_capacity(head_len);
    let mut tail = Vec::new();
    for v in items {
        if is_dynamic(v) {
            head.extend_from_slice(&word_u((head_len + tail.len()) as u64));
            encode_value(v, &mut tail);
        } else {
            encode_value(v, &mut head);
        }
    }
    head.extend_from_slice(&tail);
    head
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Text(s) => {
            out.extend_from_slice(&word_u(s.len() as u64));
            out.extend_from_slice(s.as_bytes());
            out.resize(out.len() + (32 - s.len() % 32) % 32, 0);
        }
        Value::Choice(i) => out.extend_from_slice(&word_u(u64::from(*i))),
        Value::Int(i) => {
            let fill = if *i < 0 { 0xff } else { 0 };
            let mut w = [fill; 32];
            w[24..].copy_from_slice(&i.to_be_bytes());
            out.extend_from_slice(&w);
        }
        Value::Bool(b) => out.extend_from_slice(&word_u(u64::from(*b))),
        Value::Address(a) => {
            let mut w = [0u8; 32];
            w[12..].copy_from_slice(a);
            out.extend_from_slice(&w);
        }
        Value::Tuple(items) => out.extend_from_slice(&encode_tuple(items)),
        Value::Array(items) => {
            out.extend_from_slice(&word_u(items.len() as u64));
            out.extend_from_slice(&encode_tuple(items));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for x in b {
            write!(s, "{x:02x}").unwrap();
        }
        s
    }

    #[test]
    fn known_encodings() {
        // abi.encode(uint8(2))
        assert_eq!(
            hex(&Value::Choice(2).abi_encode()),
            format!("{}02", "0".repeat(62))
        );
        // abi.encode(int256(-1))
        assert_eq!(hex(&Value::Int(-1).abi_encode()), "f".repeat(64));
        // abi.encode("hi") = offset 0x20, length 2, "hi" padded.
        let want = format!(
            "{}20{}02{}{}",
            "0".repeat(62),
            "0".repeat(62),
            "6869",
            "0".repeat(60)
        );
        assert_eq!(hex(&Value::Text("hi".into()).abi_encode()), want);
        // abi.encode(uint256(1), "a") -> head: 1, offset 0x40; tail: 1, "a".
        let v = Value::Tuple(vec![Value::Int(1), Value::Text("a".into())]);
        let want = format!(
            "{z}01{z}40{z}01{}{}",
            "61",
            "0".repeat(62),
            z = "0".repeat(62)
        );
        assert_eq!(hex(&v.abi_encode()), want);
        // abi.encode(bool[]([true, false])) -> offset, length 2, 1, 0.
        let v = Value::Array(vec![Value::Bool(true), Value::Bool(false)]);
        let want = format!("{z}20{z}02{z}01{z}00", z = "0".repeat(62));
        assert_eq!(hex(&v.abi_encode()), want);
    }
}
