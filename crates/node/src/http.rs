//! The HTTP endpoint: `/metrics` (Prometheus text), `/health` (JSON; 503 when the node is not
//! following the chain or is not eligible for prompts), `/live` (503 only when polls stop:
//! for supervisors that restart the process, which cannot fix eligibility).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::NodeError;
use crate::metrics::{Metrics, unix_now};

/// Binds `addr` and serves `/metrics` and `/health` until the task is dropped.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr, NodeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| NodeError::Misconfigured(format!("metrics_addr {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| NodeError::Misconfigured(format!("metrics_addr {addr}: {e}")))?;
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = read_head(&mut socket, &mut buf).await;
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, kind, body) = match path {
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                    "/health" => {
                        let (ok, body) = metrics.health(unix_now());
                        (status(ok), "application/json", body)
                    }
                    "/live" => {
                        let ok = metrics.following(unix_now());
                        (status(ok), "text/plain", format!("following: {ok}\n"))
                    }
                    _ => (
                        "404 Not Found",
                        "text/plain",
                        "try /metrics, /health or /live\n".to_owned(),
                    ),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(bound)
}

/// Reads a request until the end of its header (a client may send it in several pieces),
/// the buffer is full, the client stops, or 5 s pass; returns the bytes read.
async fn read_head(socket: &mut tokio::net::TcpStream, buf: &mut [u8]) -> usize {
    let mut n = 0;
    let read = async {
        while n < buf.len() {
            match socket.read(&mut buf[n..]).await {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
    n
}

fn status(ok: bool) -> &'static str {
    if ok {
        "200 OK"
    } else {
        "503 Service Unavailable"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

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
}
