//! The blocking HTTP client (ureq) and the two requests the crate makes: a ranged GET of a
//! model's bytes and a bounded GET of a small body (a leaf manifest, a content blob).

use std::io::{self, Read};
use std::time::Duration;

use ureq::Agent;
use ureq::http::{Response, StatusCode};

use crate::StoreError;

/// Connection timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed until the response head arrives.
const RESPONSE_TIMEOUT: Duration = Duration::from_mins(1);
/// Longest silence allowed while reading a body: a stalled transfer fails instead of hanging.
const READ_TIMEOUT: Duration = Duration::from_mins(1);

/// An agent with the crate's timeouts, which reports HTTP error statuses as responses.
pub(crate) fn agent(global_timeout: Option<Duration>) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .timeout_global(global_timeout)
        .user_agent(concat!("aikernel-store/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// A transport failure of a request to `url`.
pub(crate) fn transport_error(url: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Http {
        uri: url.to_owned(),
        status: None,
        message: e.to_string(),
    }
}

fn status_error(url: &str, status: StatusCode) -> StoreError {
    StoreError::Http {
        uri: url.to_owned(),
        status: Some(status.as_u16()),
        message: format!("status {status}"),
    }
}

/// A body positioned at the first byte asked for.
pub(crate) struct RangeBody {
    /// The bytes from the requested start.
    pub(crate) reader: Box<dyn Read + Send>,
    /// Whether the reader runs to the end of the file rather than the end of the range
    /// (the server ignored `Range`; reading on saves a request per range).
    pub(crate) to_end: bool,
}

/// A reader over bytes `[start, start + len)` of the resource at `url`, whose full size must
/// be `size`. Uses a `Range` request; a server that ignores it (200) is read from the start,
/// the leading bytes are skipped, and the body runs to the end of the file.
pub(crate) fn get_range(
    agent: &Agent,
    url: &str,
    start: u64,
    len: u64,
    size: u64,
) -> Result<RangeBody, StoreError> {
    let end = start + len.saturating_sub(1);
    let response = agent
        .get(url)
        .header("Range", format!("bytes={start}-{end}"))
        .call()
        .map_err(|e| transport_error(url, e))?;
    let status = response.status();
    if status == StatusCode::PARTIAL_CONTENT {
        if let Some((first, total)) = content_range(&response) {
            if first != start {
                return Err(StoreError::Http {
                    uri: url.to_owned(),
                    status: Some(206),
                    message: format!("asked for bytes from {start}, got bytes from {first}"),
                });
            }
            if let Some(total) = total.filter(|t| *t != size) {
                return Err(size_mismatch(url, size, total));
            }
        }
        Ok(RangeBody {
            reader: Box::new(response.into_body().into_reader().take(len)),
            to_end: false,
        })
    } else if status == StatusCode::OK {
        if let Some(total) = content_length(&response).filter(|t| *t != size) {
            return Err(size_mismatch(url, size, total));
        }
        tracing::debug!(
            url,
            start,
            "server ignored the Range header; skipping ahead"
        );
        let mut reader = response.into_body().into_reader();
        let skipped = io::copy(&mut (&mut reader).take(start), &mut io::sink())
            .map_err(|e| transport_error(url, e))?;
        if skipped < start {
            return Err(size_mismatch(url, size, skipped));
        }
        Ok(RangeBody {
            reader: Box::new(reader.take(size - start)),
            to_end: true,
        })
    } else {
        Err(status_error(url, status))
    }
}

/// The body of `url`, at most `limit` bytes (a longer body is an error).
pub(crate) fn get_bytes(agent: &Agent, url: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
    let response = agent.get(url).call().map_err(|e| transport_error(url, e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(status_error(url, status));
    }
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| transport_error(url, e))?;
    if body.len() as u64 > limit {
        return Err(StoreError::Http {
            uri: url.to_owned(),
            status: Some(status.as_u16()),
            message: format!("body longer than the {limit} bytes expected"),
        });
    }
    Ok(body)
}

fn size_mismatch(url: &str, expected: u64, actual: u64) -> StoreError {
    StoreError::SizeMismatch {
        what: url.to_owned(),
        expected,
        actual,
    }
}

fn header<'a, B>(response: &'a Response<B>, name: &str) -> Option<&'a str> {
    response.headers().get(name)?.to_str().ok()
}

fn content_length<B>(response: &Response<B>) -> Option<u64> {
    header(response, "content-length")?.trim().parse().ok()
}

/// `Content-Range: bytes first-last/total` → `(first, Some(total))` (`None` for `*`).
fn content_range<B>(response: &Response<B>) -> Option<(u64, Option<u64>)> {
    let value = header(response, "content-range")?.trim();
    let spec = value.strip_prefix("bytes")?.trim();
    let (range, total) = spec.split_once('/')?;
    let (first, _) = range.split_once('-')?;
    Some((first.trim().parse().ok()?, total.trim().parse().ok()))
}
