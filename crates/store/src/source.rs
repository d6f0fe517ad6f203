//! Model sources: what a URI from ModelFileSystem means and how to read a byte range of it.
//!
//! - `file:///abs/path` (or `file://localhost/abs/path`): a local file; `%XX` escapes decoded.
//! - `http://…`, `https://…`: ranged GETs.
//! - `ipfs://<cid>[/path]`: `GET {gateway}/ipfs/<cid>[/path]` on the configured gateway.
//!
//! A source's leaf manifest is `<uri>.leaves` (before any `?query`); a bare `ipfs://<cid>` has
//! none (a CID names one file), `ipfs://<dir cid>/<name>` looks for `<name>.leaves` beside it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use ureq::Agent;

use crate::http::RangeBody;
use crate::{StoreError, http};

/// Checks that `uri` is one a node can fetch from (the schemes and forms above), without
/// fetching it: a registration refuses a URI no node could use. Whitespace and control
/// characters are refused too (they only come from a pasting mistake).
pub fn check_uri(uri: &str) -> Result<(), StoreError> {
    if let Some(c) = uri.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::UnsupportedUri {
            uri: uri.to_owned(),
            reason: format!("contains {c:?} (escape it as %XX)"),
        });
    }
    // Any http(s) gateway: only the URI itself is being checked.
    Source::parse(uri, "http://127.0.0.1:8080").map(|_| ())
}

/// A parsed model URI.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A local file.
    File {
        /// The URI as registered.
        uri: String,
        /// The decoded absolute path.
        path: PathBuf,
    },
    /// Anything fetched over HTTP (http, https, ipfs through a gateway).
    Http {
        /// The URI as registered.
        uri: String,
        /// The URL requested.
        url: String,
        /// Where its leaf manifest would be, if it can have one.
        manifest_url: Option<String>,
    },
}

impl Source {
    /// Parses `uri`; `ipfs://` goes through `gateway` (e.g. `http://127.0.0.1:8080`).
    pub(crate) fn parse(uri: &str, gateway: &str) -> Result<Source, StoreError> {
        let unsupported = |reason: &str| StoreError::UnsupportedUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| unsupported("no scheme (expected file://, http(s):// or ipfs://)"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                let rest = rest.strip_prefix("localhost").unwrap_or(rest);
                if !rest.starts_with('/') {
                    return Err(unsupported(
                        "file:// URIs need an absolute path (file:///abs/path)",
                    ));
                }
                let decoded = percent_decode(rest).ok_or_else(|| unsupported("bad % escape"))?;
                Ok(Source::File {
                    uri: uri.to_owned(),
                    path: PathBuf::from(decoded),
                })
            }
            "http" | "https" => {
                if rest.is_empty() || rest.starts_with('/') {
                    return Err(unsupported("no host"));
                }
                Ok(Source::Http {
                    uri: uri.to_owned(),
                    url: uri.to_owned(),
                    manifest_url: Some(manifest_url(uri)),
                })
            }
            "ipfs" => {
                let ok_char = |c: char| c.is_ascii_alphanumeric() || "/._-".contains(c);
                if rest.is_empty() || rest.starts_with('/') || !rest.chars().all(ok_char) {
                    return Err(unsupported("expected ipfs://<cid>[/path]"));
                }
                let gateway = gateway.trim_end_matches('/');
                if !(gateway.starts_with("http://") || gateway.starts_with("https://")) {
                    return Err(unsupported(&format!(
                        "the IPFS gateway {gateway:?} is not an http(s) URL"
                    )));
                }
                let url = format!("{gateway}/ipfs/{rest}");
                let manifest_url = rest.contains('/').then(|| format!("{url}.leaves"));
                Ok(Source::Http {
                    uri: uri.to_owned(),
                    url,
                    manifest_url,
                })
            }
            other => Err(unsupported(&format!(
                "scheme {other:?} is not supported (file://, http(s)://, ipfs://)"
            ))),
        }
    }

    /// The URI as registered.
    pub(crate) fn uri(&self) -> &str {
        match self {
            Source::File { uri, .. } | Source::Http { uri, .. } => uri,
        }
    }

    /// The source's leaf manifest bytes (at most `limit`), `None` when it has none.
    pub(crate) fn manifest(
        &self,
        agent: &Agent,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Source::File { path, .. } => {
                let path = crate::merkle::leaves_manifest_path(path);
                let file = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(StoreError::io(&path, e)),
                };
                let mut bytes = Vec::new();
                file.take(limit.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .map_err(|e| StoreError::io(&path, e))?;
                Ok(Some(bytes))
            }
            Source::Http { manifest_url, .. } => {
                let Some(url) = manifest_url else {
                    return Ok(None);
                };
                match http::get_bytes(agent, url, limit) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(StoreError::Http {
                        status: Some(404 | 410),
                        ..
                    }) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// A reader over bytes `[start, start + len)` of the source, whose size must be `size`.
    pub(crate) fn open_range(
        &self,
        agent: &Agent,
        start: u64,
        len: u64,
        size: u64,
    ) -> Result<RangeBody, StoreError> {
        match self {
            Source::File { uri, path } => {
                let mut file = File::open(path).map_err(|e| StoreError::io(path, e))?;
                let actual = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
                if actual != size {
                    return Err(StoreError::SizeMismatch {
                        what: uri.clone(),
                        expected: size,
                        actual,
                    });
                }
                file.seek(SeekFrom::Start(start))
                    .map_err(|e| StoreError::io(path, e))?;
                Ok(RangeBody {
                    reader: Box::new(file.take(len)),
                    to_end: false,
                })
            }
            Source::Http { url, .. } => http::get_range(agent, url, start, len, size),
        }
    }

    /// Wraps an error met while reading the body of a range.
    pub(crate) fn read_error(&self, e: std::io::Error) -> StoreError {
        match self {
            Source::File { path, .. } => StoreError::io(path, e),
            Source::Http { url, .. } => http::transport_error(url, e),
        }
    }
}

/// `<url>.leaves`, inserted before any query string.
fn manifest_url(url: &str) -> String {
    match url.split_once('?') {
        Some((path, query)) => format!("{path}.leaves?{query}"),
        None => format!("{url}.leaves"),
    }
}

/// Decodes `%XX` escapes; `None` on a malformed escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: &str = "http://127.0.0.1:8080/";

    #[test]
    fn parses_each_scheme() {
        match Source::parse("file:///tmp/a%20b.gguf", GW).unwrap() {
            Source::File { path, .. } => assert_eq!(path, PathBuf::from("/tmp/a b.gguf")),
            other @ Source::Http { .. } => panic!("{other:?}"),
        }
        match Source::parse("https://h.example/m.gguf?x=1", GW).unwrap() {
            Source::Http { manifest_url, .. } => {
                assert_eq!(manifest_url.unwrap(), "https://h.example/m.gguf.leaves?x=1");
            }
            other @ Source::File { .. } => panic!("{other:?}"),
        }
        match Source::parse("ipfs://bafyabc/model.gguf", GW).unwrap() {
            Source::Http {
                url, manifest_url, ..
            } => {
                assert_eq!(url, "http://127.0.0.1:8080/ipfs/bafyabc/model.gguf");
                assert_eq!(manifest_url.unwrap(), format!("{url}.leaves"));
            }
            other @ Source::File { .. } => panic!("{other:?}"),
        }
        match Source::parse("ipfs://bafyabc", GW).unwrap() {
            Source::Http { manifest_url, .. } => assert!(manifest_url.is_none()),
            other @ Source::File { .. } => panic!("{other:?}"),
        }
    }

    #[test]
    fn check_uri_accepts_what_nodes_fetch() {
        for uri in [
            "file:///models/m.gguf",
            "https://example.com/m.gguf",
            "http://127.0.0.1:9/m.gguf",
            "ipfs://bafyabc/m.gguf",
        ] {
            check_uri(uri).unwrap();
        }
        for (uri, needle) in [
            ("not a uri", "' '"),
            ("ar://abc", "scheme"),
            ("https://a b/m", "' '"),
            ("/tmp/x", "no scheme"),
        ] {
            let msg = check_uri(uri).unwrap_err().to_string();
            assert!(msg.contains(uri) && msg.contains(needle), "{uri}: {msg}");
        }
    }

    #[test]
    fn rejects_bad_uris_naming_them() {
        for (uri, needle) in [
            ("ar://abc", "scheme"),
            ("/tmp/x", "no scheme"),
            ("file://rel/path", "absolute"),
            ("file:///bad%zz", "escape"),
            ("http:///x", "host"),
            ("ipfs://", "ipfs://<cid>"),
            ("ipfs://a b", "ipfs://<cid>"),
        ] {
            let msg = Source::parse(uri, GW).unwrap_err().to_string();
            assert!(msg.contains(uri) && msg.contains(needle), "{uri}: {msg}");
        }
        let msg = Source::parse("ipfs://bafy", "127.0.0.1:8080")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("gateway"), "{msg}");
    }
}
