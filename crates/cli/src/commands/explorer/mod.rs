//! `aikernel explorer`: one web page that reads the kernel's chain live (the latest prompts with
//! their committees, a prompt's timeline, nodes, models, network figures) and re-verifies a
//! settled prompt on request, served with its small JSON API by this process. The page's HTML,
//! script and style are compiled into the binary; it loads nothing from elsewhere.

mod api;
mod http;
mod index;
mod routes;
mod shape;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use alloy::providers::{Provider as _, ProviderBuilder};
use anyhow::Context as _;
use clap::Args;

pub(crate) use self::api::{Explorer, VerifyOptions};
use crate::global::{GlobalArgs, parse_threads};
use crate::output::outln;
use crate::rpc::{self, Kernel};

/// The explorer's default address.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8090";

/// Arguments of `aikernel explorer`.
#[derive(Debug, Args)]
pub(crate) struct ExplorerArgs {
    /// Address to serve the page and its API on (port 0: any free port).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Model cache the re-verify button's runs use (default: the node's).
    #[arg(long)]
    cache_dir: Option<PathBuf>,

    /// Engine threads of a re-verification, 1 to 4 per core (never changes results).
    #[arg(long, default_value_t = 1, value_parser = parse_threads)]
    threads: usize,
}

/// Runs `aikernel explorer` until Ctrl-C or SIGTERM.
pub(crate) fn run(args: &ExplorerArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let options = VerifyOptions {
            rpc: global.rpc.clone(),
            deployment: global.deployment.clone(),
            cache_dir: args.cache_dir.clone(),
            threads: args.threads,
        };
        let addr = start(args.listen, options).await?;
        let url = format!("http://{addr}/");
        tracing::info!(%url, "explorer: serving");
        if global.json {
            outln!("{}", serde_json::json!({ "url": url }));
        } else {
            outln!(
                "explorer at {url} (reading {}; Ctrl-C stops it)",
                global.rpc
            );
        }
        super::shutdown_signal().await;
        Ok(())
    })
}

/// Starts the explorer of `options.deployment` on `listen` inside the current runtime and
/// returns the address it serves on. An unreachable chain is not an error: the page says so
/// until it answers.
pub(crate) async fn start(
    listen: SocketAddr,
    options: VerifyOptions,
) -> anyhow::Result<SocketAddr> {
    let deployment = rpc::load_deployment(&options.deployment)?;
    let url = options
        .rpc
        .parse()
        .with_context(|| format!("--rpc {} is not a URL", options.rpc))?;
    let provider = ProviderBuilder::new().connect_http(url).erased();
    if let Err(e) = deployment.check(&provider).await {
        tracing::warn!(error = %e, rpc = %options.rpc, "explorer: the chain does not answer as the deployment expects yet");
    }
    let kernel = Kernel {
        provider,
        deployment,
    };
    http::serve(listen, Arc::new(Explorer::new(kernel, options))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn request(addr: SocketAddr, head: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let code = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = out.split_once("\r\n\r\n").unwrap().1.to_owned();
        (code, body)
    }

    /// Against a chain that does not answer: the page is served, every API call gets a JSON
    /// 502 that says so, and bad requests get their own status, all without a crash.
    #[tokio::test]
    async fn an_unreachable_chain_gets_json_errors_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deployment.json");
        let deployment = aikernel_chain::Deployment {
            chain_id: 31337,
            start_block: 0,
            eai: alloy::primitives::Address::ZERO,
            models: alloy::primitives::Address::ZERO,
            scheduler: alloy::primitives::Address::ZERO,
            gpu: alloy::primitives::Address::ZERO,
            context: alloy::primitives::Address::ZERO,
            kernel: alloy::primitives::Address::ZERO,
            treasury: alloy::primitives::Address::ZERO,
        };
        std::fs::write(&file, serde_json::to_string(&deployment).unwrap()).unwrap();
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let rpc = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let options = VerifyOptions {
            rpc,
            deployment: file,
            cache_dir: None,
            threads: 1,
        };
        let addr = start("127.0.0.1:0".parse().unwrap(), options)
            .await
            .unwrap();
        let (code, page) = request(addr, "GET / HTTP/1.1").await;
        assert_eq!(code, 200);
        assert!(page.contains("<script src=\"/app.js\""), "{page}");
        let (code, _) = request(addr, "GET /app.js HTTP/1.1").await;
        assert_eq!(code, 200);
        for path in [
            "/api/network",
            "/api/prompts",
            "/api/prompts/1",
            "/api/nodes",
            "/api/models",
        ] {
            let (code, body) = request(addr, &format!("GET {path} HTTP/1.1")).await;
            assert_eq!(code, 502, "{path}: {body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["chainUnreachable"], true, "{path}: {v}");
            assert!(v["error"].as_str().unwrap().contains("block number"), "{v}");
        }
        let (code, body) = request(addr, "GET /api/prompts/x HTTP/1.1").await;
        assert_eq!(code, 400, "{body}");
        let (code, body) = request(addr, "DELETE /api/nodes HTTP/1.1").await;
        assert_eq!(code, 405, "{body}");
        let (code, body) = request(addr, "GET /nothing HTTP/1.1").await;
        assert_eq!(code, 404, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("/api/network"), "{v}");
    }
}
