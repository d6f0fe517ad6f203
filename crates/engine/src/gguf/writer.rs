//! A GGUF v3 writer, used by the quantizer and to build small models in tests.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;

use super::parse::{DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS};
use super::{GgmlType, GgufError, MetaValue, TensorInfo};

/// A tensor waiting to be written.
struct Pending<'a> {
    name: String,
    dims: Vec<u64>,
    dtype: GgmlType,
    data: Cow<'a, [u8]>,
}

/// Builds a GGUF v3 file: metadata in insertion order, then tensor infos, then the data
/// of each tensor padded to the alignment (`general.alignment` if set, else 32).
#[derive(Default)]
pub struct GgufWriter<'a> {
    metadata: Vec<(String, MetaValue)>,
    tensors: Vec<Pending<'a>>,
}

impl<'a> GgufWriter<'a> {
    /// An empty writer.
    pub fn new() -> GgufWriter<'a> {
        GgufWriter::default()
    }

    /// Sets a metadata key; a key already set keeps its position and takes the new value.
    pub fn add_metadata(&mut self, key: impl Into<String>, value: MetaValue) {
        let key = key.into();
        if let Some(slot) = self.metadata.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.metadata.push((key, value));
        }
    }

    /// Adds a tensor. `dims` is `ne[0]` (row length) first; `data` must be exactly the
    /// size those dims take in `dtype`.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        dtype: GgmlType,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<(), GgufError> {
        let name = name.into();
        let data = data.into();
        let bad = |reason: String| GgufError::BadTensor {
            tensor: name.clone(),
            reason,
        };
        if dims.len() > MAX_DIMS as usize {
            return Err(bad(format!(
                "{} dimensions, at most {MAX_DIMS}",
                dims.len()
            )));
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufError::DuplicateTensor { name });
        }
        let info = TensorInfo {
            name: name.clone(),
            dims: dims.to_vec(),
            dtype,
            offset: 0,
        };
        let size = info.data_bytes().map_err(|e| bad(e.to_string()))?;
        if size != data.len() as u64 {
            return Err(bad(format!(
                "{} data bytes given, dims need {size}",
                data.len()
            )));
        }
        self.tensors.push(Pending {
            name,
            dims: dims.to_vec(),
            dtype,
            data,
        });
        Ok(())
    }

    fn alignment(&self) -> Result<u64, GgufError> {
        match self.metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => Ok(DEFAULT_ALIGNMENT),
            Some((_, MetaValue::U32(a))) if a.is_power_of_two() => Ok(u64::from(*a)),
            Some((_, v)) => Err(GgufError::Encode {
                what: "general.alignment".into(),
                reason: format!("must be a u32 power of two, got {v:?}"),
            }),
        }
    }

    /// Writes the file; returns the number of bytes written.
    pub fn write<W: Write>(&self, out: &mut W) -> Result<u64, GgufError> {
        let align = self.alignment()?;
        let mut header = Vec::new();
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&3u32.to_le_bytes());
        header.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        let mut keys = HashSet::new();
        for (key, value) in &self.metadata {
            if !keys.insert(key.as_str()) {
                return Err(GgufError::DuplicateKey { key: key.clone() });
            }
            put_str(&mut header, key);
            header.extend_from_slice(&value.type_id().to_le_bytes());
            put_value(&mut header, key, value)?;
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut header, &t.name);
            header.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                header.extend_from_slice(&d.to_le_bytes());
            }
            header.extend_from_slice(&t.dtype.id().to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            offset = (offset + t.data.len() as u64).next_multiple_of(align);
        }
        pad(&mut header, align);
        let mut written = header.len() as u64;
        out.write_all(&header).map_err(GgufError::Write)?;
        let zeros = vec![0u8; align as usize];
        for t in &self.tensors {
            out.write_all(&t.data).map_err(GgufError::Write)?;
            let padded = (t.data.len() as u64).next_multiple_of(align);
            let fill = (padded - t.data.len() as u64) as usize;
            out.write_all(&zeros[..fill]).map_err(GgufError::Write)?;
            written += padded;
        }
        Ok(written)
    }

    /// The file as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, GgufError> {
        let mut out = Vec::new();
        self.write(&mut out)?;
        Ok(out)
    }
}

fn pad(buf: &mut Vec<u8>, align: u64) {
    let len = (buf.len() as u64).next_multiple_of(align) as usize;
    buf.resize(len, 0);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_value(buf: &mut Vec<u8>, key: &str, v: &MetaValue) -> Result<(), GgufError> {
    match v {
        MetaValue::U8(x) => buf.push(*x),
        MetaValue::I8(x) => buf.extend_from_slice(&x.to_le_bytes()),
        MetaValue::U16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        MetaValue::U32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        MetaValue::U64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        MetaValue::F32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        MetaValue::F64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        MetaValue::Bool(x) => buf.push(u8::from(*x)),
        MetaValue::Str(s) => put_str(buf, s),
        MetaValue::Array(items) => {
            // An empty array is written as an empty array of u8.
            let elem_type = items.first().map_or(0, MetaValue::type_id);
            if items.iter().any(|i| i.type_id() != elem_type) {
                return Err(GgufError::Encode {
                    what: format!("metadata key {key:?}"),
                    reason: "array elements of mixed types".into(),
                });
            }
            buf.extend_from_slice(&elem_type.to_le_bytes());
            buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_value(buf, key, item)?;
            }
        }
    }
    Ok(())
}
