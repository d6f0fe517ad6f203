//! The HTTP endpoint, served by hyper: `/metrics` (Prometheus text), `/health` (JSON; 503 when
//! the node is not following the chain or is not eligible for prompts), `/live` (503 only when
//! polls stop: for supervisors that restart the process, which cannot fix eligibility).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use crate::NodeError;
use crate::metrics::{self, Metrics, unix_now};

/// How long a client may take to send its request's header.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last in all (one request: no keep-alive).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);
/// The pause after a failed `accept` (out of file descriptors, say) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Binds `addr` and serves `/metrics`, `/health` and `/live` until the runtime stops.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr, NodeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| NodeError::Misconfigured(format!("metrics_addr {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| NodeError::Misconfigured(format!("metrics_addr {addr}: {e}")))?;
    spawn_server(
        listener,
        "metrics endpoint",
        CONNECTION_TIMEOUT,
        move |request| {
            let response = respond(&metrics, request.uri().path());
            async move { response }
        },
    );
    Ok(bound)
}

/// Serves HTTP/1.1 on `listener` until the runtime stops, answering each request with
/// `handler`: one request per connection (so clients that read the answer to its end, as
/// simple scripts do, finish), a header timeout, `connection_timeout` for the whole
/// connection, and a pause after a failed `accept` (out of file descriptors, say) instead of a
/// busy loop. `what` names the server in logs. The node's metrics endpoint and the CLI's
/// explorer both serve through it.
pub fn spawn_server<H, F>(
    listener: TcpListener,
    what: &'static str,
    connection_timeout: Duration,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(
                        stream,
                        what,
                        connection_timeout,
                        handler.clone(),
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "{what}: accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    });
}

async fn connection<H, F>(stream: TcpStream, what: &'static str, timeout: Duration, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let response = handler(request);
        async move { Ok::<_, Infallible>(response.await) }
    });
    let serving = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(timeout, serving).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "{what}: connection failed"),
        Err(_) => tracing::debug!("{what}: connection timed out"),
    }
}

/// The answer to a request for `path`.
fn respond(metrics: &Metrics, path: &str) -> Response<Full<Bytes>> {
    match path {
        "/metrics" => response(StatusCode::OK, metrics::CONTENT_TYPE, metrics.render()),
        "/health" => {
            let (ok, body) = metrics.health(unix_now());
            response(status(ok), "application/json", body)
        }
        "/live" => {
            let ok = metrics.following(unix_now());
            response(status(ok), "text/plain", format!("following: {ok}\n"))
        }
        _ => response(
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /metrics, /health or /live\n".to_owned(),
        ),
    }
}

fn response(status: StatusCode, kind: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    response
}

fn status(ok: bool) -> StatusCode {
    if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn serves_metrics_and_health_over_http() {
        let m = Arc::new(Metrics::default());
        m.last_poll_unix.store(unix_now(), Ordering::Relaxed);
        let addr = serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&m))
            .await
            .unwrap();
        for (path, expect) in [
            ("/metrics", "aikernel_node_prompts_seen_total"),
            ("/health", "\"ok\":true"),
            ("/live", "following: true"),
            ("/x", "404"),
        ] {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            // In pieces, as some clients send it: the path must not be lost.
            s.write_all(b"GET ").await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            s.write_all(format!("{path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            assert!(out.contains(expect), "{path}: {out}");
        }
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_request_is_dropped() {
        let m = Arc::new(Metrics::default());
        let addr = serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&m))
            .await
            .unwrap();
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap();
        // Meanwhile others are served.
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
        // The unfinished header times out and the server closes the connection.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(HEADER_TIMEOUT * 3, slow.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "still open after the header timeout");
    }
}
