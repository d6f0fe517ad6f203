//! Leaf values that need more than a table lookup: quoted/raw text (UTF-8, escapes, byte
//! budget) and integer ranges.

use super::{CNode, Frame, Machine, State};

impl Machine {
    pub(super) fn feed_text(&self, s: &mut State, top: usize, b: u8) -> bool {
        let Frame::Text {
            node,
            mut len,
            mut need,
            mut lo,
            mut hi,
            mut phase,
        } = s.stack[top]
        else {
            return false;
        };
        let CNode::Text { max, raw } = self.nodes[node as usize] else {
            return false;
        };
        if need > 0 {
            if b < lo || b > hi {
                return false;
            }
            need -= 1;
            (lo, hi) = (0x80, 0xbf);
        } else if phase == 0 {
            if b != b'"' {
                return false;
            }
            phase = 1;
        } else if phase == 2 {
            if !matches!(b, b'"' | b'\\' | b'n' | b'r' | b't') {
                return false;
            }
            len += 1;
            phase = 1;
        } else if !raw && b == b'"' {
            Machine::pop(s);
            return true;
        } else if !raw && b == b'\\' {
            if len >= max {
                return false;
            }
            phase = 2;
        } else {
            if !raw && b < 0x20 {
                return false;
            }
            let (n, l, h) = match b {
                0x00..=0x7f => (0, 0, 0),
                0xc2..=0xdf => (1, 0x80, 0xbf),
                0xe0 => (2, 0xa0, 0xbf),
                0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
                0xed => (2, 0x80, 0x9f),
                0xf0 => (3, 0x90, 0xbf),
                0xf1..=0xf3 => (3, 0x80, 0xbf),
                0xf4 => (3, 0x80, 0x8f),
                _ => return false,
            };
            if max - len < u32::from(n) + 1 {
                return false;
            }
            len += u32::from(n) + 1;
            (need, lo, hi) = (n, l, h);
        }
        s.stack[top] = Frame::Text {
            node,
            len,
            need,
            lo,
            hi,
            phase,
        };
        true
    }
}

pub(super) fn int_complete(min: i64, max: i64, neg: bool, digits: u8, mag: u64) -> bool {
    if digits == 0 || neg && mag == 0 {
        return false;
    }
    let v = if neg {
        -i128::from(mag)
    } else {
        i128::from(mag)
    };
    i128::from(min) <= v && v <= i128::from(max)
}

/// Is there a value in `min..=max` whose digits start with `mag` (with the sign)?
pub(super) fn int_prefix_ok(min: i64, max: i64, neg: bool, mag: u64, has_digits: bool) -> bool {
    if !has_digits {
        return !neg || min < 0;
    }
    if neg && mag == 0 {
        return false;
    }
    let (min, max) = (i128::from(min), i128::from(max));
    let mut lo = i128::from(mag);
    let mut width: i128 = 1;
    for _ in 0..20 {
        let hi = lo + width - 1;
        let (a, b) = if neg { (-hi, -lo) } else { (lo, hi) };
        if a <= max && b >= min {
            return true;
        }
        if mag == 0 || lo > i128::from(i64::MAX) + 1 {
            return false;
        }
        lo *= 10;
        width *= 10;
    }
    false
}
