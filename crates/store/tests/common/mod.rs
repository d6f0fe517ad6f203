//! A tiny HTTP/1.1 file server for the tests, with Range support and scripted faults.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// What the server does with one request to a route, before it serves it normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Sends the head (with the full length) and this many body bytes, then closes.
    DropAfter(usize),
    /// Answers with this status and no body.
    Status(u16),
    /// Answers `302 Found` with `Location: <this path on the same server>`.
    Redirect(&'static str),
}

/// One served file.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub body: Vec<u8>,
    /// Ignore `Range` and always answer 200 with the whole body.
    pub ignore_range: bool,
    /// Consumed one per request; when empty, requests are served normally.
    pub faults: VecDeque<Fault>,
    /// Applied to every request once `faults` is empty (a permanent fault).
    pub always: Option<Fault>,
    /// Sends the body in 1 KiB pieces with this pause after each (a slow link).
    pub throttle: Option<std::time::Duration>,
}

/// A logged request: the path and the first byte of its `Range`, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub path: String,
    pub range_start: Option<u64>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    log: Vec<Logged>,
}

/// The running server; it lives until the test process ends.
#[derive(Clone)]
pub struct Server {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                thread::spawn(move || {
                    let _ = handle(stream, &shared);
                });
            }
        });
        Server { base, state }
    }

    /// Serves `body` at `path` (replacing any route there).
    pub fn serve(&self, path: &str, body: &[u8]) {
        self.route(
            path,
            Route {
                body: body.to_vec(),
                ..Route::default()
            },
        );
    }

    pub fn route(&self, path: &str, route: Route) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), route);
    }

    pub fn remove(&self, path: &str) {
        self.state.lock().unwrap().routes.remove(path);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests made so far to `path`.
    pub fn requests(&self, path: &str) -> Vec<Logged> {
        let state = self.state.lock().unwrap();
        state
            .log
            .iter()
            .filter(|l| l.path == path)
            .cloned()
            .collect()
    }

    /// The `Range` start of each logged request for `path`, in order (`None`: no range).
    pub fn range_starts(&self, path: &str) -> Vec<Option<u64>> {
        self.requests(path).iter().map(|r| r.range_start).collect()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

fn handle(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = parse_range(value.trim());
        }
    }
    let (route, fault) = {
        let mut state = state.lock().unwrap();
        state.log.push(Logged {
            path: path.clone(),
            range_start: range.map(|(a, _)| a),
        });
        match state.routes.get_mut(&path) {
            Some(route) => {
                let fault = route.faults.pop_front().or(route.always);
                (Some(route.clone()), fault)
            }
            None => (None, None),
        }
    };
    let mut out = stream;
    let Some(route) = route else {
        return respond(&mut out, "404 Not Found", &[], b"not found", None);
    };
    if let Some(Fault::Status(code)) = fault {
        return respond(&mut out, &format!("{code} Fault"), &[], b"", None);
    }
    if let Some(Fault::Redirect(to)) = fault {
        return respond(
            &mut out,
            "302 Found",
            &[format!("Location: {to}")],
            b"",
            None,
        );
    }
    let total = route.body.len() as u64;
    let (status, headers, body) = match range.filter(|_| !route.ignore_range) {
        Some((start, end)) => {
            let end = end
                .unwrap_or(total.saturating_sub(1))
                .min(total.saturating_sub(1));
            if start >= total {
                return respond(
                    &mut out,
                    "416 Range Not Satisfiable",
                    &[format!("Content-Range: bytes */{total}")],
                    b"",
                    None,
                );
            }
            (
                "206 Partial Content",
                vec![format!("Content-Range: bytes {start}-{end}/{total}")],
                &route.body[start as usize..=end as usize],
            )
        }
        None => ("200 OK", Vec::new(), &route.body[..]),
    };
    let cut = match fault {
        Some(Fault::DropAfter(n)) => Some(n.min(body.len())),
        _ => None,
    };
    respond_throttled(&mut out, status, &headers, body, cut, route.throttle)
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    headers: &[String],
    body: &[u8],
    cut: Option<usize>,
) -> std::io::Result<()> {
    respond_throttled(out, status, headers, body, cut, None)
}

fn respond_throttled(
    out: &mut TcpStream,
    status: &str,
    headers: &[String],
    body: &[u8],
    cut: Option<usize>,
    throttle: Option<std::time::Duration>,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    let body = &body[..cut.unwrap_or(body.len())];
    match throttle {
        Some(pause) => {
            for piece in body.chunks(1024) {
                out.write_all(piece)?;
                out.flush()?;
                thread::sleep(pause);
            }
        }
        None => out.write_all(body)?,
    }
    out.flush()?;
    out.shutdown(std::net::Shutdown::Both)
}

fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()))
}

/// Deterministic test bytes.
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 31 + 7 + seed as usize * 13) % 251) as u8)
        .collect()
}
