//! GGUF reader and writer.
//!
//! [`GgufFile::open`] maps a file and validates its whole header before returning: magic,
//! version (2 or 3), every count against the bytes left, string lengths and UTF-8,
//! `general.alignment`, tensor shapes, types and data ranges. Malformed or truncated input
//! gives a [`GgufError`] naming what and where, never a panic or a huge allocation.

mod error;
mod parse;
mod types;
mod writer;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

pub use error::GgufError;
pub use types::{GgmlType, MetaValue, Tensor, TensorInfo};
pub use writer::GgufWriter;

/// The bytes of a GGUF file: mapped from disk or owned.
enum Storage {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A parsed, validated GGUF file whose tensor data is borrowed in place.
pub struct GgufFile {
    storage: Storage,
    version: u32,
    metadata: BTreeMap<String, MetaValue>,
    tensors: Vec<TensorInfo>,
    alignment: u64,
    data_offset: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("bytes", &self.bytes_len())
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish_non_exhaustive()
    }
}

impl GgufFile {
    /// Maps `path` read-only and parses it.
    pub fn open(path: &Path) -> Result<GgufFile, GgufError> {
        let io = |source| GgufError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and private to this value. Model files are treated as
        // immutable while open; a file truncated or rewritten by another process during use
        // is outside what the engine supports (as with llama.cpp's mmap loading).
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Self::from_storage(Storage::Mapped(map))
    }

    /// Parses a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::from_storage(Storage::Owned(bytes))
    }

    fn from_storage(storage: Storage) -> Result<GgufFile, GgufError> {
        let h = parse::parse(storage.bytes())?;
        Ok(GgufFile {
            storage,
            version: h.version,
            metadata: h.metadata,
            tensors: h.tensors,
            alignment: h.alignment,
            data_offset: h.data_offset,
        })
    }

    /// The GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata, by key.
    pub fn metadata(&self) -> &BTreeMap<String, MetaValue> {
        &self.metadata
    }

    /// Drops the metadata values under `keys` (absent ones are skipped): for values another
    /// structure has taken over, such as the vocabulary arrays a tokenizer holds (a 262k
    /// vocabulary parsed into metadata values takes tens of MB). Later reads find nothing.
    pub fn forget_metadata(&mut self, keys: &[&str]) {
        for key in keys {
            self.metadata.remove(*key);
        }
    }

    /// One metadata value.
    pub fn meta(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    fn require(&self, key: &str) -> Result<&MetaValue, GgufError> {
        self.metadata.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
        })
    }

    /// An integer key of any integer type whose value fits in `u32`.
    pub fn meta_u32(&self, key: &str) -> Result<u32, GgufError> {
        let v = self.require(key)?;
        let i = v.as_int().ok_or_else(|| wrong_type(key, "integer", v))?;
        u32::try_from(i).map_err(|_| GgufError::OutOfRange {
            key: key.to_owned(),
            value: i.to_string(),
            expected: "u32",
        })
    }

    /// A float key (f32, or f64 rounded to f32).
    pub fn meta_f32(&self, key: &str) -> Result<f32, GgufError> {
        match self.require(key)? {
            MetaValue::F32(x) => Ok(*x),
            MetaValue::F64(x) => Ok(*x as f32),
            v => Err(wrong_type(key, "float", v)),
        }
    }

    /// A string key.
    pub fn meta_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| wrong_type(key, "string", v))
    }

    fn meta_array(&self, key: &str) -> Result<&[MetaValue], GgufError> {
        match self.require(key)? {
            MetaValue::Array(items) => Ok(items),
            v => Err(wrong_type(key, "array", v)),
        }
    }

    /// An array of strings.
    pub fn meta_str_array(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        self.meta_array(key)?
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| wrong_type(key, "array of string", v))
            })
            .collect()
    }

    /// An array of integers that each fit in `i32`.
    pub fn meta_i32_array(&self, key: &str) -> Result<Vec<i32>, GgufError> {
        self.meta_array(key)?
            .iter()
            .map(|v| {
                let i = v
                    .as_int()
                    .ok_or_else(|| wrong_type(key, "array of integer", v))?;
                i32::try_from(i).map_err(|_| GgufError::OutOfRange {
                    key: key.to_owned(),
                    value: i.to_string(),
                    expected: "i32",
                })
            })
            .collect()
    }

    /// An array of floats (f32, or f64 rounded to f32).
    pub fn meta_f32_array(&self, key: &str) -> Result<Vec<f32>, GgufError> {
        self.meta_array(key)?
            .iter()
            .map(|v| match v {
                MetaValue::F32(x) => Ok(*x),
                MetaValue::F64(x) => Ok(*x as f32),
                v => Err(wrong_type(key, "array of float", v)),
            })
            .collect()
    }

    /// Tensor descriptions, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// Looks a tensor up by name and borrows its data.
    pub fn tensor(&self, name: &str) -> Result<Tensor<'_>, GgufError> {
        let info = self
            .tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| GgufError::MissingTensor {
                name: name.to_owned(),
            })?;
        Ok(self.view(info))
    }

    /// Borrows the data of a tensor described in this file (ranges were checked at parse).
    pub fn view<'a>(&'a self, info: &'a TensorInfo) -> Tensor<'a> {
        let size = info.data_bytes().unwrap_or(0);
        let start = self.data_offset.saturating_add(info.offset) as usize;
        let end = start.saturating_add(size as usize);
        let data = self.storage.bytes().get(start..end).unwrap_or(&[]);
        Tensor {
            name: &info.name,
            dims: &info.dims,
            dtype: info.dtype,
            data,
        }
    }

    /// Total file size in bytes.
    pub fn bytes_len(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// Data alignment (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Offset of the data section from the start of the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }
}

fn wrong_type(key: &str, expected: &'static str, found: &MetaValue) -> GgufError {
    GgufError::WrongType {
        key: key.to_owned(),
        expected,
        found: found.type_name(),
    }
}
