//! Reading event logs over a block range in chunks: public RPC providers cap the block range
//! (and the result size) of one `eth_getLogs`, so a long range is asked for piece by piece.

use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use alloy::transports::TransportError;

/// Why logs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// The node refused or failed `eth_getLogs` for a chunk.
    #[error("reading logs of blocks {from}..={to}: {source}")]
    Rpc {
        /// First block of the failed chunk.
        from: u64,
        /// Last block of the failed chunk.
        to: u64,
        /// The transport error.
        #[source]
        source: TransportError,
    },
    /// A log matched the filter but does not decode as the expected event.
    #[error("decoding a {event} log: {source}")]
    Decode {
        /// The event's signature.
        event: &'static str,
        /// The decoding error.
        #[source]
        source: alloy::sol_types::Error,
    },
}

/// Every log matching `filter` (its own block range is ignored) in blocks `from..=to`, asked
/// for `chunk` blocks at a time (a `chunk` of 0 counts as 1), in block order.
pub async fn get_logs_chunked<P: Provider + ?Sized>(
    provider: &P,
    filter: &Filter,
    from: u64,
    to: u64,
    chunk: u64,
) -> Result<Vec<Log>, LogsError> {
    let chunk = chunk.max(1);
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = to.min(start.saturating_add(chunk - 1));
        let piece = filter.clone().from_block(start).to_block(end);
        let logs = provider
            .get_logs(&piece)
            .await
            .map_err(|source| LogsError::Rpc {
                from: start,
                to: end,
                source,
            })?;
        out.extend(logs);
        if end == u64::MAX {
            break;
        }
        start = end + 1;
    }
    Ok(out)
}

/// Like [`get_logs_chunked`], with each log decoded as event `E` (the filter should select
/// `E`'s signature).
pub async fn get_events_chunked<E: SolEvent, P: Provider + ?Sized>(
    provider: &P,
    filter: &Filter,
    from: u64,
    to: u64,
    chunk: u64,
) -> Result<Vec<(E, Log)>, LogsError> {
    get_logs_chunked(provider, filter, from, to, chunk)
        .await?
        .into_iter()
        .map(|log| {
            let event = log
                .log_decode::<E>()
                .map_err(|source| LogsError::Decode {
                    event: E::SIGNATURE,
                    source,
                })?
                .inner
                .data;
            Ok((event, log))
        })
        .collect()
}
