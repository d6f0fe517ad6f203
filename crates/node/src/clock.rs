//! The chain's clock against this machine's. Commit, reveal and jail deadlines are block
//! timestamps: a chain running ahead of the wall clock closes windows early (a node that
//! computes for 20 s may find its commit window gone), so the node watches the skew and
//! warns once each time it crosses the tolerance, not on every poll.

/// A change of condition worth one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockChange {
    /// The chain's clock is now ahead of the wall clock by more than the tolerance.
    Ahead {
        /// Seconds ahead.
        skew: i64,
    },
    /// It is back within the tolerance.
    InLine {
        /// Seconds ahead (negative: behind, as the latest block is always a little old).
        skew: i64,
    },
}

/// Tracks whether the chain's clock runs ahead of the wall clock.
#[derive(Debug, Clone)]
pub struct ClockWatch {
    tolerance: i64,
    ahead: bool,
}

impl ClockWatch {
    /// Flags skews over `tolerance_s` seconds.
    pub fn new(tolerance_s: u64) -> ClockWatch {
        ClockWatch {
            tolerance: i64::try_from(tolerance_s).unwrap_or(i64::MAX),
            ahead: false,
        }
    }

    /// Records the latest block's timestamp `chain` seen at wall time `wall` (both Unix
    /// seconds); returns the skew (chain minus wall) and the change of condition, if any.
    pub fn observe(&mut self, chain: u64, wall: u64) -> (i64, Option<ClockChange>) {
        let skew = chain as i64 - wall as i64;
        let ahead = skew > self.tolerance;
        let change = match (self.ahead, ahead) {
            (false, true) => Some(ClockChange::Ahead { skew }),
            (true, false) => Some(ClockChange::InLine { skew }),
            _ => None,
        };
        self.ahead = ahead;
        (skew, change)
    }

    /// Whether the last observation was over the tolerance.
    pub fn is_ahead(&self) -> bool {
        self.ahead
    }
}

/// Logs a change of condition (a WARN when the chain runs ahead, INFO when it is back).
pub fn log_change(change: ClockChange, tolerance_s: u64) {
    match change {
        ClockChange::Ahead { skew } => tracing::warn!(
            ahead_s = skew,
            tolerance_s,
            "the chain's clock (latest block timestamp) is {skew} s ahead of this machine's: \
             commit and reveal windows close earlier than the wall clock says"
        ),
        ClockChange::InLine { skew } => tracing::info!(
            skew_s = skew,
            "the chain's clock is back within {tolerance_s} s of this machine's"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_change_of_condition_once() {
        let mut w = ClockWatch::new(15);
        // A block is always a little older than the wall clock: not ahead.
        assert_eq!(w.observe(999, 1000), (-1, None));
        assert_eq!(w.observe(1015, 1000), (15, None), "at the tolerance");
        assert_eq!(
            w.observe(1100, 1000),
            (100, Some(ClockChange::Ahead { skew: 100 }))
        );
        assert!(w.is_ahead());
        assert_eq!(w.observe(1101, 1001), (100, None), "still ahead: no repeat");
        assert_eq!(w.observe(1200, 1001), (199, None));
        assert_eq!(
            w.observe(1010, 1000),
            (10, Some(ClockChange::InLine { skew: 10 }))
        );
        assert_eq!(w.observe(1000, 1000), (0, None));
        assert!(!w.is_ahead());
    }

    #[test]
    fn a_zero_tolerance_flags_any_lead() {
        let mut w = ClockWatch::new(0);
        assert_eq!(w.observe(1000, 1000).1, None);
        assert_eq!(
            w.observe(1001, 1000).1,
            Some(ClockChange::Ahead { skew: 1 })
        );
    }
}
