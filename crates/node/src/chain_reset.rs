//! Is the chain the node talks to still the one its checkpoint was written on? A restarted
//! devnet keeps its chain id and, redeployed by the same account, its contract addresses,
//! but starts again from block 0: a node following it from its old checkpoint would wait
//! for blocks the new chain reaches only much later, and miss everything before. The
//! checkpoint records the chain id and the genesis hash; a different chain id or genesis, a
//! head far behind the checkpoint, or recorded block hashes none of which is canonical any
//! more mean another chain, scanned again from the deployment block.

use std::fmt;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::Provider;

use crate::NodeError;
use crate::contracts::Contracts;
use crate::jobs::Checkpoint;

/// The chain as the RPC serves it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// `eth_chainId`.
    pub chain_id: u64,
    /// Hash of block 0.
    pub genesis: B256,
    /// The latest block number.
    pub head: u64,
}

/// Why the checkpoint belongs to another chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The chain id changed.
    ChainId {
        /// In the checkpoint.
        was: u64,
        /// Served now.
        now: u64,
    },
    /// The genesis block is another one.
    Genesis {
        /// In the checkpoint.
        was: B256,
        /// Served now.
        now: B256,
    },
    /// The chain's head is far behind the last block scanned.
    HeadBehind {
        /// The latest block now.
        head: u64,
        /// The last block scanned.
        checkpoint: u64,
    },
    /// None of the recorded recent block hashes is canonical any more.
    Replaced {
        /// The last block scanned.
        block: u64,
    },
}

impl fmt::Display for ResetReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResetReason::ChainId { was, now } => {
                write!(f, "the chain id changed from {was} to {now}")
            }
            ResetReason::Genesis { was, now } => write!(
                f,
                "the genesis block changed from {was} to {now} (the chain was restarted)"
            ),
            ResetReason::HeadBehind { head, checkpoint } => write!(
                f,
                "the chain's head {head} is behind the checkpoint at block {checkpoint} (the \
                 chain was restarted)"
            ),
            ResetReason::Replaced { block } => write!(
                f,
                "block {block} and every recent block recorded before it were replaced"
            ),
        }
    }
}

/// What to do with the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Same chain: carry on.
    Same,
    /// Same chain, head a little behind the checkpoint (an RPC backend that lags): wait.
    Lagging {
        /// Blocks behind.
        behind: u64,
    },
    /// Another chain: scan again from the deployment block.
    Reset(ResetReason),
}

/// Compares a checkpoint with the chain; a head up to `lag_tolerance` blocks behind the
/// checkpoint of a chain with the same genesis counts as lagging, not restarted.
pub fn diagnose(cp: &Checkpoint, seen: &Observed, lag_tolerance: u64) -> Verdict {
    if cp.chain_id != 0 && cp.chain_id != seen.chain_id {
        return Verdict::Reset(ResetReason::ChainId {
            was: cp.chain_id,
            now: seen.chain_id,
        });
    }
    if let Some(was) = cp.genesis
        && was != seen.genesis
    {
        return Verdict::Reset(ResetReason::Genesis {
            was,
            now: seen.genesis,
        });
    }
    if cp.next_block > seen.head.saturating_add(1) {
        let checkpoint = cp.next_block - 1;
        let behind = checkpoint - seen.head;
        if cp.genesis.is_some() && behind <= lag_tolerance {
            return Verdict::Lagging { behind };
        }
        return Verdict::Reset(ResetReason::HeadBehind {
            head: seen.head,
            checkpoint,
        });
    }
    Verdict::Same
}

/// A fresh checkpoint for the chain `seen`: scan from the deployment block `start`, or from
/// block 0 when the chain has not reached it (a deployment file older than the chain).
pub fn fresh(seen: &Observed, start: u64) -> Checkpoint {
    Checkpoint {
        next_block: if start <= seen.head { start } else { 0 },
        recent: std::collections::BTreeMap::new(),
        chain_id: seen.chain_id,
        genesis: Some(seen.genesis),
    }
}

/// Reads the chain id, the genesis hash and the head (`head` when already known).
pub async fn observe(c: &Contracts, head: Option<u64>) -> Result<Observed, NodeError> {
    let chain_id = c
        .provider
        .get_chain_id()
        .await
        .map_err(|e| NodeError::rpc("reading the chain id", &e))?;
    let genesis = c
        .provider
        .get_block_by_number(BlockNumberOrTag::Number(0))
        .await
        .map_err(|e| NodeError::rpc("reading the genesis block", &e))?
        .map(|b| b.header.hash)
        .ok_or_else(|| NodeError::Rpc {
            what: "reading the genesis block",
            message: "the RPC has no block 0".to_owned(),
        })?;
    let head = match head {
        Some(head) => head,
        None => c.head().await?,
    };
    Ok(Observed {
        chain_id,
        genesis,
        head,
    })
}

/// Refuses a new chain where the deployment's kernel has no code (a devnet restarted but not
/// redeployed yet): following it would wait for events that never come.
pub async fn require_kernel(c: &Contracts, reason: &ResetReason) -> Result<(), NodeError> {
    let kernel = c.kernel_address();
    let code = c
        .provider
        .get_code_at(kernel)
        .await
        .map_err(|e| NodeError::rpc("reading contract code", &e))?;
    if code.is_empty() {
        return Err(NodeError::NoKernel(format!(
            "{reason}, and the new chain has no kernel at {kernel}: deploy it again (`aikernel \
             devnet` / `aikernel deploy` with the same deployer), or restart the node with the \
             new deployment file"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(next_block: u64, genesis: Option<u8>) -> Checkpoint {
        Checkpoint {
            next_block,
            chain_id: 31337,
            genesis: genesis.map(B256::repeat_byte),
            ..Checkpoint::default()
        }
    }

    fn seen(head: u64, genesis: u8) -> Observed {
        Observed {
            chain_id: 31337,
            genesis: B256::repeat_byte(genesis),
            head,
        }
    }

    #[test]
    fn the_same_chain_carries_on() {
        assert_eq!(
            diagnose(&cp(574, Some(1)), &seen(573, 1), 12),
            Verdict::Same
        );
        assert_eq!(
            diagnose(&cp(574, Some(1)), &seen(900, 1), 12),
            Verdict::Same
        );
        // An old checkpoint without chain identity, the head past it.
        assert_eq!(diagnose(&cp(574, None), &seen(600, 1), 12), Verdict::Same);
    }

    #[test]
    fn a_restarted_chain_is_noticed() {
        // The incident: checkpoint at block 573, the new chain at block 20.
        assert_eq!(
            diagnose(&cp(574, Some(1)), &seen(20, 2), 12),
            Verdict::Reset(ResetReason::Genesis {
                was: B256::repeat_byte(1),
                now: B256::repeat_byte(2)
            })
        );
        // A checkpoint written before the genesis was recorded: the head gives it away.
        assert_eq!(
            diagnose(&cp(574, None), &seen(20, 2), 12),
            Verdict::Reset(ResetReason::HeadBehind {
                head: 20,
                checkpoint: 573
            })
        );
        // Same genesis (a chain started with a fixed timestamp), head far behind.
        assert_eq!(
            diagnose(&cp(574, Some(1)), &seen(20, 1), 12),
            Verdict::Reset(ResetReason::HeadBehind {
                head: 20,
                checkpoint: 573
            })
        );
        let mut other = cp(10, Some(1));
        other.chain_id = 1;
        assert_eq!(
            diagnose(&other, &seen(900, 1), 12),
            Verdict::Reset(ResetReason::ChainId { was: 1, now: 31337 })
        );
    }

    #[test]
    fn a_lagging_rpc_is_waited_for() {
        assert_eq!(
            diagnose(&cp(574, Some(1)), &seen(570, 1), 12),
            Verdict::Lagging { behind: 3 }
        );
    }

    #[test]
    fn a_fresh_checkpoint_starts_at_the_deployment_block_the_chain_has() {
        assert_eq!(fresh(&seen(20, 1), 5).next_block, 5);
        assert_eq!(fresh(&seen(20, 1), 573).next_block, 0);
        assert_eq!(fresh(&seen(20, 1), 5).genesis, Some(B256::repeat_byte(1)));
    }

    #[test]
    fn checkpoints_written_before_the_chain_identity_still_load() {
        let old: Checkpoint =
            serde_json::from_str(r#"{"next_block":574,"recent":{"573":"0x0101010101010101010101010101010101010101010101010101010101010101"}}"#)
                .unwrap();
        assert_eq!(old.chain_id, 0);
        assert_eq!(old.genesis, None);
        assert_eq!(old.recent.len(), 1);
    }
}
