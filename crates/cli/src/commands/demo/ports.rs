//! Free local ports for the demo's servers (the nodes' metrics, the explorer).

use anyhow::Context as _;

/// The first `count` ports at or after `start` that nothing on 127.0.0.1 listens on, for the
/// nodes' metrics servers (usually `--port` + 101, 102, 103) and the explorer (usually 8090):
/// a port another program holds is skipped instead of failing a server at startup.
pub(super) fn free_ports_from(start: u16, count: usize) -> anyhow::Result<Vec<u16>> {
    let mut ports = Vec::with_capacity(count);
    let mut candidate = start;
    while ports.len() < count {
        if std::net::TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            ports.push(candidate);
        }
        candidate = candidate
            .checked_add(1)
            .with_context(|| format!("no {count} free ports between {start} and 65535"))?;
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::free_ports_from;

    #[test]
    fn a_metrics_port_in_use_is_skipped() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let ports = free_ports_from(busy, 3).unwrap();
        assert_eq!(ports.len(), 3);
        assert!(
            !ports.contains(&busy),
            "{ports:?} includes the held port {busy}"
        );
        assert!(ports.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn running_out_of_ports_is_an_error_naming_the_range() {
        let err = free_ports_from(65535, 70_000).unwrap_err().to_string();
        assert!(err.contains("65535"), "{err}");
    }
}
