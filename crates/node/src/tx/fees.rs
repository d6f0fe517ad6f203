//! The two numbers the sender chooses: the gas limit and the EIP-1559 fees of each copy.

/// The gas limit of a transaction: the estimate times the margin, raised to `floor` when
/// that is higher. The floor is a lower bound only: the estimate is made without it, so a
/// call that needs more than the floor gets what it needs.
pub(super) fn gas_limit(estimate: u64, margin_percent: u64, floor: u64) -> u64 {
    (estimate.saturating_mul(margin_percent) / 100).max(floor)
}

/// The fees of one copy of a transaction, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fees {
    /// maxFeePerGas.
    pub(super) max_fee: u128,
    /// maxPriorityFeePerGas.
    pub(super) tip: u128,
}

/// A fee raised by the smallest step every client accepts for a replacement: geth, reth
/// and anvil want at least 10 % more (geth and reth strictly more than the old value),
/// hardhat 10 % rounded up; this takes 12.5 %, rounded up, and never less than 1 wei (so a
/// 1 wei or 0 tip still rises).
pub(super) fn bump(fee: u128) -> u128 {
    fee.saturating_add(fee.div_ceil(8).max(1))
}

/// The fees of the next copy: the `fresh` estimate, and for a replacement of `previous` at
/// least [`bump`] of each of its fees, in one step; the tip never above the max fee. `None`
/// when that max fee is above `cap`.
pub(super) fn next_fees(fresh: Fees, previous: Option<Fees>, cap: u128) -> Option<Fees> {
    let (max_fee, tip) = match previous {
        Some(previous) => (
            fresh.max_fee.max(bump(previous.max_fee)),
            fresh.tip.max(bump(previous.tip)),
        ),
        None => (fresh.max_fee, fresh.tip),
    };
    (max_fee <= cap).then_some(Fees {
        max_fee,
        tip: tip.min(max_fee),
    })
}

#[cfg(test)]
mod tests {
    use super::{Fees, bump, gas_limit, next_fees};

    const GWEI: u128 = 1_000_000_000;

    fn fees(max_fee: u128, tip: u128) -> Fees {
        Fees { max_fee, tip }
    }

    #[test]
    fn a_floor_raises_the_gas_limit_but_never_caps_it() {
        // Issue #12: a settlement needing 900k gas under a 600k floor gets its 900k + margin.
        assert_eq!(gas_limit(900_000, 130, 600_000), 1_170_000);
        assert_eq!(gas_limit(100_000, 130, 600_000), 600_000);
        assert_eq!(gas_limit(100_000, 130, 0), 130_000);
        assert_eq!(gas_limit(100_000, 100, 100_001), 100_001);
        assert_eq!(gas_limit(u64::MAX, 130, 0), u64::MAX / 100);
    }

    /// Geth's (and reth's) replacement rule: both fees strictly above the old ones and at
    /// least old x 110 / 100.
    fn geth_accepts(old: Fees, new: Fees) -> bool {
        let enough = |old: u128, new: u128| new > old && new >= old * 110 / 100;
        enough(old.max_fee, new.max_fee) && enough(old.tip, new.tip) && new.tip <= new.max_fee
    }

    #[test]
    fn bumps_are_never_rounded_away() {
        // Issue #17: 1 wei x 125 / 100 stayed 1 wei.
        assert_eq!(bump(0), 1);
        assert_eq!(bump(1), 2);
        assert_eq!(bump(7), 8);
        assert_eq!(bump(8), 9);
        assert_eq!(bump(9), 11);
        assert_eq!(bump(100), 113);
        assert_eq!(bump(GWEI), 1_125_000_000);
        assert_eq!(bump(u128::MAX), u128::MAX);
        for old in (0..2_000).chain([GWEI - 1, GWEI, 3 * GWEI + 7]) {
            let new = bump(old);
            assert!(new > old && new * 100 >= old * 110, "{old} -> {new}");
        }
    }

    #[test]
    fn a_replacement_raises_a_one_wei_tip() {
        let first = next_fees(fees(2 * GWEI, 1), None, 500 * GWEI).unwrap();
        assert_eq!(first, fees(2 * GWEI, 1));
        // The estimate has not moved: the replacement still beats the copy in the pool.
        let second = next_fees(fees(2 * GWEI, 1), Some(first), 500 * GWEI).unwrap();
        assert_eq!(second, fees(2_250_000_000, 2));
        assert!(geth_accepts(first, second));
        let third = next_fees(fees(2 * GWEI, 1), Some(second), 500 * GWEI).unwrap();
        assert_eq!(third.tip, 3);
        assert!(geth_accepts(second, third));
    }

    #[test]
    fn a_replacement_raises_a_zero_tip() {
        let first = next_fees(fees(GWEI, 0), None, 500 * GWEI).unwrap();
        let second = next_fees(fees(GWEI, 0), Some(first), 500 * GWEI).unwrap();
        assert_eq!(second, fees(1_125_000_000, 1));
        assert!(geth_accepts(first, second));
    }

    #[test]
    fn a_higher_estimate_wins_over_the_bump() {
        let previous = fees(10 * GWEI, GWEI);
        let next = next_fees(fees(40 * GWEI, 3 * GWEI), Some(previous), 500 * GWEI).unwrap();
        assert_eq!(next, fees(40 * GWEI, 3 * GWEI));
        // One fee moved, the other did not: each is raised on its own.
        let next = next_fees(fees(40 * GWEI, GWEI / 2), Some(previous), 500 * GWEI).unwrap();
        assert_eq!(next, fees(40 * GWEI, 1_125_000_000));
        assert!(geth_accepts(previous, next));
    }

    #[test]
    fn the_cap_is_never_exceeded() {
        let cap = 500 * GWEI;
        // The first copy may use the cap exactly, not a wei more.
        assert_eq!(next_fees(fees(cap, GWEI), None, cap), Some(fees(cap, GWEI)));
        assert_eq!(next_fees(fees(cap + 1, GWEI), None, cap), None);
        // A replacement that fits under the cap, and one that does not.
        let previous = fees(444 * GWEI, 2 * GWEI);
        let next = next_fees(fees(GWEI, GWEI), Some(previous), cap).unwrap();
        assert_eq!(next, fees(499_500_000_000, 2_250_000_000));
        assert!(next.max_fee <= cap && geth_accepts(previous, next));
        assert_eq!(next_fees(fees(GWEI, GWEI), Some(next), cap), None);
        assert_eq!(next_fees(fees(GWEI, GWEI), Some(fees(cap, 1)), cap), None);
        // Near the top of u128 nothing wraps.
        assert_eq!(
            next_fees(fees(1, 1), Some(fees(u128::MAX, u128::MAX)), u128::MAX),
            Some(fees(u128::MAX, u128::MAX))
        );
    }

    #[test]
    fn the_tip_never_exceeds_the_max_fee() {
        // An estimate whose tip is above its max fee (clients refuse that outright).
        assert_eq!(
            next_fees(fees(100, 150), None, 500 * GWEI),
            Some(fees(100, 100))
        );
        // A replacement of a copy whose tip equals its max fee, with such an estimate.
        let previous = fees(100, 100);
        let next = next_fees(fees(100, 10_000), Some(previous), 500 * GWEI).unwrap();
        assert_eq!(next, fees(113, 113));
        assert!(geth_accepts(previous, next));
        // Sequences of replacements stay acceptable and under the cap.
        let mut copy = next_fees(fees(3, 5), None, 10_000).unwrap();
        while let Some(next) = next_fees(fees(3, 5), Some(copy), 10_000) {
            assert!(geth_accepts(copy, next), "{copy:?} -> {next:?}");
            assert!(next.max_fee <= 10_000);
            copy = next;
        }
    }
}
