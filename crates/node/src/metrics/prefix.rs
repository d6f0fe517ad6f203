//! The prefix cache's metrics: how often a prompt found a cached prefix and how many prompt
//! tokens that saved, summed over the node's models (`docs/node.md`, "Prefix cache").

use aikernel_drivers::PrefixStats;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Registers the counters and gauges of `stats`.
pub(super) fn register(registry: &mut Registry, stats: &PrefixStats) {
    let counters: [(&str, &str, u64); 5] = [
        (
            "prefix_cache_lookups",
            "Prompt prefills that consulted the prefix cache",
            stats.lookups,
        ),
        (
            "prefix_cache_hits",
            "Prompt prefills that reused a cached prefix",
            stats.hits,
        ),
        (
            "prefix_cache_tokens_reused",
            "Prompt tokens taken from the prefix cache instead of computed (tokens saved)",
            stats.tokens_reused,
        ),
        (
            "prefix_cache_tokens_computed",
            "Prompt tokens computed by prefills that consulted the prefix cache",
            stats.tokens_computed,
        ),
        (
            "prefix_cache_evictions",
            "Prefix cache entries evicted to stay within the budget",
            stats.evictions,
        ),
    ];
    for (name, help, value) in counters {
        registry.register(name, help, ConstCounter::new(value));
    }
    let ratio = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    let gauges: [(&str, &str, f64); 4] = [
        (
            "prefix_cache_hit_ratio",
            "Hits per lookup",
            ratio(stats.hits, stats.lookups),
        ),
        (
            "prefix_cache_saved_ratio",
            "Share of prompt tokens taken from the cache",
            ratio(
                stats.tokens_reused,
                stats.tokens_reused + stats.tokens_computed,
            ),
        ),
        (
            "prefix_cache_entries",
            "Sequences held",
            stats.entries as f64,
        ),
        (
            "prefix_cache_bytes",
            "Bytes of key/value cache held",
            stats.bytes as f64,
        ),
    ];
    for (name, help, value) in gauges {
        registry.register(name, help, ConstGauge::new(value));
    }
}

#[cfg(test)]
mod tests {
    use super::super::Metrics;
    use super::*;

    #[test]
    fn renders_hit_rate_and_tokens_saved_over_models() {
        let m = Metrics::default();
        let stats = PrefixStats {
            lookups: 4,
            hits: 3,
            tokens_reused: 300,
            tokens_computed: 100,
            evictions: 0,
            entries: 2,
            bytes: 1000,
        };
        m.prefix_cache(1, stats);
        m.prefix_cache(2, stats);
        m.prefix_cache(1, stats); // the latest per model, not a sum over computations
        let text = m.render();
        for line in [
            "aikernel_node_prefix_cache_lookups_total 8\n",
            "aikernel_node_prefix_cache_hits_total 6\n",
            "aikernel_node_prefix_cache_tokens_reused_total 600\n",
            "aikernel_node_prefix_cache_tokens_computed_total 200\n",
            "aikernel_node_prefix_cache_hit_ratio 0.75\n",
            "aikernel_node_prefix_cache_saved_ratio 0.75\n",
            "aikernel_node_prefix_cache_bytes 2000.0\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
