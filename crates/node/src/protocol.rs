//! The byte rules a node follows when committing and revealing (`docs/protocol.md`). The
//! hashes the kernel checks live in `aikernel_chain::protocol`; the salt is the node's own.

use alloy::primitives::{B256, U256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;

pub use aikernel_chain::protocol::{answer, commitment, prefix, request_identity, round_hash};

/// The node's salt secret: `keccak256("aikernel-salt" || private key)`. Derived, never
/// stored, so a restarted node can reveal what it committed before it died.
pub fn salt_secret(signer: &PrivateKeySigner) -> B256 {
    let mut preimage = b"aikernel-salt".to_vec();
    preimage.extend_from_slice(&signer.to_bytes()[..]);
    keccak256(&preimage)
}

/// The salt for one round of one request:
/// `keccak256(abi.encode(bytes32 secret, uint256 promptId, bytes32 identity, uint8 round))`.
/// Binding the request's identity means a prompt id reused by another request after a
/// reorg never gets the old salt.
pub fn salt(secret: B256, prompt_id: U256, identity: B256, round: u8) -> B256 {
    keccak256((secret, prompt_id, identity, U256::from(round)).abi_encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_depends_on_key_prompt_request_and_round() {
        let a = PrivateKeySigner::from_bytes(&B256::repeat_byte(1)).unwrap();
        let b = PrivateKeySigner::from_bytes(&B256::repeat_byte(2)).unwrap();
        let (sa, sb) = (salt_secret(&a), salt_secret(&b));
        assert_ne!(sa, sb);
        assert_eq!(sa, salt_secret(&a), "re-derivable after a restart");
        let id = B256::repeat_byte(9);
        let one = U256::from(1u8);
        let base = salt(sa, one, id, 0);
        assert_ne!(base, salt(sa, U256::from(2u8), id, 0));
        assert_ne!(
            base,
            salt(sa, one, B256::repeat_byte(8), 0),
            "bound to the request"
        );
        assert_ne!(base, salt(sa, one, id, 1), "bound to the round");
        let mut words = sa.to_vec();
        words.extend_from_slice(&one.to_be_bytes::<32>());
        words.extend_from_slice(id.as_slice());
        words.extend_from_slice(&U256::ZERO.to_be_bytes::<32>());
        assert_eq!(base, keccak256(&words));
    }
}
