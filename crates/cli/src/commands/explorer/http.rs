//! The explorer's HTTP server (hyper, HTTP/1.1, as the node's metrics endpoint): the page's
//! three static files and the JSON API; every error is a JSON body with its status.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use super::api::Explorer;
use super::routes::{self, Route};

/// How long one connection may last in all: a re-verification runs the model.
const CONNECTION_TIMEOUT: Duration = Duration::from_mins(10);

/// Binds `addr` and serves the explorer until the runtime stops; returns the bound address.
pub(crate) async fn serve(addr: SocketAddr, explorer: Arc<Explorer>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("explorer: cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    aikernel_node::http::spawn_server(listener, "explorer", CONNECTION_TIMEOUT, move |request| {
        let explorer = Arc::clone(&explorer);
        async move { respond(&explorer, &request).await }
    });
    Ok(bound)
}

/// The answer to one request.
async fn respond(explorer: &Explorer, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let uri = request.uri();
    let method = request.method();
    let route = match routes::route(method, uri.path(), uri.query()) {
        Ok(route) => route,
        Err(e) => return json_response(e.status(), &e.to_json()),
    };
    if let Route::Static(body, kind) = route {
        return response(StatusCode::OK, kind, Bytes::from_static(body.as_bytes()));
    }
    let started = std::time::Instant::now();
    let answer = explorer.answer(&route).await;
    tracing::debug!(
        path = uri.path(),
        ms = started.elapsed().as_millis() as u64,
        ok = answer.is_ok(),
        "explorer: answered"
    );
    let mut out = match answer {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(e) => {
            tracing::warn!(path = uri.path(), error = %e, "explorer: request failed");
            json_response(e.status(), &e.to_json())
        }
    };
    if method == Method::HEAD {
        *out.body_mut() = Full::new(Bytes::new());
    }
    out
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    response(
        status,
        "application/json",
        Bytes::from(value.to_string().into_bytes()),
    )
}

fn response(status: StatusCode, kind: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
