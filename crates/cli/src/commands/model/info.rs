//! `aikernel model info FILE`: what a GGUF file holds (architecture, sizes, tensor types,
//! tokenizer, chat template) and whether this engine runs it, read from the header alone
//! plus one load attempt. An unsupported file is described, not refused: the answer names
//! what this build lacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};

use aikernel_engine::Model;
use aikernel_engine::gguf::{GgufFile, MetaValue};

use crate::output::{outln, print_json};

/// `aikernel model info`.
#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// GGUF model file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// The hyper-parameters shown, as `(label, key under the architecture's prefix)`.
const SIZES: [(&str, &str); 8] = [
    ("layers", "block_count"),
    ("width", "embedding_length"),
    ("ffn", "feed_forward_length"),
    ("heads", "attention.head_count"),
    ("kv_heads", "attention.head_count_kv"),
    ("head_width", "attention.key_length"),
    ("context", "context_length"),
    ("sliding_window", "attention.sliding_window"),
];

/// Per tensor type: how many tensors and how many bytes.
#[derive(Default)]
struct TypeUse {
    tensors: usize,
    bytes: u64,
}

pub(crate) fn run(a: &InfoArgs, json_out: bool) -> anyhow::Result<()> {
    let info = describe(&a.file)?;
    if json_out {
        print_json(&info)
    } else {
        print_text(&info);
        Ok(())
    }
}

/// Everything `model info` reports, as JSON (the text output prints the same fields).
fn describe(path: &Path) -> anyhow::Result<Value> {
    let gguf = GgufFile::open(path).with_context(|| format!("reading {}", path.display()))?;
    let arch = gguf
        .meta_str("general.architecture")
        .ok()
        .map(str::to_owned);
    let mut sizes = serde_json::Map::new();
    if let Some(arch) = &arch {
        for (label, key) in SIZES {
            if let Ok(v) = gguf.meta_u32(&format!("{arch}.{key}")) {
                sizes.insert(label.into(), json!(v));
            }
        }
    }
    let mut types: BTreeMap<String, TypeUse> = BTreeMap::new();
    let mut parameters: u64 = 0;
    for t in gguf.tensors() {
        let n = t.n_elements();
        parameters = parameters.saturating_add(n);
        let bytes = t.data_bytes().unwrap_or(0);
        let e = types.entry(t.dtype.to_string()).or_default();
        e.tensors += 1;
        e.bytes = e.bytes.saturating_add(bytes);
    }
    let vocab = match gguf.meta("tokenizer.ggml.tokens") {
        Some(MetaValue::Array(a)) => Some(a.len()),
        _ => None,
    };
    let template = gguf.meta_str("tokenizer.chat_template").ok();
    let tokenizer = json!({
        "model": gguf.meta_str("tokenizer.ggml.model").ok(),
        "pre": gguf.meta_str("tokenizer.ggml.pre").ok(),
        "tokens": vocab,
    });
    let mut out = json!({
        "file": path.display().to_string(),
        "file_bytes": gguf.bytes_len(),
        "gguf_version": gguf.version(),
        "name": gguf.meta_str("general.name").ok(),
        "architecture": arch,
        "parameters": parameters,
        "sizes": sizes,
        "tensor_types": types.iter().map(|(name, u)| json!({
            "type": name, "tensors": u.tensors, "bytes": u.bytes,
        })).collect::<Vec<_>>(),
        "tokenizer": tokenizer,
        "chat_template": template,
    });
    // The one test that cannot lie: load it as a node would.
    let verdict = match Model::from_gguf(gguf) {
        Ok(_) => json!({ "supported": true }),
        Err(e) => json!({ "supported": false, "reason": e.to_string() }),
    };
    out["supported"] = verdict["supported"].clone();
    out["reason"] = verdict.get("reason").cloned().unwrap_or(Value::Null);
    Ok(out)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn print_text(v: &Value) {
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_owned();
    outln!(
        "file          {} ({}, GGUF v{})",
        s("file"),
        mib(v["file_bytes"].as_u64().unwrap_or(0)),
        v["gguf_version"]
    );
    outln!("name          {}", s("name"));
    outln!("architecture  {}", s("architecture"));
    outln!(
        "parameters    {:.1} M",
        v["parameters"].as_u64().unwrap_or(0) as f64 / 1e6
    );
    let sizes: Vec<String> = SIZES
        .iter()
        .filter_map(|(label, _)| {
            let n = &v["sizes"][*label];
            (!n.is_null()).then(|| format!("{} {n}", label.replace('_', " ")))
        })
        .collect();
    outln!("sizes         {}", sizes.join(", "));
    let types: Vec<String> = v["tensor_types"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    format!(
                        "{} x{} ({})",
                        t["type"].as_str().unwrap_or("?"),
                        t["tensors"],
                        mib(t["bytes"].as_u64().unwrap_or(0))
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    outln!("tensor types  {}", types.join(", "));
    let tk = &v["tokenizer"];
    outln!(
        "tokenizer     {} (pre-tokenizer {}), {} tokens",
        tk["model"].as_str().unwrap_or("-"),
        tk["pre"].as_str().unwrap_or("-"),
        tk["tokens"]
    );
    match v["chat_template"].as_str() {
        Some(t) => outln!(
            "chat template yes, {} characters (`--json` prints it)",
            t.chars().count()
        ),
        None => outln!("chat template none: drivers use the completion layout (docs/drivers.md)"),
    }
    if v["supported"].as_bool() == Some(true) {
        outln!("supported     yes");
    } else {
        outln!("supported     no: {}", s("reason"));
    }
}
