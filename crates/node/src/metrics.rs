//! Prometheus metrics and a health endpoint, served over plain HTTP/1.1.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::NodeError;

/// Counters and gauges of one node.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Prompts assigned to this node.
    pub prompts_seen: AtomicU64,
    /// Outputs computed.
    pub prompts_computed: AtomicU64,
    /// Commits mined.
    pub prompts_committed: AtomicU64,
    /// Reveals mined.
    pub prompts_revealed: AtomicU64,
    /// Rewards received (majority member of a settled prompt).
    pub prompts_won: AtomicU64,
    /// Times this node was slashed.
    pub slashed: AtomicU64,
    /// Settled prompts whose output differs from this node's.
    pub disagreements: AtomicU64,
    /// Tokens generated.
    pub tokens_generated: AtomicU64,
    /// Milliseconds spent computing.
    pub compute_ms: AtomicU64,
    /// Prompts waiting for the compute thread.
    pub queue_depth: AtomicU64,
    /// Last block scanned.
    pub last_block: AtomicU64,
    /// Transactions that failed.
    pub tx_failures: AtomicU64,
    /// Unix time of the last successful poll (health).
    pub last_poll_unix: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let counters: [(&str, &str, &AtomicU64); 9] = [
            (
                "prompts_seen",
                "Prompts assigned to this node",
                &self.prompts_seen,
            ),
            (
                "prompts_computed",
                "Outputs computed",
                &self.prompts_computed,
            ),
            (
                "prompts_committed",
                "Commits mined",
                &self.prompts_committed,
            ),
            ("prompts_revealed", "Reveals mined", &self.prompts_revealed),
            (
                "prompts_won",
                "Settled prompts this node was paid for",
                &self.prompts_won,
            ),
            ("slashed", "Times this node was slashed", &self.slashed),
            (
                "disagreements",
                "Settled outputs that differ from this node's",
                &self.disagreements,
            ),
            (
                "tokens_generated",
                "Tokens generated",
                &self.tokens_generated,
            ),
            ("tx_failures", "Transactions that failed", &self.tx_failures),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP aikernel_node_{name}_total {help}.");
            let _ = writeln!(out, "# TYPE aikernel_node_{name}_total counter");
            let _ = writeln!(
                out,
                "aikernel_node_{name}_total {}",
                value.load(Ordering::Relaxed)
            );
        }
        let tokens = self.tokens_generated.load(Ordering::Relaxed);
        let ms = self.compute_ms.load(Ordering::Relaxed);
        let rate = if ms == 0 {
            0.0
        } else {
            tokens as f64 * 1000.0 / ms as f64
        };
        let gauges = [
            (
                "tokens_per_second",
                "Generation rate over all computations",
                format!("{rate:.3}"),
            ),
            (
                "queue_depth",
                "Prompts waiting for the compute thread",
                self.queue_depth.load(Ordering::Relaxed).to_string(),
            ),
            (
                "last_block",
                "Last block scanned",
                self.last_block.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP aikernel_node_{name} {help}.");
            let _ = writeln!(out, "# TYPE aikernel_node_{name} gauge");
            let _ = writeln!(out, "aikernel_node_{name} {value}");
        }
        out
    }

    /// `/health`: ok while the last poll is recent.
    pub fn health(&self, now_unix: u64) -> (bool, String) {
        let last = self.last_poll_unix.load(Ordering::Relaxed);
        let age = now_unix.saturating_sub(last);
        let ok = last != 0 && age <= 30;
        let body = format!(
            "{{\"ok\":{ok},\"lastBlock\":{},\"secondsSinceLastPoll\":{age},\"queueDepth\":{}}}",
            self.last_block.load(Ordering::Relaxed),
            self.queue_depth.load(Ordering::Relaxed)
        );
        (ok, body)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, kind, body) = match path {
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                    "/health" => {
                        let (ok, body) = metrics.health(unix_now());
                        let status = if ok {
                            "200 OK"
                        } else {
                            "503 Service Unavailable"
                        };
                        (status, "application/json", body)
                    }
                    _ => (
                        "404 Not Found",
                        "text/plain",
                        "try /metrics or /health\n".to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        Metrics::inc(&m.prompts_committed);
        m.tokens_generated.store(50, Ordering::Relaxed);
        m.compute_ms.store(1000, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("aikernel_node_prompts_committed_total 1\n"));
        assert!(text.contains("aikernel_node_tokens_per_second 50.000\n"));
        assert!(text.contains("# TYPE aikernel_node_queue_depth gauge"));
    }

    #[test]
    fn health_turns_bad_when_polls_stop() {
        let m = Metrics::default();
        assert!(!m.health(100).0, "never polled");
        m.last_poll_unix.store(100, Ordering::Relaxed);
        assert!(m.health(110).0);
        assert!(!m.health(200).0);
    }

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
            ("/x", "404"),
        ] {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            assert!(out.contains(expect), "{path}: {out}");
        }
    }
}
