//! GGUF reader: the real model, synthetic files, every truncation and random corruption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

mod common;

use aikernel_engine::gguf::{GgmlType, GgufError, GgufFile, GgufWriter, MetaValue};
use proptest::prelude::*;

/// A small model-shaped file exercising every metadata type.
fn synthetic() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", MetaValue::Str("llama".into()));
    w.add_metadata("general.alignment", MetaValue::U32(64));
    w.add_metadata("llama.block_count", MetaValue::U32(2));
    w.add_metadata("u8", MetaValue::U8(7));
    w.add_metadata("i8", MetaValue::I8(-7));
    w.add_metadata("u16", MetaValue::U16(700));
    w.add_metadata("i16", MetaValue::I16(-700));
    w.add_metadata("i32", MetaValue::I32(-70000));
    w.add_metadata("u64", MetaValue::U64(1 << 40));
    w.add_metadata("i64", MetaValue::I64(-5));
    w.add_metadata("f32", MetaValue::F32(1e-5));
    w.add_metadata("f64", MetaValue::F64(0.25));
    w.add_metadata("bool", MetaValue::Bool(true));
    w.add_metadata(
        "tokens",
        MetaValue::Array(vec![MetaValue::Str("a".into()), MetaValue::Str("é".into())]),
    );
    w.add_metadata(
        "types",
        MetaValue::Array(vec![MetaValue::I32(1), MetaValue::I32(3)]),
    );
    w.add_metadata(
        "nested",
        MetaValue::Array(vec![
            MetaValue::Array(vec![MetaValue::F32(1.5)]),
            MetaValue::Array(vec![]),
        ]),
    );
    let f32s: Vec<u8> = (0..64).flat_map(|i| (i as f32).to_le_bytes()).collect();
    w.add_tensor("norm.weight", &[64], GgmlType::F32, f32s)
        .unwrap();
    w.add_tensor("q4.weight", &[32, 3], GgmlType::Q4_1, vec![1u8; 60])
        .unwrap();
    w.add_tensor("f16.weight", &[4, 2], GgmlType::F16, vec![0u8; 16])
        .unwrap();
    w.to_bytes().unwrap()
}

#[test]
fn real_model_parses() {
    let path = common::model_path();
    let g = GgufFile::open(&path).unwrap();
    assert_eq!(g.version(), 3);
    assert_eq!(g.bytes_len(), 98_362_432);
    assert_eq!(g.meta_str("general.architecture").unwrap(), "llama");
    assert_eq!(g.meta_u32("llama.block_count").unwrap(), 30);
    assert_eq!(g.meta_u32("llama.embedding_length").unwrap(), 576);
    assert_eq!(g.meta_u32("llama.feed_forward_length").unwrap(), 1536);
    assert_eq!(g.meta_u32("llama.attention.head_count").unwrap(), 9);
    assert_eq!(g.meta_u32("llama.attention.head_count_kv").unwrap(), 3);
    assert_eq!(g.meta_u32("llama.context_length").unwrap(), 8192);
    assert_eq!(g.meta_f32("llama.rope.freq_base").unwrap(), 100_000.0);
    assert_eq!(
        g.meta_f32("llama.attention.layer_norm_rms_epsilon")
            .unwrap(),
        1e-5
    );
    assert_eq!(g.meta_str("tokenizer.ggml.model").unwrap(), "gpt2");
    assert_eq!(g.meta_str("tokenizer.ggml.pre").unwrap(), "smollm");
    assert_eq!(
        g.meta_str_array("tokenizer.ggml.tokens").unwrap().len(),
        49152
    );
    assert_eq!(
        g.meta_str_array("tokenizer.ggml.merges").unwrap().len(),
        48900
    );
    assert_eq!(
        g.meta_i32_array("tokenizer.ggml.token_type").unwrap().len(),
        49152
    );
    // 30 layers x 9 tensors + token_embd + output_norm, no output.weight.
    assert_eq!(g.tensors().len(), 30 * 9 + 2);
    let embd = g.tensor("token_embd.weight").unwrap();
    assert_eq!(embd.dims, &[576, 49152]);
    assert_eq!(embd.dtype, GgmlType::Q8_0);
    assert_eq!(embd.data.len() as u64, 576 / 32 * 34 * 49152);
    let q = g.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!((q.dims, q.dtype), (&[576u64, 576][..], GgmlType::Q4_1));
    let k = g.tensor("blk.29.attn_k.weight").unwrap();
    assert_eq!(k.dims, &[576, 192]);
    let norm = g.tensor("output_norm.weight").unwrap();
    assert_eq!((norm.dims, norm.dtype), (&[576u64][..], GgmlType::F32));
    assert!(
        matches!(g.tensor("output.weight"), Err(GgufError::MissingTensor { name }) if name == "output.weight")
    );
    // Same parse from owned bytes.
    let owned = GgufFile::from_bytes(std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(owned.metadata(), g.metadata());
    assert_eq!(owned.tensors(), g.tensors());
}

#[test]
fn synthetic_round_trips() {
    let bytes = synthetic();
    let g = GgufFile::from_bytes(bytes.clone()).unwrap();
    assert_eq!(g.alignment(), 64);
    assert_eq!(g.data_offset() % 64, 0);
    assert_eq!(g.meta_u32("u16").unwrap(), 700);
    assert_eq!(
        g.meta_u32("u64").unwrap_err().to_string(),
        "metadata key \"u64\": value 1099511627776 does not fit in u32"
    );
    assert!(matches!(
        g.meta_u32("i8"),
        Err(GgufError::OutOfRange { .. })
    ));
    assert!(matches!(g.meta_u32("f32"), Err(GgufError::WrongType { key, .. }) if key == "f32"));
    assert!(matches!(g.meta_u32("absent"), Err(GgufError::MissingKey { key }) if key == "absent"));
    assert_eq!(g.meta_f32("f64").unwrap(), 0.25);
    assert_eq!(g.meta_str_array("tokens").unwrap(), vec!["a", "é"]);
    assert_eq!(g.meta_i32_array("types").unwrap(), vec![1, 3]);
    assert!(g.meta_f32_array("tokens").is_err());
    assert_eq!(g.meta("bool"), Some(&MetaValue::Bool(true)));
    let t = g.tensor("norm.weight").unwrap();
    assert_eq!(
        f32::from_le_bytes(t.data[4 * 63..].try_into().unwrap()),
        63.0
    );
    assert_eq!(g.tensor("q4.weight").unwrap().data, &[1u8; 60][..]);
    // Rewriting the parsed content gives the same bytes (metadata order aside, same keys).
    let mut w = GgufWriter::new();
    for (k, v) in g.metadata() {
        w.add_metadata(k.clone(), v.clone());
    }
    for info in g.tensors() {
        let t = g.view(info);
        w.add_tensor(t.name, t.dims, t.dtype, t.data).unwrap();
    }
    let again = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(again.metadata(), g.metadata());
    assert_eq!(again.tensors(), g.tensors());
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = synthetic();
    let g = GgufFile::from_bytes(bytes.clone()).unwrap();
    // The padding after the last tensor's data is optional; everything before it is not.
    let data_end = g
        .tensors()
        .iter()
        .map(|t| g.data_offset() + t.offset + t.data_bytes().unwrap())
        .max()
        .unwrap();
    assert!(data_end > bytes.len() as u64 - 64);
    for len in 0..bytes.len() {
        let cut = bytes[..len].to_vec();
        let parsed = GgufFile::from_bytes(cut);
        assert_eq!(
            parsed.is_ok(),
            len as u64 >= data_end,
            "truncated at {len} of {}",
            bytes.len()
        );
    }
}

#[test]
fn specific_rejections() {
    let good = synthetic();
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(
        GgufFile::from_bytes(bad),
        Err(GgufError::BadMagic { .. })
    ));
    let mut bad = good.clone();
    bad[4] = 9;
    assert!(matches!(
        GgufFile::from_bytes(bad),
        Err(GgufError::UnsupportedVersion(9))
    ));
    // A lying tensor count must not allocate; it is rejected against the file size.
    let mut bad = good.clone();
    bad[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        GgufFile::from_bytes(bad),
        Err(GgufError::CountTooLarge { what: "tensor", .. })
    ));
    let mut bad = good.clone();
    bad[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(matches!(
        GgufFile::from_bytes(bad),
        Err(GgufError::CountTooLarge { .. })
    ));
    // A huge string length.
    let mut bad = good.clone();
    bad[24..32].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
    assert!(matches!(
        GgufFile::from_bytes(bad),
        Err(GgufError::Truncated {
            what: "metadata key",
            offset: 32,
            ..
        })
    ));

    // Misaligned alignment value, duplicate keys, bad shapes: built with the writer.
    let mut w = GgufWriter::new();
    w.add_metadata("general.alignment", MetaValue::U32(64));
    let mut bytes = w.to_bytes().unwrap();
    let pos = bytes
        .windows(4)
        .rposition(|x| x == 64u32.to_le_bytes())
        .unwrap();
    bytes[pos] = 48;
    assert!(matches!(
        GgufFile::from_bytes(bytes),
        Err(GgufError::BadAlignment(48))
    ));

    let mut w = GgufWriter::new();
    assert!(
        w.add_tensor("x", &[33], GgmlType::Q8_0, vec![0u8; 34])
            .is_err()
    );
    assert!(
        w.add_tensor("x", &[32], GgmlType::Q8_0, vec![0u8; 33])
            .is_err()
    );
    w.add_tensor("x", &[32], GgmlType::Q8_0, vec![0u8; 34])
        .unwrap();
    assert!(matches!(
        w.add_tensor("x", &[32], GgmlType::Q8_0, vec![0u8; 34]),
        Err(GgufError::DuplicateTensor { .. })
    ));

    // Tensor data past the end of the file names the tensor.
    let bytes = synthetic();
    let short = bytes[..bytes.len() - 64].to_vec();
    let err = GgufFile::from_bytes(short).unwrap_err();
    assert!(err.to_string().contains("f16.weight"), "{err}");
}

/// Flat arrays are left in the file's bytes, so their elements are validated at parse and
/// read in place; every getter reads them as it reads decoded arrays.
#[test]
fn flat_arrays_are_checked_at_parse_and_read_in_place() {
    let mut w = GgufWriter::new();
    w.add_metadata(
        "strs",
        MetaValue::Array(vec![
            MetaValue::Str("ab".into()),
            MetaValue::Str("cd".into()),
        ]),
    );
    w.add_metadata(
        "flags",
        MetaValue::Array(vec![MetaValue::Bool(true), MetaValue::Bool(false)]),
    );
    w.add_metadata("floats", MetaValue::Array(vec![MetaValue::F64(0.5)]));
    w.add_metadata("empty", MetaValue::Array(vec![]));
    let good = w.to_bytes().unwrap();
    let g = GgufFile::from_bytes(good.clone()).unwrap();
    assert!(g.has_meta("strs") && !g.has_meta("absent"));
    assert_eq!(g.meta_str_array("strs").unwrap(), vec!["ab", "cd"]);
    assert_eq!(g.meta_f32_array("floats").unwrap(), vec![0.5]);
    assert!(g.meta_str_array("empty").unwrap().is_empty());
    assert!(matches!(
        g.meta_str_array("flags"),
        Err(GgufError::WrongType {
            expected: "array of string",
            found: "bool",
            ..
        })
    ));
    assert!(matches!(
        g.meta_i32_array("strs"),
        Err(GgufError::WrongType {
            expected: "array of integer",
            found: "string",
            ..
        })
    ));
    assert_eq!(
        g.meta("flags"),
        Some(&MetaValue::Array(vec![
            MetaValue::Bool(true),
            MetaValue::Bool(false)
        ]))
    );
    assert_eq!(g.metadata().len(), 4);

    // A string element that is not UTF-8 and a bool element that is neither 0 nor 1 are
    // refused when the file is opened, not when the array is read.
    let mut bad = good.clone();
    let at = bad.windows(2).position(|x| x == b"cd").unwrap();
    bad[at] = 0xff;
    assert!(matches!(
        GgufFile::from_bytes(bad),
        Err(GgufError::InvalidUtf8 { offset }) if offset == at as u64
    ));
    let flags = good.windows(5).position(|x| x == b"flags").unwrap();
    // key, type 9, element type 7, count 2, then the elements.
    let first = flags + 5 + 4 + 4 + 8;
    assert_eq!(good[first], 1);
    let mut bad = good.clone();
    bad[first] = 2;
    assert!(matches!(
        GgufFile::from_bytes(bad),
        Err(GgufError::UnknownValueType { type_id: 0x102, .. })
    ));
}

#[test]
fn tensor_offsets_are_checked() {
    let good = synthetic();
    let name = b"q4.weight";
    let at = good.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    let offset_at = at + 4 + 2 * 8 + 4; // n_dims, two dims, type
    let set = |v: u64| {
        let mut b = good.clone();
        b[offset_at..offset_at + 8].copy_from_slice(&v.to_le_bytes());
        GgufFile::from_bytes(b)
    };
    match set(0) {
        Err(GgufError::OverlappingTensors { first, second }) => {
            let mut pair = [first, second];
            pair.sort();
            assert_eq!(pair, ["norm.weight", "q4.weight"]);
        }
        other => panic!("expected an overlap, got {other:?}"),
    }
    let err = set(1).unwrap_err();
    assert!(
        err.to_string().contains("q4.weight") && err.to_string().contains("alignment"),
        "{err}"
    );
    let err = set(u64::MAX - 63).unwrap_err();
    assert!(
        matches!(err, GgufError::BadTensor { ref tensor, .. } if tensor == "q4.weight"),
        "{err}"
    );
}

#[test]
fn open_errors_name_the_path() {
    let missing = std::path::Path::new("/nonexistent/model.gguf");
    let err = GgufFile::open(missing).unwrap_err();
    assert!(
        matches!(err, GgufError::Io { ref path, .. } if path == missing),
        "{err}"
    );
    assert!(err.to_string().contains("/nonexistent/model.gguf"));
    let empty = std::env::temp_dir().join(format!("aikernel-empty-{}.gguf", std::process::id()));
    std::fs::write(&empty, b"").unwrap();
    let err = GgufFile::open(&empty).unwrap_err();
    std::fs::remove_file(&empty).unwrap();
    assert!(
        matches!(
            err,
            GgufError::Truncated {
                what: "magic",
                offset: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn version_2_is_read_like_version_3() {
    let mut bytes = synthetic();
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    let g = GgufFile::from_bytes(bytes).unwrap();
    assert_eq!(g.version(), 2);
    assert_eq!(g.meta_u32("llama.block_count").unwrap(), 2);
    assert_eq!(g.tensors().len(), 3);
}

#[test]
fn shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GgufFile>();
    assert_send_sync::<aikernel_engine::tokenizer::Tokenizer>();
    assert_send_sync::<aikernel_engine::template::ChatTemplate>();
}

#[test]
fn type_layouts() {
    assert_eq!(
        (GgmlType::Q4_1.block_size(), GgmlType::Q4_1.type_size()),
        (32, 20)
    );
    assert_eq!(
        (GgmlType::Q8_0.block_size(), GgmlType::Q8_0.type_size()),
        (32, 34)
    );
    assert_eq!(
        (GgmlType::Q4_0.block_size(), GgmlType::Q4_0.type_size()),
        (32, 18)
    );
    assert_eq!(GgmlType::F16.row_bytes(576).unwrap(), 1152);
    assert_eq!(GgmlType::Q4_1.row_bytes(576).unwrap(), 360);
    assert!(GgmlType::Q4_1.row_bytes(17).is_err());
    assert_eq!(GgmlType::from_id(12).map(GgmlType::type_size), Some(144));
    assert_eq!(GgmlType::from_id(4), None);
    assert!(GgmlType::Other(4).row_bytes(32).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    /// Random byte overwrites never panic; whatever parses has in-bounds tensor views.
    #[test]
    fn mutations_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = synthetic();
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let Ok(g) = GgufFile::from_bytes(bytes) {
            for info in g.tensors() {
                let t = g.view(info);
                prop_assert_eq!(t.data.len() as u64, info.data_bytes().unwrap());
            }
            let _ = g.meta_str_array("tokens");
            let _ = g.meta_u32("llama.block_count");
        }
    }
}
