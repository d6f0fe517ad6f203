//! The GGUF header parser: every count, length and offset is checked against the bytes
//! actually present before anything is allocated.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use super::{GgmlType, GgufError, MetaValue, TensorInfo};

/// `GGUF` in file order.
pub(crate) const MAGIC: [u8; 4] = *b"GGUF";
/// Alignment when `general.alignment` is absent.
pub(crate) const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
pub(crate) const MAX_DIMS: u32 = 4;
/// Arrays of arrays deeper than this are rejected (no recursion bombs).
const MAX_NESTING: u32 = 8;

/// One metadata entry as parsed.
#[derive(Debug)]
pub(crate) enum Entry {
    /// A scalar, a string or an array of arrays, decoded.
    Value(MetaValue),
    /// A flat array (elements of one non-array type), validated but left in the file's
    /// bytes: a 262k-token vocabulary decoded into values would take tens of MB. The
    /// decoded value is made on request ([`super::GgufFile::meta`]) and kept.
    Array(RawArray, OnceLock<MetaValue>),
}

/// Where a flat array's elements lie in the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawArray {
    /// The elements' value type.
    pub(crate) elem: u32,
    /// The number of elements.
    pub(crate) count: usize,
    /// Offset of the first element.
    pub(crate) start: usize,
}

/// The parsed header.
pub(crate) struct Header {
    pub(crate) version: u32,
    pub(crate) metadata: BTreeMap<String, Entry>,
    pub(crate) tensors: Vec<TensorInfo>,
    pub(crate) alignment: u64,
    pub(crate) data_offset: u64,
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                what,
                offset: self.pos as u64,
                needed: n,
                len: self.buf.len() as u64,
            });
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of items each at least `min_size` bytes long, checked against what is left.
    fn count(&mut self, what: &'static str, min_size: u64) -> Result<u64, GgufError> {
        let offset = self.pos as u64;
        let count = self.u64(what)?;
        let remaining = self.remaining();
        if count
            .checked_mul(min_size)
            .is_none_or(|need| need > remaining)
        {
            return Err(GgufError::CountTooLarge {
                what,
                count,
                offset,
                remaining,
            });
        }
        Ok(count)
    }

    fn string(&mut self, what: &'static str) -> Result<String, GgufError> {
        Ok(self.str(what)?.to_owned())
    }

    /// A string borrowed from the buffer.
    fn str(&mut self, what: &'static str) -> Result<&'a str, GgufError> {
        let len = self.u64(what)?;
        let offset = self.pos as u64;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|_| GgufError::InvalidUtf8 { offset })
    }

    /// Validates a flat array's `count` elements of type `elem` (checked as [`Reader::value`]
    /// checks them) without decoding them.
    fn skip_elements(&mut self, elem: u32, count: u64) -> Result<(), GgufError> {
        for _ in 0..count {
            match elem {
                8 => {
                    self.str("string value")?;
                }
                7 => {
                    let offset = self.pos as u64;
                    let b = self.array::<1>("bool value")?[0];
                    if b > 1 {
                        return Err(GgufError::UnknownValueType {
                            type_id: 0x100 | u32::from(b),
                            offset,
                        });
                    }
                }
                _ => {
                    let size = min_value_size(elem).unwrap_or(1);
                    self.take(size, "array element")?;
                }
            }
        }
        Ok(())
    }

    fn value(
        &mut self,
        type_id: u32,
        type_offset: u64,
        depth: u32,
    ) -> Result<MetaValue, GgufError> {
        Ok(match type_id {
            0 => MetaValue::U8(u8::from_le_bytes(self.array("u8 value")?)),
            1 => MetaValue::I8(i8::from_le_bytes(self.array("i8 value")?)),
            2 => MetaValue::U16(u16::from_le_bytes(self.array("u16 value")?)),
            3 => MetaValue::I16(i16::from_le_bytes(self.array("i16 value")?)),
            4 => MetaValue::U32(u32::from_le_bytes(self.array("u32 value")?)),
            5 => MetaValue::I32(i32::from_le_bytes(self.array("i32 value")?)),
            6 => MetaValue::F32(f32::from_le_bytes(self.array("f32 value")?)),
            7 => {
                let offset = self.pos as u64;
                match self.array::<1>("bool value")?[0] {
                    0 => MetaValue::Bool(false),
                    1 => MetaValue::Bool(true),
                    b => {
                        return Err(GgufError::UnknownValueType {
                            type_id: 0x100 | u32::from(b),
                            offset,
                        });
                    }
                }
            }
            8 => MetaValue::Str(self.string("string value")?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(GgufError::NestingTooDeep {
                        offset: type_offset,
                    });
                }
                let elem_offset = self.pos as u64;
                let elem_type = self.u32("array element type")?;
                let min = min_value_size(elem_type).ok_or(GgufError::UnknownValueType {
                    type_id: elem_type,
                    offset: elem_offset,
                })?;
                let n = self.count("array element", min)?;
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(elem_type, elem_offset, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::U64(u64::from_le_bytes(self.array("u64 value")?)),
            11 => MetaValue::I64(i64::from_le_bytes(self.array("i64 value")?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.array("f64 value")?)),
            _ => {
                return Err(GgufError::UnknownValueType {
                    type_id,
                    offset: type_offset,
                });
            }
        })
    }
}

/// A top-level array after its type id: a flat one is validated and left in the bytes
/// ([`Entry::Array`]), an array of arrays is decoded.
fn array_entry(r: &mut Reader<'_>, type_offset: u64) -> Result<Entry, GgufError> {
    let elem_offset = r.pos;
    let elem = r.u32("array element type")?;
    if elem == 9 {
        r.pos = elem_offset;
        return Ok(Entry::Value(r.value(9, type_offset, 0)?));
    }
    let min = min_value_size(elem).ok_or(GgufError::UnknownValueType {
        type_id: elem,
        offset: elem_offset as u64,
    })?;
    let count = r.count("array element", min)?;
    let start = r.pos;
    r.skip_elements(elem, count)?;
    let raw = RawArray {
        elem,
        count: count as usize,
        start,
    };
    Ok(Entry::Array(raw, OnceLock::new()))
}

impl RawArray {
    /// The elements one by one, decoded (strings copied), from the buffer the header was
    /// parsed from.
    pub(crate) fn values<'a>(
        &self,
        buf: &'a [u8],
    ) -> impl Iterator<Item = Result<MetaValue, GgufError>> + 'a {
        let mut r = Reader {
            buf,
            pos: self.start,
        };
        let (elem, at) = (self.elem, self.start as u64);
        (0..self.count).map(move |_| r.value(elem, at, 1))
    }

    /// The elements of an array of strings, borrowed from the buffer; `None` for another
    /// element type.
    pub(crate) fn strs<'a>(&self, buf: &'a [u8]) -> Option<Result<Vec<&'a str>, GgufError>> {
        if self.elem != 8 {
            return None;
        }
        let mut r = Reader {
            buf,
            pos: self.start,
        };
        Some((0..self.count).map(|_| r.str("string value")).collect())
    }
}

/// The fewest bytes a value of this type occupies; `None` for unknown types.
fn min_value_size(type_id: u32) -> Option<u64> {
    Some(match type_id {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10 | 11 | 12 => 8,
        9 => 12,
        _ => return None,
    })
}

fn bad_tensor(tensor: &str, reason: String) -> GgufError {
    GgufError::BadTensor {
        tensor: tensor.to_owned(),
        reason,
    }
}

/// Parses and validates the header of a GGUF file held entirely in `buf`.
pub(crate) fn parse(buf: &[u8]) -> Result<Header, GgufError> {
    let mut r = Reader { buf, pos: 0 };
    let magic: [u8; 4] = r.array("magic")?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic { found: magic });
    }
    let version = r.u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion(version));
    }
    // A tensor info takes at least 8 (name len) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
    let n_tensors = r.count("tensor", 24)?;
    // A key/value takes at least 8 (key len) + 4 (type) + 1 (value) bytes.
    let n_kv = r.count("metadata key/value", 13)?;

    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let key = r.string("metadata key")?;
        let type_offset = r.pos as u64;
        let type_id = r.u32("metadata value type")?;
        let entry = if type_id == 9 {
            array_entry(&mut r, type_offset)?
        } else {
            Entry::Value(r.value(type_id, type_offset, 0)?)
        };
        if metadata.contains_key(&key) {
            return Err(GgufError::DuplicateKey { key });
        }
        metadata.insert(key, entry);
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(Entry::Array(..)) => {
            return Err(GgufError::WrongType {
                key: "general.alignment".into(),
                expected: "u32",
                found: "array",
            });
        }
        Some(Entry::Value(v)) => match v.as_int() {
            Some(a) if a > 0 && (a as u64).is_power_of_two() && a <= i128::from(u32::MAX) => {
                a as u64
            }
            Some(a) => {
                return Err(GgufError::BadAlignment(
                    a.clamp(0, i128::from(u64::MAX)) as u64
                ));
            }
            None => {
                return Err(GgufError::WrongType {
                    key: "general.alignment".into(),
                    expected: "u32",
                    found: v.type_name(),
                });
            }
        },
    };

    let mut tensors = Vec::with_capacity(n_tensors as usize);
    let mut names = HashSet::new();
    for _ in 0..n_tensors {
        let name = r.string("tensor name")?;
        let n_dims = r.u32("tensor dimension count")?;
        if n_dims > MAX_DIMS {
            return Err(bad_tensor(
                &name,
                format!("{n_dims} dimensions, at most {MAX_DIMS}"),
            ));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            let d = r.u64("tensor dimension")?;
            if d > i64::MAX as u64 {
                return Err(bad_tensor(&name, format!("dimension {d} exceeds i64::MAX")));
            }
            dims.push(d);
        }
        let type_id = r.u32("tensor type")?;
        let dtype = GgmlType::from_id(type_id)
            .ok_or_else(|| bad_tensor(&name, format!("unknown ggml type {type_id}")))?;
        let offset = r.u64("tensor offset")?;
        if offset % alignment != 0 {
            return Err(bad_tensor(
                &name,
                format!("data offset {offset} is not a multiple of the alignment {alignment}"),
            ));
        }
        if !names.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor { name });
        }
        tensors.push(TensorInfo {
            name,
            dims,
            dtype,
            offset,
        });
    }

    let header_end = r.pos as u64;
    let data_offset = header_end
        .checked_next_multiple_of(alignment)
        .ok_or(GgufError::Overflow("data offset"))?;
    let file_len = buf.len() as u64;
    if !tensors.is_empty() && data_offset > file_len {
        return Err(GgufError::Truncated {
            what: "data section padding",
            offset: header_end,
            needed: data_offset - header_end,
            len: file_len,
        });
    }
    check_tensor_ranges(&tensors, file_len.saturating_sub(data_offset))?;
    Ok(Header {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
    })
}

/// Every tensor's data must lie inside the data section, and no two may overlap.
fn check_tensor_ranges(tensors: &[TensorInfo], data_len: u64) -> Result<(), GgufError> {
    let mut ranges = Vec::with_capacity(tensors.len());
    for t in tensors {
        let size = t
            .data_bytes()
            .map_err(|e| bad_tensor(&t.name, e.to_string()))?;
        let end = t
            .offset
            .checked_add(size)
            .ok_or_else(|| bad_tensor(&t.name, "data range overflows".into()))?;
        if end > data_len {
            return Err(bad_tensor(
                &t.name,
                format!(
                    "{} data [{}, {end}) runs past the end of the {data_len}-byte data section",
                    t.dtype, t.offset
                ),
            ));
        }
        ranges.push((t.offset, end, t.name.as_str()));
    }
    ranges.sort_unstable();
    let mut furthest: Option<(u64, &str)> = None;
    for &(start, end, name) in ranges.iter().filter(|r| r.0 != r.1) {
        if let Some((prev_end, prev)) = furthest
            && start < prev_end
        {
            return Err(GgufError::OverlappingTensors {
                first: prev.to_owned(),
                second: name.to_owned(),
            });
        }
        if furthest.is_none_or(|f| end > f.0) {
            furthest = Some((end, name));
        }
    }
    Ok(())
}
