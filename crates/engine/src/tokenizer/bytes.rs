//! GPT-2's reversible byte-to-character alphabet: printable bytes stand for themselves,
//! the other 68 bytes map to U+0100 onwards in byte order, so every token text is UTF-8.

/// The character standing for each byte.
pub(crate) fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in out.iter_mut().enumerate() {
        let printable = matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
        let code = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        *slot = char::from_u32(code).unwrap_or('\0');
    }
    out
}

/// Appends the bytes of a byte-encoded token text to `out`; characters outside the
/// alphabet pass through as their UTF-8 bytes.
pub(crate) fn decode_text(text: &str, chars: &[char; 256], out: &mut Vec<u8>) {
    for c in text.chars() {
        let code = c as u32;
        let byte = if code < 256 && chars[code as usize] == c {
            Some(code as u8)
        } else if (256..256 + 68).contains(&code) {
            chars.iter().position(|&x| x == c).map(|b| b as u8)
        } else {
            None
        };
        match byte {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_is_a_bijection() {
        let chars = byte_chars();
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        assert_eq!(chars[b'A' as usize], 'A');
        for b in 0..=255u8 {
            let s = chars[b as usize].to_string();
            let mut out = Vec::new();
            decode_text(&s, &chars, &mut out);
            assert_eq!(out, [b]);
        }
    }
}
