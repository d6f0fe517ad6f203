//! Counters, gauges and the node's standing, rendered as Prometheus text and as the
//! `/health` body (served by [`crate::http`]).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::standing::{Reason, Standing, eai_number};

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

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
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
        let mut gauges = vec![
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
            (
                "chain_clock_skew_seconds",
                "Latest block timestamp minus this machine's clock at the last poll",
                self.chain_clock_skew_s.load(Ordering::Relaxed).to_string(),
            ),
        ];
        let standing = self.standing();
        if let Some(s) = &standing {
            let snap = &s.snapshot;
            gauges.extend([
                (
                    "eligible",
                    "1 when the node is in the pools of every model it serves",
                    u8::from(s.eligible()).to_string(),
                ),
                ("stake_eai", "Active stake", eai_number(snap.stake)),
                (
                    "stake_target_eai",
                    "Target stake (stake_eai)",
                    eai_number(s.target),
                ),
                (
                    "min_stake_eai",
                    "GPUManagement.minStake",
                    eai_number(snap.min_stake),
                ),
                (
                    "eai_balance",
                    "EAI the node holds (for top-ups)",
                    eai_number(snap.balance),
                ),
            ]);
        }
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP aikernel_node_{name} {help}.");
            let _ = writeln!(out, "# TYPE aikernel_node_{name} gauge");
            let _ = writeln!(out, "aikernel_node_{name} {value}");
        }
        if let Some(s) = &standing {
            let _ = writeln!(
                out,
                "# HELP aikernel_node_ineligible 1 for each reason the node is not eligible."
            );
            let _ = writeln!(out, "# TYPE aikernel_node_ineligible gauge");
            for code in Reason::CODES {
                let on = s.reasons.iter().any(|r| r.code() == code);
                let _ = writeln!(
                    out,
                    "aikernel_node_ineligible{{reason=\"{code}\"}} {}",
                    u8::from(on)
                );
            }
        }
        out
    }

    /// `/health`: ok while the last poll is recent and the node is not known to be
    /// ineligible; the body says which of the two failed.
    pub fn health(&self, now_unix: u64) -> (bool, String) {
        let following = self.following(now_unix);
        let last = self.last_poll_unix.load(Ordering::Relaxed);
        let standing = self.standing();
        let eligible = standing.as_ref().map(Standing::eligible);
        let ok = following && eligible != Some(false);
        let reason = standing
            .as_ref()
            .filter(|s| !s.eligible())
            .map(Standing::why_not);
        let skew = self.chain_clock_skew_s.load(Ordering::Relaxed);
        let tolerance = self.chain_clock_tolerance_s.load(Ordering::Relaxed);
        let body = serde_json::json!({
            "ok": ok,
            "following": following,
            "eligible": eligible,
            "reason": reason,
            "lastBlock": self.last_block.load(Ordering::Relaxed),
            "secondsSinceLastPoll": now_unix.saturating_sub(last),
            "queueDepth": self.queue_depth.load(Ordering::Relaxed),
            "chainClockAheadSeconds": skew,
            "chainClockAhead": last != 0 && skew > i64::try_from(tolerance).unwrap_or(i64::MAX),
        });
        (ok, body.to_string())
    }

    /// Whether the last successful poll is recent (at most 30 s old).
    pub fn following(&self, now_unix: u64) -> bool {
        let last = self.last_poll_unix.load(Ordering::Relaxed);
        last != 0 && now_unix.saturating_sub(last) <= 30
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
