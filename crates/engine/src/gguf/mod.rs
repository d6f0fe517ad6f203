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
use std::sync::OnceLock;

use memmap2::Mmap;

pub use error::GgufError;
pub use types::{GgmlType, MetaValue, Tensor, TensorInfo};
pub use writer::GgufWriter;

use parse::{Entry, RawArray};

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
    /// Metadata as parsed: flat arrays stay in the file's bytes.
    entries: BTreeMap<String, Entry>,
    /// Every value decoded, on request by [`GgufFile::metadata`].
    all: OnceLock<BTreeMap<String, MetaValue>>,
    tensors: Vec<TensorInfo>,
    alignment: u64,
    data_offset: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("bytes", &self.bytes_len())
            .field("metadata_keys", &self.entries.len())
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
            entries: h.metadata,
            all: OnceLock::new(),
            tensors: h.tensors,
            alignment: h.alignment,
            data_offset: h.data_offset,
        })
    }

    /// The GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata, by key, every value decoded. The first call decodes the flat arrays
    /// (a large vocabulary takes tens of MB as values): readers of single keys use
    /// [`GgufFile::meta`], [`GgufFile::has_meta`] and the typed getters.
    pub fn metadata(&self) -> &BTreeMap<String, MetaValue> {
        self.all.get_or_init(|| {
            self.entries
                .keys()
                .filter_map(|k| Some((k.clone(), self.meta(k)?.clone())))
                .collect()
        })
    }

    /// Whether the metadata has `key` (decodes nothing).
    pub fn has_meta(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// The number of metadata keys.
    pub fn meta_len(&self) -> usize {
        self.entries.len()
    }

    /// One metadata value. A flat array is decoded on the first call for its key and kept:
    /// the typed getters ([`GgufFile::meta_str_array`] and the others) read it in place.
    pub fn meta(&self, key: &str) -> Option<&MetaValue> {
        match self.entries.get(key)? {
            Entry::Value(v) => Some(v),
            Entry::Array(raw, decoded) => {
                Some(decoded.get_or_init(|| {
                    // Validated at parse, so decoding cannot fail; an element that somehow
                    // did would end the array short rather than panic.
                    MetaValue::Array(
                        raw.values(self.storage.bytes())
                            .map_while(Result::ok)
                            .collect(),
                    )
                }))
            }
        }
    }

    fn require(&self, key: &str) -> Result<&MetaValue, GgufError> {
        self.meta(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
        })
    }

    /// A flat array's place in the file, or a decoded array of arrays.
    fn require_array(&self, key: &str) -> Result<ArrayRef<'_>, GgufError> {
        match self.entries.get(key) {
            None => Err(GgufError::MissingKey {
                key: key.to_owned(),
            }),
            Some(Entry::Array(raw, _)) => Ok(ArrayRef::Raw(raw)),
            Some(Entry::Value(MetaValue::Array(items))) => Ok(ArrayRef::Decoded(items)),
            Some(Entry::Value(v)) => Err(wrong_type(key, "array", v)),
        }
    }

    /// Each element of the array under `key`, decoded in turn.
    fn array_values(
        &self,
        key: &str,
    ) -> Result<Box<dyn Iterator<Item = Result<MetaValue, GgufError>> + '_>, GgufError> {
        Ok(match self.require_array(key)? {
            ArrayRef::Raw(raw) => Box::new(raw.values(self.storage.bytes())),
            ArrayRef::Decoded(items) => Box::new(items.iter().cloned().map(Ok)),
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

    /// An array of strings (borrowed from the file).
    pub fn meta_str_array(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        let items = match self.require_array(key)? {
            ArrayRef::Raw(raw) => {
                if let Some(strs) = raw.strs(self.storage.bytes()) {
                    return strs;
                }
                return self
                    .array_values(key)?
                    .map(|v| Err(wrong_type(key, "array of string", &v?)))
                    .collect();
            }
            ArrayRef::Decoded(items) => items,
        };
        items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| wrong_type(key, "array of string", v))
            })
            .collect()
    }

    /// An array of integers that each fit in `i32`.
    pub fn meta_i32_array(&self, key: &str) -> Result<Vec<i32>, GgufError> {
        self.array_values(key)?
            .map(|v| {
                let v = v?;
                let i = v
                    .as_int()
                    .ok_or_else(|| wrong_type(key, "array of integer", &v))?;
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
        self.array_values(key)?
            .map(|v| match v? {
                MetaValue::F32(x) => Ok(x),
                MetaValue::F64(x) => Ok(x as f32),
                v => Err(wrong_type(key, "array of float", &v)),
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

/// An array under a key: in the file's bytes, or decoded (an array of arrays).
enum ArrayRef<'a> {
    Raw(&'a RawArray),
    Decoded(&'a [MetaValue]),
}

fn wrong_type(key: &str, expected: &'static str, found: &MetaValue) -> GgufError {
    GgufError::WrongType {
        key: key.to_owned(),
        expected,
        found: found.type_name(),
    }
}
