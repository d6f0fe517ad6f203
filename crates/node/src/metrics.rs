//! Counters, gauges, latency histograms and the node's standing, encoded in the Prometheus text
//! format by `prometheus-client`, and the `/health` body (both served by [`crate::http`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aikernel_drivers::PrefixStats;
use alloy::primitives::U256;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::standing::{Reason, Standing, eai_number};

mod prefix;

/// The `Content-Type` of [`Metrics::render`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Counters and gauges of one node.
#[derive(Debug)]
pub struct Metrics {
    /// Prompts assigned to this node.
    pub prompts_seen: AtomicU64,
    /// Outputs computed.
    pub prompts_computed: AtomicU64,
    /// Commits mined.
    pub prompts_committed: AtomicU64,
    /// Reveals mined.
    pub prompts_revealed: AtomicU64,
    /// Rounds declined because the output would not be ready before the commit deadline.
    pub prompts_declined: AtomicU64,
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
    /// Calls the kernel rejected for good, once per request, round and action.
    pub tx_rejected: AtomicU64,
    /// Unix time of the last successful poll (health).
    pub last_poll_unix: AtomicU64,
    /// Stake top-ups sent.
    pub stake_topups: AtomicU64,
    /// Latest block timestamp minus the wall clock at the last poll, in seconds.
    pub chain_clock_skew_s: AtomicI64,
    /// The tolerance over which the skew counts as the chain running ahead.
    pub chain_clock_tolerance_s: AtomicU64,
    /// The node's standing at its last check (none before the first).
    pub standing: Mutex<Option<Standing>>,
    /// Seconds each computation (a batch of prompts computed together) took.
    compute_seconds: Histogram,
    /// Prompts in each batch the compute thread ran.
    compute_batch_size: Histogram,
    /// Seconds from this node's commit being mined to the node seeing the prompt settled.
    commit_to_settle_seconds: Histogram,
    /// When each prompt this process committed to was committed (until it settles).
    committed_at: Mutex<HashMap<U256, Instant>>,
    /// Each model's prefix cache at its last computation.
    prefix: Mutex<HashMap<u64, PrefixStats>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            prompts_seen: AtomicU64::default(),
            prompts_computed: AtomicU64::default(),
            prompts_committed: AtomicU64::default(),
            prompts_revealed: AtomicU64::default(),
            prompts_declined: AtomicU64::default(),
            prompts_won: AtomicU64::default(),
            slashed: AtomicU64::default(),
            disagreements: AtomicU64::default(),
            tokens_generated: AtomicU64::default(),
            compute_ms: AtomicU64::default(),
            queue_depth: AtomicU64::default(),
            last_block: AtomicU64::default(),
            tx_failures: AtomicU64::default(),
            tx_rejected: AtomicU64::default(),
            last_poll_unix: AtomicU64::default(),
            stake_topups: AtomicU64::default(),
            chain_clock_skew_s: AtomicI64::default(),
            chain_clock_tolerance_s: AtomicU64::default(),
            standing: Mutex::default(),
            // 0.1 s to about 27 minutes: a short answer to a long one on a slow machine.
            compute_seconds: Histogram::new(exponential_buckets(0.1, 2.0, 15)),
            // 1 to 256 prompts (the range of `max_batch`).
            compute_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            // 1 s to about 68 minutes: a few blocks to a full reveal window and escalations.
            commit_to_settle_seconds: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            committed_at: Mutex::default(),
            prefix: Mutex::default(),
        }
    }
}

/// The `/health` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    ok: bool,
    following: bool,
    /// Unknown (null) before the first standing check.
    eligible: Option<bool>,
    /// Why the node is not eligible (null when it is, or not known).
    reason: Option<String>,
    last_block: u64,
    seconds_since_last_poll: u64,
    queue_depth: u64,
    chain_clock_ahead_seconds: i64,
    chain_clock_ahead: bool,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the node's standing.
    pub fn set_standing(&self, standing: &Standing) {
        *self.standing.lock().unwrap_or_else(PoisonError::into_inner) = Some(standing.clone());
    }

    /// The node's standing at its last check.
    pub fn standing(&self) -> Option<Standing> {
        self.standing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records that a batch of `size` prompts was computed together.
    pub fn batched(&self, size: u64) {
        self.compute_batch_size.observe(size as f64);
    }

    /// Records one computation (a batch): its tokens and how long it took.
    pub fn computed(&self, tokens: u64, took: Duration) {
        self.tokens_generated.fetch_add(tokens, Ordering::Relaxed);
        self.compute_ms
            .fetch_add(took.as_millis() as u64, Ordering::Relaxed);
        self.compute_seconds.observe(took.as_secs_f64());
    }

    /// Records model `model_id`'s prefix cache counters after a computation.
    pub fn prefix_cache(&self, model_id: u64, stats: PrefixStats) {
        self.prefix
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(model_id, stats);
    }

    /// Records that this node's commit to prompt `id` was mined now.
    pub fn committed(&self, id: U256) {
        Metrics::inc(&self.prompts_committed);
        self.committed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_insert_with(Instant::now);
    }

    /// Records that prompt `id` ended (`settled`, or refunded): for a prompt this process
    /// committed to, a settlement observes the time since the commit.
    pub fn ended(&self, id: U256, settled: bool) {
        let at = self
            .committed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(at) = at.filter(|_| settled) {
            self.commit_to_settle_seconds
                .observe(at.elapsed().as_secs_f64());
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut registry = Registry::with_prefix("aikernel_node");
        self.register_counters(&mut registry);
        self.register_gauges(&mut registry);
        let mut totals = PrefixStats::default();
        for stats in self
            .prefix
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            totals.add(stats);
        }
        prefix::register(&mut registry, &totals);
        if let Some(standing) = self.standing() {
            register_standing(&mut registry, &standing);
        }
        registry.register(
            "compute_seconds",
            "Seconds per computation (a batch of prompts counts once)",
            self.compute_seconds.clone(),
        );
        registry.register(
            "compute_batch_size",
            "Prompts computed together in one batch",
            self.compute_batch_size.clone(),
        );
        registry.register(
            "commit_to_settle_seconds",
            "Seconds from this node's commit being mined to the node seeing the prompt settled",
            self.commit_to_settle_seconds.clone(),
        );
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &registry);
        out
    }

    fn register_counters(&self, registry: &mut Registry) {
        let counters: [(&str, &str, &AtomicU64); 12] = [
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
                "prompts_declined",
                "Rounds declined: the output would not be ready before the commit deadline",
                &self.prompts_declined,
            ),
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
            (
                "tx_failures",
                "Transactions that failed (not counting the kernel's reverts)",
                &self.tx_failures,
            ),
            (
                "tx_rejected",
                "Calls the kernel rejected for good, once per prompt, round and action",
                &self.tx_rejected,
            ),
            (
                "stake_topups",
                "Stake top-ups sent (approve + addStake)",
                &self.stake_topups,
            ),
        ];
        for (name, help, value) in counters {
            let value = ConstCounter::new(value.load(Ordering::Relaxed));
            registry.register(name, help, value);
        }
    }

    fn register_gauges(&self, registry: &mut Registry) {
        registry.register(
            "tokens_per_second",
            "Generation rate over all computations",
            ConstGauge::new(self.tokens_per_second()),
        );
        let gauges: [(&str, &str, i64); 3] = [
            (
                "queue_depth",
                "Prompts waiting for the compute thread",
                self.queue_depth.load(Ordering::Relaxed) as i64,
            ),
            (
                "last_block",
                "Last block scanned",
                self.last_block.load(Ordering::Relaxed) as i64,
            ),
            (
                "chain_clock_skew_seconds",
                "Latest block timestamp minus this machine's clock at the last poll",
                self.chain_clock_skew_s.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            registry.register(name, help, ConstGauge::new(value));
        }
    }

    fn tokens_per_second(&self) -> f64 {
        let tokens = self.tokens_generated.load(Ordering::Relaxed);
        let ms = self.compute_ms.load(Ordering::Relaxed);
        if ms == 0 {
            0.0
        } else {
            tokens as f64 * 1000.0 / ms as f64
        }
    }

    /// `/health`: ok while the last poll is recent and the node is not known to be
    /// ineligible; the body (JSON) says which of the two failed.
    pub fn health(&self, now_unix: u64) -> (bool, String) {
        let following = self.following(now_unix);
        let last = self.last_poll_unix.load(Ordering::Relaxed);
        let standing = self.standing();
        let eligible = standing.as_ref().map(Standing::eligible);
        let skew = self.chain_clock_skew_s.load(Ordering::Relaxed);
        let tolerance = self.chain_clock_tolerance_s.load(Ordering::Relaxed);
        let health = Health {
            ok: following && eligible != Some(false),
            following,
            eligible,
            reason: standing
                .as_ref()
                .filter(|s| !s.eligible())
                .map(Standing::why_not),
            last_block: self.last_block.load(Ordering::Relaxed),
            seconds_since_last_poll: now_unix.saturating_sub(last),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            chain_clock_ahead_seconds: skew,
            chain_clock_ahead: last != 0 && skew > i64::try_from(tolerance).unwrap_or(i64::MAX),
        };
        // A struct of plain fields always serialises.
        let body = serde_json::to_string(&health).unwrap_or_default();
        (health.ok, body)
    }

    /// Whether the last successful poll is recent (at most 30 s old).
    pub fn following(&self, now_unix: u64) -> bool {
        let last = self.last_poll_unix.load(Ordering::Relaxed);
        last != 0 && now_unix.saturating_sub(last) <= 30
    }
}

/// The standing's gauges: eligibility, stake against target and minimum, balance, and one
/// `ineligible{reason}` series per reason code.
fn register_standing(registry: &mut Registry, s: &Standing) {
    let snap = &s.snapshot;
    registry.register(
        "eligible",
        "1 when the node is in the pools of every model it serves",
        ConstGauge::new(i64::from(s.eligible())),
    );
    let amounts = [
        ("stake_eai", "Active stake", snap.stake),
        ("stake_target_eai", "Target stake (stake_eai)", s.target),
        ("min_stake_eai", "GPUManagement.minStake", snap.min_stake),
        (
            "eai_balance",
            "EAI the node holds (for top-ups)",
            snap.balance,
        ),
    ];
    for (name, help, wei) in amounts {
        register_eai(registry, name, help, wei);
    }
    let ineligible = Family::<Vec<(String, String)>, Gauge>::default();
    for code in Reason::CODES {
        let on = s.reasons.iter().any(|r| r.code() == code);
        ineligible
            .get_or_create(&vec![("reason".to_owned(), code.to_owned())])
            .set(i64::from(on));
    }
    registry.register(
        "ineligible",
        "1 for each reason the node is not eligible",
        ineligible,
    );
}

/// An amount of EAI as a gauge: a whole number prints as one (`980`), a fraction as a float.
fn register_eai(registry: &mut Registry, name: &str, help: &str, wei: U256) {
    let text = eai_number(wei);
    match text.parse::<i64>() {
        Ok(whole) => registry.register(name, help, ConstGauge::new(whole)),
        Err(_) => registry.register(
            name,
            help,
            ConstGauge::new(text.parse().unwrap_or(f64::NAN)),
        ),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
        assert!(
            text.contains("aikernel_node_prompts_committed_total 1\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE aikernel_node_prompts_committed_total counter\n"));
        assert!(text.contains("# HELP aikernel_node_prompts_committed_total Commits mined.\n"));
        assert!(
            text.contains("aikernel_node_tokens_per_second 50.0\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE aikernel_node_queue_depth gauge"));
        assert!(
            !text.contains("aikernel_node_eligible"),
            "no standing gauges before the first check: {text}"
        );
    }

    #[test]
    fn histograms_time_computations_and_commit_to_settle() {
        let m = Metrics::default();
        m.computed(10, Duration::from_millis(1500));
        m.batched(1);
        m.batched(3);
        assert_eq!(m.tokens_generated.load(Ordering::Relaxed), 10);
        let id = U256::from(7);
        m.committed(id);
        m.ended(U256::from(8), true); // never committed here: not observed
        m.ended(id, true);
        m.ended(id, true); // once only
        m.committed(U256::from(9));
        m.ended(U256::from(9), false); // refunded: not a settlement
        let text = m.render();
        for line in [
            "# TYPE aikernel_node_compute_seconds histogram\n",
            "aikernel_node_compute_seconds_bucket{le=\"1.6\"} 1\n",
            "aikernel_node_compute_seconds_bucket{le=\"0.8\"} 0\n",
            "aikernel_node_compute_seconds_sum 1.5\n",
            "aikernel_node_compute_seconds_count 1\n",
            "# TYPE aikernel_node_compute_batch_size histogram\n",
            "aikernel_node_compute_batch_size_sum 4.0\n",
            "aikernel_node_compute_batch_size_count 2\n",
            "aikernel_node_compute_batch_size_bucket{le=\"2\"} 1\n",
            "aikernel_node_compute_batch_size_bucket{le=\"4\"} 2\n",
            "aikernel_node_commit_to_settle_seconds_count 1\n",
            "aikernel_node_commit_to_settle_seconds_bucket{le=\"1\"} 1\n",
            "aikernel_node_prompts_committed_total 2\n",
        ] {
            assert!(text.contains(line), "{line}in:\n{text}");
        }
    }

    #[test]
    fn health_turns_bad_when_polls_stop() {
        let m = Metrics::default();
        assert!(!m.health(100).0, "never polled");
        m.last_poll_unix.store(100, Ordering::Relaxed);
        assert!(m.health(110).0);
        assert!(!m.health(200).0);
    }

    fn standing(stake: u64) -> Standing {
        use crate::standing::{ModelPool, NodeStatus, Snapshot, eai_wei};
        let snapshot = Snapshot {
            node: alloy::primitives::Address::ZERO,
            status: NodeStatus::Active,
            stake: eai_wei(stake),
            unbonding: alloy::primitives::U256::ZERO,
            unbonding_end: 0,
            jailed: false,
            jailed_until: 0,
            pooled: stake >= 1000,
            pools: vec![ModelPool {
                model: 1,
                registered: true,
                in_pool: stake >= 1000,
                active: true,
            }],
            min_stake: eai_wei(1000),
            balance: alloy::primitives::U256::ZERO,
            allowance: alloy::primitives::U256::ZERO,
            now: 0,
        };
        Standing::assess(snapshot, eai_wei(1500))
    }

    #[test]
    fn an_ineligible_node_is_unhealthy_and_says_why() {
        let m = Metrics::default();
        m.last_poll_unix.store(100, Ordering::Relaxed);
        let (ok, body) = m.health(101);
        assert!(ok, "eligibility not known yet: {body}");
        assert!(body.contains("\"eligible\":null"), "{body}");
        m.set_standing(&standing(980));
        let (ok, body) = m.health(101);
        assert!(!ok);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["following"], true);
        assert_eq!(v["eligible"], false);
        assert_eq!(v["reason"], "stake 980 EAI below the minimum 1000 EAI");
        let text = m.render();
        assert!(text.contains("aikernel_node_eligible 0\n"), "{text}");
        assert!(text.contains("aikernel_node_ineligible{reason=\"below_minimum\"} 1\n"));
        assert!(text.contains("aikernel_node_ineligible{reason=\"jailed\"} 0\n"));
        assert!(text.contains("aikernel_node_stake_eai 980\n"));
        assert!(text.contains("aikernel_node_stake_target_eai 1500\n"));
        assert!(
            text.contains("# TYPE aikernel_node_ineligible gauge\n"),
            "{text}"
        );
        m.set_standing(&standing(1500));
        assert!(m.health(101).0);
        assert!(m.render().contains("aikernel_node_eligible 1\n"));
    }

    #[test]
    fn reports_the_chain_clock_skew() {
        let m = Metrics::default();
        m.last_poll_unix.store(100, Ordering::Relaxed);
        m.chain_clock_tolerance_s.store(15, Ordering::Relaxed);
        m.chain_clock_skew_s.store(120, Ordering::Relaxed);
        let (ok, body) = m.health(100);
        assert!(ok, "a skew is reported, not a failure: {body}");
        assert!(body.contains("\"chainClockAheadSeconds\":120"), "{body}");
        assert!(body.contains("\"chainClockAhead\":true"), "{body}");
        assert!(
            m.render()
                .contains("aikernel_node_chain_clock_skew_seconds 120\n")
        );
        m.chain_clock_skew_s.store(-1, Ordering::Relaxed);
        assert!(m.health(100).1.contains("\"chainClockAhead\":false"));
    }
}
