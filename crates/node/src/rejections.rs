//! Calls the kernel rejected for good. A revert such as `InvalidReveal`, `CommitClosed` or
//! `AlreadyRevealed` cannot change while the request and the round stay the same, so the node
//! remembers it and neither re-estimates nor resends the call (nor logs or counts it again) for
//! that request and round. Only reverts that a later block can change (`SeedNotReady`,
//! `InsufficientGasForCallback`) are retried.

use std::collections::HashSet;
use std::sync::Mutex;

use alloy::primitives::{B256, U256};

/// Reverts that a later block can change: the call is retried.
pub const TRANSIENT: &[&str] = &["SeedNotReady", "InsufficientGasForCallback"];

/// What a rejection is about: the prompt, the request's identity, the round and the action.
pub type Key = (U256, B256, u8, &'static str);

/// The set of calls rejected for good.
#[derive(Debug, Default)]
pub struct Rejections {
    set: Mutex<HashSet<Key>>,
}

impl Rejections {
    /// Whether this call was already rejected for good.
    pub fn is_final(&self, key: &Key) -> bool {
        self.set.lock().is_ok_and(|s| s.contains(key))
    }

    /// Records a rejection of `revert` (the custom error's name); true when it is final and new,
    /// i.e. the one time it should be logged and counted.
    pub fn record(&self, key: Key, revert: &str) -> bool {
        if TRANSIENT.contains(&revert) {
            return false;
        }
        self.set.lock().is_ok_and(|mut s| s.insert(key))
    }

    /// Forgets everything about a finished prompt.
    pub fn forget(&self, id: U256) {
        if let Ok(mut s) = self.set.lock() {
            s.retain(|k| k.0 != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u64, round: u8, what: &'static str) -> Key {
        (U256::from(id), B256::repeat_byte(1), round, what)
    }

    #[test]
    fn a_final_revert_is_recorded_once_and_remembered() {
        let r = Rejections::default();
        let k = key(5, 0, "reveal");
        assert!(!r.is_final(&k));
        assert!(r.record(k, "InvalidReveal"), "first time: log and count");
        assert!(!r.record(k, "InvalidReveal"), "second time: silent");
        assert!(r.is_final(&k));
        // Another round, action or request is another call.
        assert!(!r.is_final(&key(5, 1, "reveal")));
        assert!(!r.is_final(&key(5, 0, "publish")));
        assert!(!r.is_final(&(U256::from(5u8), B256::repeat_byte(2), 0, "reveal")));
        r.forget(U256::from(5u8));
        assert!(!r.is_final(&k));
    }

    #[test]
    fn transient_reverts_are_retried() {
        let r = Rejections::default();
        let k = key(1, 0, "commit");
        assert!(!r.record(k, "SeedNotReady"));
        assert!(!r.record(k, "InsufficientGasForCallback"));
        assert!(!r.is_final(&k));
    }
}
