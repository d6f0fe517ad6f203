//! The explorer's routes and its errors: which request asks for what, and the JSON error every
//! refused or failed request gets (`{"error": "...", "status": 404}`).

use alloy::primitives::U256;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

/// Prompts per page when the request does not say.
pub(super) const DEFAULT_LIMIT: usize = 20;
/// The most prompts one page may ask for.
pub(super) const MAX_LIMIT: usize = 100;

/// Why a request got no answer, with the HTTP status it maps to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The request is malformed (a bad id, a bad query parameter).
    #[error("{0}")]
    BadRequest(String),
    /// Nothing is at that path, or no such prompt.
    #[error("{0}")]
    NotFound(String),
    /// The path exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request cannot be served in the prompt's current state (re-verifying an unsettled
    /// prompt).
    #[error("{0}")]
    Conflict(String),
    /// The chain could not be read.
    #[error("{0}")]
    Chain(String),
    /// Anything else that failed on the server (the re-run of `verify`).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Chain(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error's JSON body.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "error": self.to_string(),
            "status": self.status().as_u16(),
            "chainUnreachable": matches!(self, ApiError::Chain(_)),
        })
    }

    /// A chain read that failed, with its whole cause chain.
    pub(crate) fn chain(err: &anyhow::Error) -> ApiError {
        ApiError::Chain(crate::output::error_chain(err))
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// A static file of the page: its body and content type.
    Static(&'static str, &'static str),
    /// Counts, prompts per hour, latency, emission.
    Network,
    /// A page of the latest prompts, newest first.
    Prompts {
        /// Prompts to skip from the newest.
        offset: usize,
        /// Prompts in the page.
        limit: usize,
    },
    /// One prompt's history and timeline.
    Prompt(U256),
    /// Re-run a settled prompt (POST).
    Verify(U256),
    /// Every node.
    Nodes,
    /// Every model.
    Models,
}

/// The page: one HTML file, its script and its style, compiled into the binary.
const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const STYLE_CSS: &str = include_str!("page/style.css");

/// Maps a request to its route, or to the error it gets.
pub(super) fn route(method: &Method, path: &str, query: Option<&str>) -> Result<Route, ApiError> {
    let get = |r: Route| {
        if method == Method::GET || method == Method::HEAD {
            Ok(r)
        } else {
            Err(ApiError::MethodNotAllowed(format!(
                "{method} {path}: only GET is served here"
            )))
        }
    };
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segments.as_slice() {
        [] | ["" | "index.html"] => get(Route::Static(INDEX_HTML, "text/html; charset=utf-8")),
        ["app.js"] => get(Route::Static(
            APP_JS,
            "application/javascript; charset=utf-8",
        )),
        ["style.css"] => get(Route::Static(STYLE_CSS, "text/css; charset=utf-8")),
        ["api", "network"] => get(Route::Network),
        ["api", "nodes"] => get(Route::Nodes),
        ["api", "models"] => get(Route::Models),
        ["api", "prompts"] => {
            let (offset, limit) = page(query)?;
            get(Route::Prompts { offset, limit })
        }
        ["api", "prompts", id] => get(Route::Prompt(prompt_id(id)?)),
        ["api", "prompts", id, "verify"] => {
            let id = prompt_id(id)?;
            if method == Method::POST {
                Ok(Route::Verify(id))
            } else {
                Err(ApiError::MethodNotAllowed(format!(
                    "{method} {path}: re-verifying runs the model, so it takes POST"
                )))
            }
        }
        _ => Err(ApiError::NotFound(format!(
            "no such path {path}: the API is /api/network, /api/prompts[?offset=N&limit=N], \
             /api/prompts/ID, POST /api/prompts/ID/verify, /api/nodes, /api/models"
        ))),
    }
}

/// A prompt id: a positive decimal number.
fn prompt_id(text: &str) -> Result<U256, ApiError> {
    match text.parse::<U256>() {
        Ok(id) if !id.is_zero() && text.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(ApiError::BadRequest(format!(
            "{text:?} is not a prompt id (a positive decimal number)"
        ))),
    }
}

/// `offset` and `limit` from a query string (`limit` 1 to [`MAX_LIMIT`]).
fn page(query: Option<&str>) -> Result<(usize, usize), ApiError> {
    let mut offset = 0;
    let mut limit = DEFAULT_LIMIT;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value.parse::<usize>().map_err(|_| {
                ApiError::BadRequest(format!("{key}={value:?} is not a non-negative integer"))
            })
        };
        match key {
            "offset" => offset = number()?,
            "limit" => limit = number()?,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter {key:?} (offset and limit are)"
                )));
            }
        }
    }
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit={limit}: a page holds 1 to {MAX_LIMIT} prompts"
        )));
    }
    Ok((offset, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, query: Option<&str>) -> Result<Route, ApiError> {
        route(&Method::GET, path, query)
    }

    #[test]
    fn paths_map_to_routes() {
        assert!(matches!(get("/", None), Ok(Route::Static(_, t)) if t.starts_with("text/html")));
        assert!(
            matches!(get("/app.js", None), Ok(Route::Static(_, t)) if t.contains("javascript"))
        );
        assert_eq!(get("/api/network", None).unwrap(), Route::Network);
        assert_eq!(get("/api/nodes/", None).unwrap(), Route::Nodes);
        assert_eq!(get("/api/models", None).unwrap(), Route::Models);
        assert_eq!(
            get("/api/prompts", None).unwrap(),
            Route::Prompts {
                offset: 0,
                limit: DEFAULT_LIMIT
            }
        );
        assert_eq!(
            get("/api/prompts", Some("offset=40&limit=10")).unwrap(),
            Route::Prompts {
                offset: 40,
                limit: 10
            }
        );
        assert_eq!(
            get("/api/prompts/7", None).unwrap(),
            Route::Prompt(U256::from(7))
        );
        assert_eq!(
            route(&Method::POST, "/api/prompts/7/verify", None).unwrap(),
            Route::Verify(U256::from(7))
        );
    }

    #[test]
    fn bad_requests_get_the_right_status_and_a_clear_message() {
        let cases: [(Method, &str, Option<&str>, u16, &str); 8] = [
            (
                Method::GET,
                "/api/prompts/abc",
                None,
                400,
                "not a prompt id",
            ),
            (Method::GET, "/api/prompts/0", None, 400, "positive"),
            (Method::GET, "/api/prompts/-1", None, 400, "not a prompt id"),
            (
                Method::GET,
                "/api/prompts",
                Some("limit=0"),
                400,
                "1 to 100",
            ),
            (
                Method::GET,
                "/api/prompts",
                Some("limit=x"),
                400,
                "non-negative",
            ),
            (
                Method::GET,
                "/api/prompts",
                Some("page=2"),
                400,
                "unknown query",
            ),
            (Method::GET, "/api/prompts/7/verify", None, 405, "POST"),
            (Method::GET, "/api/nothing", None, 404, "/api/prompts"),
        ];
        for (method, path, query, status, text) in cases {
            let err = route(&method, path, query).unwrap_err();
            let body = err.to_json();
            assert_eq!(body["status"], status, "{path}: {body}");
            assert_eq!(err.status().as_u16(), status);
            let message = body["error"].as_str().unwrap();
            assert!(message.contains(text), "{path}: {message}");
        }
        let err = route(&Method::POST, "/api/nodes", None).unwrap_err();
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body = ApiError::Chain("cannot reach".into()).to_json();
        assert_eq!(body["status"], 502);
        assert_eq!(body["chainUnreachable"], true);
    }
}
