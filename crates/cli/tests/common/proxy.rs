//! A TCP proxy with an outage switch: while down it drops every connection, like an RPC
//! endpoint that keeps failing.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub struct Proxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    /// Bumped on each outage so live connections notice and close.
    epoch: Arc<AtomicU64>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicU64::new(0));
        let (d, e) = (Arc::clone(&down), Arc::clone(&epoch));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let my_epoch = e.load(Ordering::SeqCst);
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    Arc::clone(&e),
                    my_epoch,
                );
                pipe(server, client, Arc::clone(&e), my_epoch);
            }
        });
        Proxy { port, down, epoch }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts or ends an outage; starting one cuts every live connection.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, epoch: Arc<AtomicU64>, mine: u64) {
    std::thread::spawn(move || {
        from.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 16 * 1024];
        loop {
            if epoch.load(Ordering::SeqCst) != mine {
                break;
            }
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}
